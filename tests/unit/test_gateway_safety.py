"""The gateway kernel's safety rules, pure: the poison quarantine and stale routes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from janus_common import messages as m
from janus_gateway import safety
from janus_gateway.adapter import BrokerUnavailable, PlaceFailed

kinds = st.sampled_from([safety.NO_ANSWER, "ValueError", "OverflowError", "KeyError"])


def model(failures: list[str]) -> bool:
    """Independent statement of the rule: stop once some way of failing happened twice, or
    after three failures whatever they were."""
    seen: set[str] = set()
    for n, kind in enumerate(failures, start=1):
        if kind in seen or n >= 3:
            return True
        seen.add(kind)
    return False


@settings(max_examples=1000)
@given(st.lists(kinds, max_size=8))
def test_quarantine_matches_the_model(failures):
    assert safety.quarantine(failures) is model(failures)


@settings(max_examples=300)
@given(st.lists(kinds, max_size=8))
def test_an_order_is_never_tried_more_than_three_times(failures):
    # Walk the failures one try at a time, as the route desk does: it stops at the first "yes".
    tried = 0
    for n in range(1, len(failures) + 1):
        tried = n
        if safety.quarantine(failures[:n]):
            break
    assert tried <= 3
    if len(failures) >= 2 and failures[0] == failures[1]:
        assert tried <= 2  # the same way twice: at most two tries


def test_no_failure_is_no_quarantine_and_kinds_are_named():
    assert safety.quarantine([]) is False
    assert safety.failure_kind(PlaceFailed("dropped")) == safety.NO_ANSWER
    assert safety.failure_kind(OverflowError("inf")) == "OverflowError"
    assert safety.failure_kind(BrokerUnavailable("down")) == "BrokerUnavailable"


@given(st.integers(0, 10**12), st.integers(-10**12, 10**12), st.floats(0.001, 1e5))
def test_stale_is_older_than_the_max_age_and_never_when_disabled(sent, delta, max_age):
    now = sent + delta
    assert safety.is_stale(sent, now, max_age) is (delta > max_age * 1e9)
    assert safety.is_stale(sent, now, 0) is False


def test_a_route_naming_another_account_or_broker_is_misaddressed():
    place = m.PlaceOrder(intent_id="i", account="ib-1", broker=m.Broker.IB, symbol="AAPL", side=m.BrokerSide.BUY,
                         order_type=m.OrderType.MARKET, qty=1.0)
    cancel = m.CancelOrder(intent_id="i", account="ib-1", broker=m.Broker.IB)
    for command in (place, cancel):
        assert safety.misaddressed(command, "ib-1", m.Broker.IB) is None
        reason, text = safety.misaddressed(command, "ib-2", m.Broker.IB)
        assert reason is m.RejectReason.ACCOUNT_MISMATCH and "ib-1" in text and "ib-2" in text
        reason, _ = safety.misaddressed(command, "ib-1", m.Broker.WEBULL)
        assert reason is m.RejectReason.BROKER_MISMATCH
        reason, _ = safety.misaddressed(command, "wb-1", m.Broker.WEBULL)  # both: the account first
        assert reason is m.RejectReason.ACCOUNT_MISMATCH


def test_the_kernel_refuses_what_the_brokers_table_says_it_cannot_take():
    from janus_common.capabilities import CAPABILITIES
    from janus_common.messages import BrokerSide, OrderType, PlaceOrder, Tif

    for broker, caps in CAPABILITIES.items():
        for kind in OrderType:
            for tif in Tif:
                order = PlaceOrder(intent_id="i", account="a", broker=broker, symbol="AAPL", side=BrokerSide.BUY,
                                   order_type=kind, qty=1.0, tif=tif)
                found = safety.unsupported(order, broker)
                if kind not in caps.order_types:
                    assert found is not None and found[0] is m.RejectReason.ORDER_TYPE_UNSUPPORTED
                elif tif not in caps.tifs:
                    assert found is not None and found[0] is m.RejectReason.TIF_UNSUPPORTED
                else:
                    assert found is None
