"""The console's pure parts: the model folded from events (working orders, trading states,
positions before any valuation, the event filters) and the checks in front of its buttons."""

from __future__ import annotations

import pytest

from janus_common import messages as m
from janus_common.messages.orders import PositionDecision
from janus_common.symbols import AssetClass
from janus_web.actions import ConsoleError, check_account, check_id, check_text, outcome
from janus_web.hub import Hub, sse
from janus_web.model import Console

ACCOUNTS = {"ib-1": m.Broker.IB, "wb-1": m.Broker.WEBULL}


def _routed(intent_id: str, qty: float = 5) -> m.OrderRouted:
    intent = m.OrderIntent(intent_id=intent_id, account="ib-1", symbol="MSFT", side=m.Side.BUY,
                           order_type=m.OrderType.LIMIT, qty=qty, limit_price=390.0)
    place = m.PlaceOrder(intent_id=intent_id, account="ib-1", broker=m.Broker.IB, symbol="MSFT",
                         side=m.BrokerSide.BUY, order_type=m.OrderType.LIMIT, qty=qty, limit_price=390.0)
    decision = PositionDecision(broker_position=0.0, in_flight=0.0, projected_position=qty, allow_short=True,
                                locate_required=False, effect=m.PositionEffect.OPEN_LONG)
    return m.OrderRouted(account="ib-1", intent_id=intent_id, intent=intent, broker=m.Broker.IB,
                         decision=decision, orders=[place])


def test_working_orders_trading_state_and_positions_follow_the_events():
    console = Console(accounts=ACCOUNTS)
    console.apply_event(1, _routed("a1"))
    console.apply_event(2, m.OrderFilled(account="ib-1", intent_id="a1", broker=m.Broker.IB, leg=0, fill_id="f1",
                                         symbol="MSFT", side=m.BrokerSide.BUY, qty=2, price=389.0))
    console.apply_event(3, m.TradingStateChanged(account="ib-1", request_id="r1", state=m.TradingState.HALTED,
                                                 previous=m.TradingState.ACTIVE, reason="why", requested_by="me"))
    assert console.apply_event(3, _routed("dup")) is None  # a sequence seen before is not folded twice
    state = console.state(now_ns=0)
    [order] = state["orders"]
    assert (order["intent_id"], order["filled"], order["type"], order["limit_price"]) == ("a1", 2, "LIMIT", 390.0)
    ib1 = next(a for a in state["accounts"] if a["account"] == "ib-1")
    assert ib1["trading"] == {"state": "HALTED", "reason": "why", "by": "me"}
    [pos] = ib1["positions"]  # the fill, before any snapshot or valuation
    assert pos["qty"] == 2 and pos["valued"] == "PENDING" and "unvalued" in pos["flags"]
    wb1 = next(a for a in state["accounts"] if a["account"] == "wb-1")
    assert wb1["positions"] == [] and wb1["trading"]["state"] == "ACTIVE"  # configured, no events yet

    console.apply_event(4, m.PositionSnapshot(account="ib-1", broker=m.Broker.IB, positions=[
        m.Position(symbol="MSFT", asset_class=AssetClass.EQUITY, qty=2, avg_cost=389.0)]))
    assert console.fills == {}  # the snapshot reports the fill now
    console.apply_event(5, m.OrderCancelled(account="ib-1", intent_id="a1", broker=m.Broker.IB, leg=0, filled=2))
    assert console.state(now_ns=0)["orders"] == []
    assert [e["kind"] for e in console.events_matching(kind="cancel")] == ["OrderCancelled"]
    assert [e["seq"] for e in console.events_matching(account="ib-1", intent_id="a1")] == [1, 2, 5]
    assert console.events_matching(account="wb-1") == []


def test_a_newer_valuation_wins_and_an_older_one_is_ignored():
    console = Console(accounts=ACCOUNTS)
    new = m.AccountValuation(account="wb-1", broker=m.Broker.WEBULL, ts=10, positions=[])
    assert console.apply_valuation(new)
    assert not console.apply_valuation(m.AccountValuation(account="wb-1", broker=m.Broker.WEBULL, ts=5, positions=[]))
    assert console.valuations["wb-1"] is new


@pytest.mark.parametrize("call, reason, status", [
    (lambda: check_account("nope", ACCOUNTS), "UNKNOWN_ACCOUNT", 404),
    (lambda: check_account("../etc", ACCOUNTS), "MALFORMED_ACCOUNT", 400),
    (lambda: check_account(None, ACCOUNTS), "MALFORMED_ACCOUNT", 400),
    (lambda: check_id("a" * 65), "MALFORMED_ID", 400),
    (lambda: check_id("a b"), "MALFORMED_ID", 400),
    (lambda: check_id(7), "MALFORMED_ID", 400),
    (lambda: check_text("x" * 3000, "reason"), "MALFORMED_TEXT", 400),
])
def test_bad_input_is_a_typed_refusal(call, reason, status):
    with pytest.raises(ConsoleError) as refused:
        call()
    assert (refused.value.reason, refused.value.status) == (reason, status)
    assert refused.value.json()["error"] == reason


def test_good_input_passes_and_outcomes_say_whether_refused():
    assert check_account("ib-1", ACCOUNTS) == "ib-1" and check_id("abc_DEF-1") == "abc_DEF-1"
    assert check_text(None, "reason") == ""
    rejected = m.OrderRejected(account="ib-1", intent_id="x", reason=m.RejectReason.ACCOUNT_HALTED, message="halted")
    assert outcome(rejected)["refused"] and outcome(rejected)["reason"] == "ACCOUNT_HALTED"


def test_a_browser_that_cannot_keep_up_is_dropped_not_buffered_forever():
    hub = Hub()
    slow, fast = hub.join(), hub.join()
    for i in range(1_000):
        hub.send("event", {"i": i})
    fast.get_nowait()
    hub.send("event", {"i": "one too many"})  # slow's queue is full: dropped, with the end marker
    assert hub.browsers == 1 and slow.get_nowait() is None
    assert sse("state", {"a": 1}) == b'event: state\ndata: {"a":1}\n\n'
