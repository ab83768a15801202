"""STALE: an intent older than max_intent_age_s, counted from the earlier of the client's stamp
and the stream's, is refused with its figures — checked against an independent model."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from janus_common import messages as m
from janus_router.freshness import check_fresh

NS = 10**9
NOW = 1_800_000_000 * NS


@settings(max_examples=1000, deadline=None)
@given(sent_ago=st.integers(-10 * NS, 600 * NS), stored_ago=st.one_of(st.none(), st.integers(-10 * NS, 600 * NS)),
       max_age=st.floats(0.001, 300.0))
def test_stale_exactly_when_the_oldest_stamp_is_older_than_the_bound(sent_ago, stored_ago, max_age):
    intent = m.OrderIntent(account="ib-1", symbol="AAPL", side=m.Side.BUY, order_type=m.OrderType.MARKET, qty=1,
                           ts=NOW - sent_ago)
    stored = None if stored_ago is None else NOW - stored_ago
    got = check_fresh(intent, stored, NOW, max_age)
    oldest_ago = sent_ago if stored_ago is None else max(sent_ago, stored_ago)
    if oldest_ago / NS > max_age:
        assert got is not None and got.reason is m.RejectReason.STALE
        assert got.message.startswith(f"intent is {oldest_ago / NS:.3f} s old")
        assert f"up to {max_age:g} s old" in got.message
    else:
        assert got is None
