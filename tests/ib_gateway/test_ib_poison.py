"""No order can take an account down: a route message that kills the broker connection every
time it is placed is quarantined (POISON), a cancel sent meanwhile still reaches the broker, and
the account's next order fills. Real NATS, the IB simulator, unmodified ib_async."""

from __future__ import annotations

import time

import pytest
from ibgw_helpers import new_id, place, route

from janus_common import subjects
from janus_common import messages as m

pytestmark = pytest.mark.integration


def status(intent, state):
    return lambda e: e.intent_id == intent and e.status is state


async def test_poison_order_is_quarantined_and_the_account_goes_on(gateway, js, nc, events, sim):
    sim.set_price("AAPL", 190.00)
    resting = new_id()
    await route(js, place(resting, order_type=m.OrderType.LIMIT, limit_price=150.00, tif=m.Tif.GTC))
    await events.next(m.OrderStatusChanged, where=status(resting, m.OrderState.SUBMITTED))
    [working] = [o for o in sim.orders.values() if o.order_ref == resting]

    dead = await nc.subscribe(subjects.dlq("ib-gateway-ib-1"))
    poison = new_id()
    sim.drop_on_place(poison)
    await route(js, place(poison))
    # The connection drops on the poison's first try; the cancel comes while it is being retried.
    await events.next(m.GatewayConnection, where=lambda e: e.state is m.ConnectionState.DISCONNECTED, timeout=15)
    await route(js, m.CancelOrder(intent_id=resting, account="ib-1", broker=m.Broker.IB))

    refused = await events.next(m.OrderGatewayRefused, where=lambda e: e.intent_id == poison, timeout=45)
    assert refused.reason is m.RejectReason.POISON and "NO_ANSWER" in refused.text
    attempts = [e for e in events.drain() if isinstance(e, m.OrderPlaceAttempted) and e.intent_id == poison]
    assert 1 <= len(attempts) <= 2
    letter = m.DEAD_LETTERS.decode((await dead.next_msg(timeout=10)).data)
    assert m.ROUTES.decode(letter.data).intent_id == poison
    assert not [o for o in sim.orders.values() if o.order_ref == poison]  # never reached the book

    await events.next(m.OrderCancelled, where=lambda e: e.intent_id == resting, timeout=30)
    assert sim.orders[working.perm_id].status == "Cancelled"

    after = new_id()
    await route(js, place(after))
    await events.next(m.OrderStatusChanged, where=status(after, m.OrderState.FILLED), timeout=30)


async def test_stale_route_is_refused_not_placed(gateway, js, events, sim):
    stale = new_id()
    await route(js, place(stale, ts=time.time_ns() - 3_600 * 10**9))  # an hour old
    refused = await events.next(m.OrderGatewayRefused, where=lambda e: e.intent_id == stale)
    assert refused.reason is m.RejectReason.STALE
    assert not [o for o in sim.orders.values() if o.order_ref == stale]
    fresh = new_id()
    await route(js, place(fresh))
    await events.next(m.OrderStatusChanged, where=status(fresh, m.OrderState.FILLED))


async def test_a_route_without_an_ib_contract_is_a_gateway_refusal(gateway, js, events):
    intent = new_id()
    await route(js, place(intent, ib=None))
    refused = await events.next(m.OrderGatewayRefused, where=lambda e: e.intent_id == intent)
    assert refused.reason is m.RejectReason.NO_CONTRACT
    assert not [e for e in events.drain() if isinstance(e, m.OrderBrokerRejected) and e.intent_id == intent]


async def test_a_cancel_for_an_order_between_retries_ends_it_before_it_is_sent_again(gateway, js, events, sim):
    poison = new_id()
    sim.drop_on_place(poison)
    await route(js, place(poison))
    await events.next(m.OrderPlaceAttempted, where=lambda e: e.intent_id == poison)
    await events.next(m.GatewayConnection, where=lambda e: e.state is m.ConnectionState.DISCONNECTED, timeout=15)
    await route(js, m.CancelOrder(intent_id=poison, account="ib-1", broker=m.Broker.IB))
    cancelled = await events.next(m.OrderCancelled, where=lambda e: e.intent_id == poison, timeout=30)
    assert "before it reached the broker" in (cancelled.reason or "")
    after = new_id()
    await route(js, place(after))  # the account goes on; the cancelled order is never tried again
    await events.next(m.OrderStatusChanged, where=status(after, m.OrderState.FILLED), timeout=30)
    tries = [e for e in events.drain() if isinstance(e, m.OrderPlaceAttempted) and e.intent_id == poison]
    refusals = [e for e in events.seen if isinstance(e, m.OrderGatewayRefused) and e.intent_id == poison]
    assert len(tries) <= 2 and not refusals
