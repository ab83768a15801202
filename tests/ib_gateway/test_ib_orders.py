"""The IB gateway against the IB simulator through unmodified ib_async, on real JetStream."""

from __future__ import annotations


import pytest
from ibgw_helpers import ES, ES_MONTH, new_id, place, route

from janus_common import bus, subjects
from janus_common import messages as m
from janus_common.streams import EVENTS_STREAM, ROUTES_STREAM

pytestmark = pytest.mark.integration


def status(intent, state):
    return lambda e: e.intent_id == intent and e.status is state


async def test_each_order_type_end_to_end(gateway, js, events, sim):
    sim.set_price("AAPL", 190.00)
    mkt, lmt, stp, stp_lmt = new_id(), new_id(), new_id(), new_id()
    await route(js, place(mkt))
    await route(js, place(lmt, order_type=m.OrderType.LIMIT, limit_price=185.00, tif=m.Tif.GTC))
    await route(js, place(stp, order_type=m.OrderType.STOP, stop_price=195.00))
    await route(js, place(stp_lmt, side=m.BrokerSide.SELL, order_type=m.OrderType.STOP_LIMIT, stop_price=186.00,
                          limit_price=185.50))

    submitted = await events.next(m.OrderSubmitted, where=lambda e: e.intent_id == mkt)
    assert submitted.perm_id and submitted.broker_order_id
    await events.next(m.OrderStatusChanged, where=status(mkt, m.OrderState.FILLED))
    fill = await events.next(m.OrderFilled, where=lambda e: e.intent_id == mkt)
    assert fill.commission and fill.commission > 0 and fill.symbol == "AAPL" and fill.side is m.BrokerSide.BUY

    await events.next(m.OrderStatusChanged, where=status(lmt, m.OrderState.SUBMITTED))
    await events.next(m.OrderStatusChanged, where=status(stp, m.OrderState.PRE_SUBMITTED))
    await events.next(m.OrderStatusChanged, where=status(stp_lmt, m.OrderState.PRE_SUBMITTED))

    sim.set_price("AAPL", 195.50)  # buy stop touched
    await events.next(m.OrderStatusChanged, where=status(stp, m.OrderState.FILLED))
    sim.set_price("AAPL", 184.00)  # limit buy marketable, sell stop-limit triggered
    await events.next(m.OrderStatusChanged, where=status(lmt, m.OrderState.FILLED))
    sim.set_price("AAPL", 185.80)  # the stop-limit's limit (185.50) is marketable again
    await events.next(m.OrderStatusChanged, where=status(stp_lmt, m.OrderState.FILLED), timeout=15)


async def test_partial_fills_each_published_once(gateway, js, events, sim):
    intent = new_id()
    await route(js, place(intent, symbol=ES_MONTH.canonical, ib=ES, qty=30.0))
    fills = []
    while sum(f.qty for f in fills) < 30:
        fills.append(await events.next(m.OrderFilled, where=lambda e: e.intent_id == intent))
    assert len(fills) > 1 and len({f.fill_id for f in fills}) == len(fills)
    await events.next(m.OrderStatusChanged, where=status(intent, m.OrderState.FILLED))
    statuses = [e for e in events.drain() if isinstance(e, m.OrderStatusChanged) and e.intent_id == intent]
    assert [e.filled for e in statuses] == sorted(e.filled for e in statuses)  # never backwards
    assert all(e.filled <= 30 for e in statuses)


async def test_cancel_and_broker_rejections(gateway, js, events, sim):
    resting = new_id()
    await route(js, place(resting, order_type=m.OrderType.LIMIT, limit_price=100.00))
    await events.next(m.OrderStatusChanged, where=status(resting, m.OrderState.SUBMITTED))
    await route(js, m.CancelOrder(intent_id=resting, account="ib-1", broker=m.Broker.IB))
    cancelled = await events.next(m.OrderCancelled, where=lambda e: e.intent_id == resting)
    assert cancelled.filled == 0

    off_tick = new_id()
    await route(js, place(off_tick, order_type=m.OrderType.LIMIT, limit_price=100.001))
    rejected = await events.next(m.OrderBrokerRejected, where=lambda e: e.intent_id == off_tick)
    assert rejected.code == "110" and "price" in rejected.text

    sim.hold_next_short_for_locate()
    short = new_id()
    await route(js, place(short, side=m.BrokerSide.SELL, qty=500.0, order_type=m.OrderType.LIMIT, limit_price=500.00))
    held = await events.next(m.OrderHeld, where=lambda e: e.intent_id == short)
    assert held.code == "404"
    marker = new_id()
    await route(js, place(marker))
    await events.next(m.OrderStatusChanged, where=status(marker, m.OrderState.FILLED))
    seen = [e for e in events.drain() if getattr(e, "intent_id", None) == short]
    assert not any(isinstance(e, m.OrderBrokerRejected) for e in seen)  # held is not rejected


async def test_duplicate_order_status_makes_no_duplicate_event(gateway, js, events, sim):
    intent = new_id()
    await route(js, place(intent, order_type=m.OrderType.LIMIT, limit_price=150.00))
    first = await events.next(m.OrderStatusChanged, where=status(intent, m.OrderState.SUBMITTED))
    [order] = [o for o in sim.orders.values() if o.order_ref == intent]
    sim.duplicate_status(order.perm_id)
    sim.duplicate_status(order.perm_id)
    marker = new_id()
    await route(js, place(marker))
    await events.next(m.OrderStatusChanged, where=status(marker, m.OrderState.FILLED))
    statuses = [e for e in events.drain() if isinstance(e, m.OrderStatusChanged) and e.intent_id == intent]
    assert statuses == [first]


async def test_malformed_route_message_is_dead_lettered_and_the_consumer_continues(gateway, js, events):
    await js.publish(subjects.route("ib", "ib-1"), b"\x00 not a route message")
    intent = new_id()
    await route(js, place(intent))
    await events.next(m.OrderStatusChanged, where=status(intent, m.OrderState.FILLED))
    sub = await js.pull_subscribe(subjects.ALL_DLQ, durable="dlq-check", stream="DEADLETTER")
    [dead] = await sub.fetch(1, timeout=5)
    letter = m.DEAD_LETTERS.decode(dead.data)
    assert letter.consumer == "ib-gateway-ib-1" and letter.error == "MessageDecodeError"


async def test_positions_and_account_values_after_fills(gateway, js, events):
    intent = new_id()
    await route(js, place(intent, qty=25.0))
    snapshot = await events.next(m.PositionSnapshot, where=lambda e: any(
        p.symbol == "AAPL" and p.qty == 25 for p in e.positions), timeout=15)
    [aapl] = [p for p in snapshot.positions if p.symbol == "AAPL"]
    assert aapl.asset_class == "EQUITY" and aapl.avg_cost > 0 and aapl.con_id == 265598
    values = await events.next(m.AccountValues, timeout=15)
    assert values.net_liquidation and values.cash


async def test_a_fill_whose_commission_report_never_comes_is_still_published_once(gateway, js, events, sim):
    sim.withhold_commission_reports(1)
    late, normal = new_id(), new_id()
    await route(js, place(late))
    await events.next(m.OrderStatusChanged, where=status(late, m.OrderState.FILLED))
    fill = await events.next(m.OrderFilled, where=lambda e: e.intent_id == late, timeout=15)
    assert fill.qty == 10 and fill.commission is None and fill.commission_currency is None  # after the grace
    await route(js, place(normal))  # the next fill has its report again: published with it
    assert (await events.next(m.OrderFilled, where=lambda e: e.intent_id == normal)).commission > 0
    assert len([e for e in events.drain() if isinstance(e, m.OrderFilled) and e.intent_id == late]) == 1


async def test_a_route_naming_another_account_or_broker_is_refused_and_touches_nothing(gateway, js, events, sim):
    """On ib-1's route subject: a place for ib-2, a place for webull, and a cancel for ib-2 naming
    ib-1's own working order. Nothing reaches the simulator, ib-1's order keeps working, each
    refusal is stored on ib-1's subject, every message is acked, and a correct route then fills."""
    working = new_id()
    await route(js, place(working, order_type=m.OrderType.LIMIT, limit_price=100.00, tif=m.Tif.GTC))
    await events.next(m.OrderStatusChanged, where=status(working, m.OrderState.SUBMITTED))

    other_account, other_broker = new_id(), new_id()
    await route(js, place(other_account, account="ib-2"))
    await route(js, place(other_broker, broker=m.Broker.WEBULL))
    # The same intent id, ib-2's own order (its own msg-id: intent ids are scoped by account).
    await bus.publish(js, subjects.route("ib", "ib-1"), place(working, account="ib-2"), msg_id=f"ib-2:{working}")
    foreign_cancel = m.CancelOrder(intent_id=working, account="ib-2", broker=m.Broker.IB)
    await route(js, foreign_cancel)
    refusals = [await events.next(m.RouteRefused) for _ in range(4)]

    marker = new_id()
    await route(js, place(marker))
    await events.next(m.OrderStatusChanged, where=status(marker, m.OrderState.FILLED))

    by_what = {(r.named_intent_id, r.named_account, r.named_broker, r.cancel_id): r for r in refusals}
    assert by_what[(other_account, "ib-2", "ib", None)].reason is m.RejectReason.ACCOUNT_MISMATCH
    assert by_what[(other_broker, "ib-1", "webull", None)].reason is m.RejectReason.BROKER_MISMATCH
    assert by_what[(working, "ib-2", "ib", None)].reason is m.RejectReason.ACCOUNT_MISMATCH
    assert by_what[(working, "ib-2", "ib", foreign_cancel.cancel_id)].reason is m.RejectReason.ACCOUNT_MISMATCH
    assert all(r.account == "ib-1" and r.intent_id is None for r in refusals)

    refs = [o.order_ref for o in sim.orders.values()]
    assert other_account not in refs and other_broker not in refs and refs.count(working) == 1
    [order] = [o for o in sim.orders.values() if o.order_ref == working]
    assert not order.done
    assert not [e for e in events.drain() if getattr(e, "intent_id", None) == working
                and isinstance(e, (m.OrderCancelled, m.OrderGatewayRefused, m.OrderBrokerRejected))]

    stored = await bus.history(js, EVENTS_STREAM, subjects.evt_order("ib-1"), m.ORDER_EVENTS)
    assert sorted((r.named_intent_id, r.cancel_id or "") for r in stored if isinstance(r, m.RouteRefused)) == \
        sorted((r.named_intent_id, r.cancel_id or "") for r in refusals)
    assert not [e for e in stored if isinstance(e, m.OrderGatewayRefused) and e.intent_id == working]
    info = await js.consumer_info(ROUTES_STREAM, "ib-gateway-ib-1")
    assert info.num_pending == 0 and info.num_ack_pending == 0  # acked, not redelivered forever
