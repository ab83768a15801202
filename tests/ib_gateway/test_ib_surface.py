"""The order surface at IB, through the gateway and unmodified ib_async against the simulator:
a modification is the same orderId sent again (taken when IB shows the new figures, refused with
IB's code when the order is finished), a bracket is IB's own (parentId + OCA, transmitted by its
last leg), and a trailing stop follows the price up and triggers on the way down."""

from __future__ import annotations

import pytest
from ibgw_helpers import new_id, place, route

from janus_common import bus, msgids, subjects
from janus_common import messages as m

pytestmark = pytest.mark.integration


def status(intent, state, leg=0):
    return lambda e: e.intent_id == intent and e.status is state and e.leg == leg


async def modify(js, intent: str, leg: int = 0, **kw) -> m.ModifyOrder:
    order = m.ModifyOrder(intent_id=intent, leg=leg, account="ib-1", broker=m.Broker.IB, modify_id=new_id(), **kw)
    await bus.publish(js, subjects.route("ib", "ib-1"), order,
                      msg_id=msgids.modify_route("ib-1", order.modify_id, order.order_key))
    return order


def at_ib(sim, intent: str, leg: int = 0):
    key = m.order_key(intent, leg)
    return next(o for o in sim.orders.values() if o.order_ref == key)


async def test_a_resting_limit_is_modified_in_place_then_fills_at_the_new_price(gateway, js, events, sim):
    sim.set_price("AAPL", 190.00)
    intent = new_id()
    await route(js, place(intent, order_type=m.OrderType.LIMIT, limit_price=180.00, tif=m.Tif.GTC))
    await events.next(m.OrderStatusChanged, where=status(intent, m.OrderState.SUBMITTED))
    perm = at_ib(sim, intent).perm_id

    change = await modify(js, intent, qty=12.0, limit_price=185.00)
    done = await events.next(m.OrderModified, where=lambda e: e.modify_id == change.modify_id)
    assert (done.qty, done.limit_price) == (12.0, 185.00)
    order = at_ib(sim, intent)
    assert (order.perm_id, order.qty, order.lmt) == (perm, 12.0, 185.00)  # the same order, new figures

    sim.set_price("AAPL", 184.50)  # through the new limit, above the old one
    filled = await events.next(m.OrderStatusChanged, where=status(intent, m.OrderState.FILLED))
    assert filled.filled == 12.0

    late = await modify(js, intent, qty=12.0, limit_price=186.00)
    refused = await events.next(m.ModifyRejected, where=lambda e: e.modify_id == late.modify_id)
    assert refused.reason is m.RejectReason.ORDER_FINISHED


async def test_a_modification_ib_refuses_leaves_the_order_working(gateway, js, events, sim):
    sim.set_price("AAPL", 190.00)
    intent = new_id()
    await route(js, place(intent, order_type=m.OrderType.LIMIT, limit_price=180.00, tif=m.Tif.GTC))
    await events.next(m.OrderStatusChanged, where=status(intent, m.OrderState.SUBMITTED))
    bad = await modify(js, intent, qty=10.0, limit_price=180.001)  # off the tick grid: IB's 110
    refused = await events.next(m.ModifyRejected, where=lambda e: e.modify_id == bad.modify_id)
    assert refused.reason is m.RejectReason.BROKER_REFUSED and refused.code == "110"
    assert at_ib(sim, intent).lmt == 180.00 and not at_ib(sim, intent).done


async def test_a_native_bracket_takes_profit_and_cancels_its_stop_loss(gateway, js, events, sim):
    sim.set_price("AAPL", 190.00)
    intent = new_id()
    exits = dict(parent_leg=0, oca_group=intent, side=m.BrokerSide.SELL, tif=m.Tif.GTC, exit_legs=(2, 3))
    await route(js, place(intent, order_type=m.OrderType.LIMIT, limit_price=189.00, exit_legs=(2, 3)))
    await route(js, place(intent, leg=2, role=m.LegRole.TAKE_PROFIT, order_type=m.OrderType.LIMIT,
                          limit_price=195.00, **exits))
    await route(js, place(intent, leg=3, role=m.LegRole.STOP_LOSS, order_type=m.OrderType.STOP,
                          stop_price=185.00, **exits))
    await events.next(m.OrderSubmitted, where=lambda e: e.intent_id == intent and e.leg == 3)
    parent = at_ib(sim, intent)
    assert at_ib(sim, intent, 2).parent_id == parent.order_id == at_ib(sim, intent, 3).parent_id

    sim.set_price("AAPL", 188.50)  # the entry fills; the exits become active
    await events.next(m.OrderStatusChanged, where=status(intent, m.OrderState.FILLED))
    sim.set_price("AAPL", 195.50)  # through the take-profit
    tp = await events.next(m.OrderFilled, where=lambda e: e.intent_id == intent and e.leg == 2)
    assert tp.qty == 10.0 and tp.side is m.BrokerSide.SELL
    sl = await events.next(m.OrderCancelled, where=lambda e: e.intent_id == intent and e.leg == 3)
    assert sl.filled == 0.0


async def test_a_trailing_stop_follows_the_price_up_and_triggers_on_the_way_down(gateway, js, events, sim):
    sim.set_price("AAPL", 190.00)
    bought = new_id()
    await route(js, place(bought))
    await events.next(m.OrderStatusChanged, where=status(bought, m.OrderState.FILLED))
    trail = new_id()
    await route(js, place(trail, side=m.BrokerSide.SELL, order_type=m.OrderType.TRAILING_STOP, trail_amount=2.00))
    await events.next(m.OrderSubmitted, where=lambda e: e.intent_id == trail)
    first = at_ib(sim, trail).trail_stop
    sim.set_price("AAPL", 196.00)
    raised = at_ib(sim, trail).trail_stop
    assert raised > first and raised >= 193.90  # about 196 - 2, on the way up
    sim.set_price("AAPL", 195.00)  # a dip of 1: still above the stop
    assert not at_ib(sim, trail).done and at_ib(sim, trail).trail_stop == raised
    sim.set_price("AAPL", 193.00)  # through the stop
    fill = await events.next(m.OrderFilled, where=lambda e: e.intent_id == trail)
    assert fill.side is m.BrokerSide.SELL and fill.price <= raised


async def test_gtd_expires_at_its_time_and_day_at_the_session_close(gateway, js, events, sim):
    import time

    sim.set_price("AAPL", 190.00)
    gtd, day, gtc = new_id(), new_id(), new_id()
    await route(js, place(gtd, order_type=m.OrderType.LIMIT, limit_price=180.00, tif=m.Tif.GTD,
                          expire_at=time.time_ns() + 3_000_000_000))
    await route(js, place(day, order_type=m.OrderType.LIMIT, limit_price=180.00, tif=m.Tif.DAY))
    await route(js, place(gtc, order_type=m.OrderType.LIMIT, limit_price=180.00, tif=m.Tif.GTC))
    for intent in (gtd, day, gtc):
        await events.next(m.OrderStatusChanged, where=status(intent, m.OrderState.SUBMITTED))
    expired = await events.next(m.OrderCancelled, where=lambda e: e.intent_id == gtd, timeout=15)
    assert expired.filled == 0.0 and not at_ib(sim, day).done  # its own time, not the close
    sim.close_session()
    await events.next(m.OrderCancelled, where=lambda e: e.intent_id == day)
    assert not at_ib(sim, gtc).done  # GTC outlives the session
