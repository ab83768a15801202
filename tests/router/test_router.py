"""The router on real NATS/JetStream with a registry peer: every reason code, the SELL/SHORT
rules with in-flight orders, idempotency, cancels, and bad input."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from contract_months import front
from janus_common import bus, subjects
from janus_common import messages as m

pytestmark = pytest.mark.integration


def intent(account="ib-1", symbol="AAPL", side=m.Side.BUY, order_type=m.OrderType.MARKET, qty=1.0, **kw):
    return m.OrderIntent(account=account, symbol=symbol, side=side, order_type=order_type, qty=qty, **kw)


async def position(h, account, symbol, qty, broker=m.Broker.IB):
    await bus.publish(h.js, subjects.evt_position(account), m.PositionSnapshot(
        account=account, broker=broker,
        positions=[m.Position(symbol=symbol, asset_class="EQUITY", qty=qty, avg_cost=100.0)]))


async def test_buy_is_routed_with_its_decision_and_broker_order(harness):
    i = intent(order_type=m.OrderType.LIMIT, limit_price=150.0, tif=m.Tif.GTC)
    await harness.send(i)
    routed = await harness.outcome(i.intent_id)
    assert isinstance(routed, m.OrderRouted)
    assert routed.decision.effect is m.PositionEffect.OPEN_LONG and routed.broker is m.Broker.IB
    subject, order = await harness.next_route()
    assert subject == "janus.route.ib.ib-1"
    assert (order.intent_id, order.side, order.order_type, order.qty, order.limit_price, order.tif) == (
        i.intent_id, m.BrokerSide.BUY, m.OrderType.LIMIT, 1.0, 150.0, m.Tif.GTC)
    assert order.ib.con_id == 265598


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: intent(qty=0.0), m.RejectReason.INVALID_QTY),
        (lambda: intent(order_type=m.OrderType.LIMIT), m.RejectReason.MISSING_LIMIT_PRICE),
        (lambda: intent(order_type=m.OrderType.STOP), m.RejectReason.MISSING_STOP_PRICE),
        (lambda: intent(order_type=m.OrderType.LIMIT, limit_price=-1.0), m.RejectReason.INVALID_PRICE),
        (lambda: intent(symbol="NOPE"), m.RejectReason.UNKNOWN_SYMBOL),
        (lambda: intent(symbol="DUAL"), m.RejectReason.AMBIGUOUS_SYMBOL),
        (lambda: intent(symbol="not a symbol!"), m.RejectReason.INVALID_SYMBOL),
        (lambda: intent(account="ib-2", side=m.Side.SELL), m.RejectReason.SHORT_NOT_ALLOWED),
        (lambda: intent(account="ib-loc", side=m.Side.SELL), m.RejectReason.LOCATE_REQUIRED),
        (lambda: intent(account="ib-narrow", order_type=m.OrderType.STOP, stop_price=10.0),
         m.RejectReason.ORDER_TYPE_UNSUPPORTED),
        (lambda: intent(account="wb-1", tif=m.Tif.IOC), m.RejectReason.TIF_UNSUPPORTED),
        (lambda: intent(account="nobody"), m.RejectReason.UNKNOWN_ACCOUNT),
    ],
)
async def test_every_reason_code(harness, make, reason):
    i = make()
    await harness.send(i)
    outcome = await harness.outcome(i.intent_id)
    assert isinstance(outcome, m.OrderRejected), outcome
    assert outcome.reason is reason and outcome.message and outcome.intent == i
    assert harness.routes.empty()


async def test_locate_reference_lets_the_short_through(harness):
    i = intent(account="ib-loc", side=m.Side.SELL, locate_ref="LOC-42")
    await harness.send(i)
    routed = await harness.outcome(i.intent_id)
    assert isinstance(routed, m.OrderRouted) and routed.decision.effect is m.PositionEffect.OPEN_SHORT


async def test_account_mismatch_between_subject_and_intent(harness):
    i = intent(account="ib-1")
    await harness.send(i, subject_account="ib-2")
    outcome = await harness.outcome(i.intent_id)
    assert outcome.reason is m.RejectReason.ACCOUNT_MISMATCH and outcome.account == "ib-2"


async def test_undecodable_intents_are_rejected_when_their_account_is_readable(harness):
    await harness.js.publish(subjects.intent("ib-1"), b"\x93garbage")
    bad_tif = msgspec.msgpack.encode({"kind": "OrderIntent", "intent_id": "tif-1", "account": "ib-1",
                                      "symbol": "AAPL", "side": "BUY", "type": "MARKET", "qty": 1, "tif": "SOMEDAY"})
    await harness.js.publish(subjects.intent("ib-1"), bad_tif)
    good = intent()
    await harness.send(good)
    first = await harness.next_event()
    assert isinstance(first, m.OrderRejected) and first.reason is m.RejectReason.MALFORMED and first.intent_id is None
    second = await harness.next_event()
    assert second.reason is m.RejectReason.UNKNOWN_TIF and second.intent_id == "tif-1"
    third = await harness.outcome(good.intent_id)
    assert isinstance(third, m.OrderRouted)  # the consumer kept going

    # Kept once on DEADLETTER, by the account's own consumer (the catch-all for unknown
    # accounts leaves known accounts' messages alone): wait until it has seen all three.
    while (info := await harness.js.consumer_info("INTENTS", "router-unknown-accounts")).num_pending \
            or info.num_ack_pending:
        await asyncio.sleep(0.05)  # polling the consumer's own counters: the condition itself
    letters = await bus.stored(harness.js, "DEADLETTER", subjects.ALL_DLQ, timeout=5)
    assert [m.DEAD_LETTERS.decode(r.data).consumer for r in letters] == ["router-ib-1", "router-ib-1"]


async def test_two_quick_sells_cannot_both_close_one_long(harness):
    await position(harness, "ib-2", "AAPL", 10.0)
    first, second = intent(account="ib-2", side=m.Side.SELL, qty=10.0), intent(account="ib-2", side=m.Side.SELL, qty=10.0)
    await harness.send(first)
    await harness.send(second)
    a = await harness.outcome(first.intent_id)
    b = await harness.outcome(second.intent_id)
    assert isinstance(a, m.OrderRouted) and a.decision.effect is m.PositionEffect.CLOSE_LONG
    assert isinstance(b, m.OrderRejected) and b.reason is m.RejectReason.SHORT_NOT_ALLOWED
    assert "working sells 10" in b.message


async def test_webull_sell_crossing_zero_becomes_close_and_short(harness):
    await position(harness, "wb-1", "AAPL", 5.0, broker=m.Broker.WEBULL)
    i = intent(account="wb-1", side=m.Side.SELL, qty=8.0, order_type=m.OrderType.LIMIT, limit_price=100.0)
    await harness.send(i)
    routed = await harness.outcome(i.intent_id)
    assert routed.decision.effect is m.PositionEffect.CLOSE_LONG_OPEN_SHORT
    legs = [await harness.next_route(), await harness.next_route()]
    assert [(o.leg, o.side, o.qty, o.order_key) for _, o in legs] == [
        (0, m.BrokerSide.SELL, 5.0, i.intent_id), (1, m.BrokerSide.SHORT, 3.0, f"{i.intent_id}#1")]
    assert all(s == "janus.route.webull.wb-1" for s, _ in legs)


async def test_a_repeated_intent_id_never_makes_a_second_order(harness):
    i = intent()
    await harness.send(i, msg_id=None)  # no Nats-Msg-Id: the stream keeps both copies
    await harness.send(i, msg_id=None)
    marker = intent()
    await harness.send(marker)
    assert isinstance(await harness.outcome(i.intent_id), m.OrderRouted)
    await harness.outcome(marker.intent_id)
    routes = []
    while not harness.routes.empty():
        routes.append(harness.routes.get_nowait()[1])
    assert [r.intent_id for r in routes].count(i.intent_id) == 1
    # The same id reused for a different order is refused, and still no second order.
    reused = msgspec.structs.replace(i, qty=99.0)
    await harness.send(reused, msg_id="reuse")
    refused = await harness.outcome(i.intent_id)
    assert refused.reason is m.RejectReason.DUPLICATE_INTENT


async def test_cancels(harness):
    live = intent(order_type=m.OrderType.LIMIT, limit_price=1.0)
    await harness.send(live)
    await harness.outcome(live.intent_id)
    await harness.next_route()
    cancel = m.CancelIntent(intent_id=live.intent_id, account="ib-1")
    await harness.send(cancel)
    routed = await harness.outcome(live.intent_id)
    assert isinstance(routed, m.CancelRouted) and routed.cancel_id == cancel.cancel_id
    subject, command = await harness.next_route()
    assert isinstance(command, m.CancelOrder) and command.intent_id == live.intent_id

    unknown = m.CancelIntent(intent_id="no-such-intent", account="ib-1")
    await harness.send(unknown)
    refused = await harness.outcome("no-such-intent")
    assert refused.reason is m.RejectReason.UNKNOWN_INTENT and refused.cancel_id == unknown.cancel_id

    dead = intent(qty=0.0)
    await harness.send(dead)
    await harness.outcome(dead.intent_id)
    late = m.CancelIntent(intent_id=dead.intent_id, account="ib-1")
    await harness.send(late)
    finished = await harness.outcome(dead.intent_id)
    assert finished.reason is m.RejectReason.ORDER_FINISHED


async def test_registry_unavailable_is_a_clear_rejection_and_the_router_recovers(harness):
    await harness.registry_service.stop()
    i = intent(symbol=front("ES").canonical)
    await harness.send(i)
    refused = await harness.outcome(i.intent_id, timeout=15)
    assert refused.reason is m.RejectReason.REGISTRY_UNAVAILABLE
