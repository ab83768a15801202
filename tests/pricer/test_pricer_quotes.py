"""The price cache: ticks and bars fold in field by field, newest wins, never turned back."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from contract_months import front
from janus_common.messages import Bar, Broker, Tick
from janus_pricer.quotes import (NS, PriceKind, Quote, from_future, mark, merge_bar, merge_quotes, merge_tick,
                                 quote_from_future)

ES = front("ES").canonical  # a live contract month, whatever today is

prices = st.floats(min_value=0.01, max_value=1e6, allow_nan=False, allow_infinity=False)
maybe_price = st.one_of(st.none(), prices, st.just(math.nan))
ticks = st.builds(lambda ts, bid, ask, last, src, d: Tick(symbol="AAPL", ts=ts, bid=bid, ask=ask,
                                                          last=last, source=src, delayed=d),
                  st.integers(1, 10**6), maybe_price, maybe_price, maybe_price,
                  st.sampled_from(list(Broker)), st.booleans())


def _fold(items):
    quote = None
    for t in items:
        quote = merge_tick(quote, t)
    return quote


def _expected(items, field):
    best = None
    for t in items:  # the newest usable value; among equals the one applied last
        v = getattr(t, field)
        if v is not None and not math.isnan(v) and (best is None or t.ts >= best[0]):
            best = (t.ts, v)
    return best


@given(st.lists(ticks, min_size=1, max_size=30))
def test_each_field_is_the_newest_usable_one(items):
    quote = _fold(items)
    for field in ("last", "bid", "ask"):
        best = _expected(items, field)
        if best is None:
            assert getattr(quote, field) is None
        else:
            assert (getattr(quote, f"{field}_ts"), getattr(quote, field)) == best


@given(st.lists(ticks, min_size=1, max_size=20, unique_by=lambda t: t.ts), st.randoms())
def test_order_does_not_matter_when_times_differ(items, rnd):
    shuffled = list(items)
    rnd.shuffle(shuffled)
    a, b = _fold(items), _fold(shuffled)
    for field in ("last", "bid", "ask", "last_ts", "bid_ts", "ask_ts"):
        assert getattr(a, field) == getattr(b, field)


@given(st.lists(prices, min_size=1, max_size=50))
def test_a_burst_within_one_clock_tick_ends_on_the_last_price(burst):
    quote = _fold(Tick(symbol="AAPL", ts=5, last=p) for p in burst)
    assert quote.last == burst[-1]


@given(st.lists(ticks, min_size=2, max_size=30, unique_by=lambda t: t.ts), st.data())
def test_restoring_from_kv_then_replaying_market_equals_one_fold(items, data):
    cut = data.draw(st.integers(1, len(items) - 1))
    restored = merge_quotes(_fold(items[:cut]), _fold(items[cut:]))
    together = _fold(items)
    for field in ("last", "bid", "ask", "last_ts", "bid_ts", "ask_ts", "ts", "source", "delayed"):
        assert getattr(restored, field) == getattr(together, field), field


def test_bar_close_is_timed_at_the_bar_end_and_used_without_last_or_quotes():
    bar = Bar(symbol=ES, ts=100 * NS, interval_s=5, open=1, high=2, low=0.5, close=1.5)
    quote = merge_bar(None, bar)
    assert quote.close == 1.5 and quote.close_ts == 105 * NS
    m = mark(quote, 106 * NS, 60 * NS)
    assert m.kind == PriceKind.BAR_CLOSE and m.price == 1.5 and not m.stale
    older = Bar(symbol=ES, ts=50 * NS, open=1, high=2, low=0.5, close=9.0)
    assert merge_bar(quote, older).close == 1.5


def test_mark_prefers_fresh_last_then_mid_then_close():
    now, bound = 1000 * NS, 10 * NS
    q = Quote(symbol="X", source=Broker.IB, last=10.0, last_ts=now, bid=9.0, bid_ts=now, ask=11.5,
              ask_ts=now, close=8.0, close_ts=now)
    assert mark(q, now, bound).kind == PriceKind.LAST
    stale_last = Quote(symbol="X", source=Broker.IB, last=10.0, last_ts=now - 100 * NS, bid=9.0,
                       bid_ts=now, ask=11.0, ask_ts=now)
    m = mark(stale_last, now, bound)
    assert (m.kind, m.price, m.stale) == (PriceKind.MID, 10.0, False)
    all_stale = Quote(symbol="X", source=Broker.WEBULL, delayed=True, last=10.0,
                      last_ts=now - 300 * NS, close=12.0, close_ts=now - 200 * NS)
    m = mark(all_stale, now, bound)
    assert (m.kind, m.price, m.stale, m.source, m.delayed) == \
        (PriceKind.BAR_CLOSE, 12.0, True, Broker.WEBULL, True)
    assert mark(None, now, bound) is None
    assert mark(Quote(symbol="X", source=Broker.IB, bid=1.0, bid_ts=now), now, bound) is None


def test_provenance_follows_the_newest_update():
    q = merge_tick(None, Tick(symbol="AAPL", ts=10, last=1.0, source=Broker.IB))
    q = merge_tick(q, Tick(symbol="AAPL", ts=20, bid=2.0, source=Broker.WEBULL, delayed=True))
    assert (q.source, q.delayed, q.ts) == (Broker.WEBULL, True, 20)
    q = merge_tick(q, Tick(symbol="AAPL", ts=5, last=9.0, source=Broker.IB))  # old: ignored
    assert (q.source, q.last, q.ts) == (Broker.WEBULL, 1.0, 20)


@settings(max_examples=1000, deadline=None)
@given(ahead=st.integers(-10**12, 10**12), skew=st.integers(0, 10 * NS))
def test_a_tick_is_from_the_future_exactly_beyond_the_skew(ahead, skew):
    now = 1_800_000_000 * NS
    tick = Tick(symbol="AAPL", ts=now + ahead, last=1.0)
    assert from_future(tick, now, skew) == (ahead > skew)
    cached = merge_tick(None, tick)
    assert quote_from_future(cached, now, skew) == (ahead > skew)
