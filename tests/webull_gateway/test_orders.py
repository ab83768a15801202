"""The Webull gateway against the Webull simulator through the unmodified SDK, on real JetStream."""

from __future__ import annotations

import pytest
from wbgw_helpers import new_id, place, route

from janus_common import messages as m

pytestmark = pytest.mark.integration


def status(intent, state, leg=0):
    return lambda e: e.intent_id == intent and e.status is state and e.leg == leg


async def test_market_order_end_to_end(gateway, js, events, sim):
    intent = new_id()
    await route(js, place(intent))
    submitted = await events.next(m.OrderSubmitted, where=lambda e: e.intent_id == intent)
    assert submitted.broker is m.Broker.WEBULL and submitted.broker_order_id and submitted.client_order_id == intent
    fill = await events.next(m.OrderFilled, where=lambda e: e.intent_id == intent)
    assert fill.qty == 10 and fill.price > 0 and fill.symbol == "AAPL" and fill.side is m.BrokerSide.BUY
    done = await events.next(m.OrderStatusChanged, where=status(intent, m.OrderState.FILLED))
    assert done.filled == 10 and done.avg_fill_price == fill.price
    snap = await events.next(m.PositionSnapshot, where=lambda e: any(p.symbol == "AAPL" and p.qty == 10
                                                                     for p in e.positions))
    assert snap.broker is m.Broker.WEBULL
