"""The order surface at Webull, through the gateway and the unmodified SDK against the simulator:
a modification is Webull's replace (taken once, refused once the order is finished), and a bracket
is Janus-managed: the exits are placed when the entry fills and the one that does not trade is
cancelled when the other fills."""

from __future__ import annotations

import pytest
from wbgw_helpers import ALIAS, new_id, place, route

from janus_common import bus, msgids, subjects
from janus_common import messages as m
from janus_webull_gateway.mapping import client_order_id

from wbgw_fixtures import events, gateway, sdk_cwd, sim  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration


def status(intent, state, leg=0):
    return lambda e: e.intent_id == intent and e.status is state and e.leg == leg


async def modify(js, intent: str, **kw) -> m.ModifyOrder:
    order = m.ModifyOrder(intent_id=intent, account=ALIAS, broker=m.Broker.WEBULL, modify_id=new_id(), **kw)
    await bus.publish(js, subjects.route("webull", ALIAS), order,
                      msg_id=msgids.modify_route(ALIAS, order.modify_id, order.order_key))
    return order


async def resting_limit(js, events, sim) -> str:
    """A GTC limit BUY 10 MSFT at 390 working at Webull (MSFT at 400, matching paused)."""
    sim.pause_matching()
    sim.set_price("MSFT", "400.00")
    intent = new_id()
    await route(js, place(intent, symbol="MSFT", order_type=m.OrderType.LIMIT, limit_price=390.00, tif=m.Tif.GTC))
    await events.next(m.OrderStatusChanged, where=status(intent, m.OrderState.SUBMITTED))
    return intent


async def test_a_resting_limit_is_replaced_then_fills_at_the_new_price(gateway, js, events, sim):
    intent = await resting_limit(js, events, sim)

    change = await modify(js, intent, qty=12.0, limit_price=397.00)
    done = await events.next(m.OrderModified, where=lambda e: e.modify_id == change.modify_id)
    assert (done.leg, done.qty, done.limit_price) == (0, 12.0, 397.00)
    (at_broker,) = [o for o in sim.state()["orders"] if o["client_order_id"] == client_order_id(intent)]
    assert float(at_broker["limit_price"]) == 397.00 and float(at_broker["quantity"]) == 12

    sim.set_price("MSFT", "396.50")  # through the new limit, still above the old one
    sim.match_now()
    filled = await events.next(m.OrderStatusChanged, where=status(intent, m.OrderState.FILLED))
    assert filled.filled == 12.0

    late = await modify(js, intent, qty=12.0, limit_price=398.00)
    refused = await events.next(m.ModifyRejected, where=lambda e: e.modify_id == late.modify_id)
    assert refused.reason is m.RejectReason.ORDER_FINISHED and refused.leg == 0


async def test_a_replace_webull_refuses_is_a_modify_rejected_and_the_order_works_on(gateway, js, events, sim):
    intent = await resting_limit(js, events, sim)
    bad = await modify(js, intent, qty=10.0, limit_price=390.001)  # off Webull's 0.01 grid
    refused = await events.next(m.ModifyRejected, where=lambda e: e.modify_id == bad.modify_id)
    assert refused.reason is m.RejectReason.BROKER_REFUSED and refused.code
    sim.set_price("MSFT", "389.50")
    sim.match_now()
    await events.next(m.OrderStatusChanged, where=status(intent, m.OrderState.FILLED))


async def test_a_managed_bracket_places_its_exits_after_the_entry_and_cancels_the_sibling(gateway, js, events, sim):
    sim.pause_matching()
    sim.set_price("MSFT", "400.00")
    intent = new_id()
    common = dict(symbol="MSFT", exit_legs=(2, 3))
    exits = dict(parent_leg=0, oca_group=intent, side=m.BrokerSide.SELL, tif=m.Tif.GTC, **common)
    await route(js, place(intent, order_type=m.OrderType.MARKET, **common))
    await route(js, place(intent, leg=2, role=m.LegRole.TAKE_PROFIT, order_type=m.OrderType.LIMIT,
                          limit_price=410.00, **exits))
    await route(js, place(intent, leg=3, role=m.LegRole.STOP_LOSS, order_type=m.OrderType.STOP,
                          stop_price=390.00, **exits))
    await events.next(m.OrderStatusChanged, where=status(intent, m.OrderState.SUBMITTED))
    # The exits wait for the entry: nothing but the entry is at Webull yet.
    assert [o["client_order_id"] for o in sim.state()["orders"] if o["symbol"] == "MSFT"
            and o["side"] == "SELL" and o["status"] == "SUBMITTED"] == []
    sim.match_now()
    await events.next(m.OrderStatusChanged, where=status(intent, m.OrderState.FILLED))
    await events.next(m.OrderStatusChanged, where=status(intent, m.OrderState.SUBMITTED, leg=2))
    await events.next(m.OrderStatusChanged, where=status(intent, m.OrderState.SUBMITTED, leg=3))

    sim.set_price("MSFT", "411.00")  # through the take-profit
    sim.match_now()
    tp = await events.next(m.OrderFilled, where=lambda e: e.intent_id == intent and e.leg == 2)
    assert tp.qty == 10.0 and tp.price >= 410.00
    sl = await events.next(m.OrderCancelled, where=lambda e: e.intent_id == intent and e.leg == 3)
    assert sl.filled == 0.0
    (stop_loss,) = [o for o in sim.state()["orders"]
                    if o["client_order_id"] == client_order_id(m.order_key(intent, 3))]
    assert stop_loss["status"] == "CANCELLED"  # at Webull too: it can never trade
