"""Modifications through the router on real JetStream: routed with every figure as it is to be,
checked like a new order, answered once per modify id, refused with a reason; and the capability
table each account is served."""

from __future__ import annotations

import msgspec
import pytest

from janus_common import bus, msgids, subjects
from janus_common import messages as m

pytestmark = pytest.mark.integration


def limit(account="ib-1", **kw) -> m.OrderIntent:
    return m.OrderIntent(account=account, symbol="AAPL", side=m.Side.BUY, order_type=m.OrderType.LIMIT, qty=10.0,
                         limit_price=150.0, tif=m.Tif.GTC, **kw)


async def answer(h, modify_id: str):
    while True:
        event = await h.next_event()
        if isinstance(event, (m.ModifyRouted, m.ModifyRejected)) and event.modify_id == modify_id:
            return event


async def routed_limit(h, **kw) -> m.OrderIntent:
    i = limit(**kw)
    await h.send(i)
    assert isinstance(await h.outcome(i.intent_id), m.OrderRouted)
    await h.next_route()
    return i


async def test_a_modify_is_routed_with_every_figure_and_answered_once(harness):
    i = await routed_limit(harness)
    change = m.ModifyIntent(intent_id=i.intent_id, account="ib-1", limit_price=151.0)
    await harness.send(change)
    routed = await answer(harness, change.modify_id)
    assert isinstance(routed, m.ModifyRouted) and routed.broker is m.Broker.IB
    subject, order = await harness.next_route()
    assert subject == "janus.route.ib.ib-1" and isinstance(order, m.ModifyOrder)
    assert (order.intent_id, order.leg, order.qty, order.limit_price, order.modify_id) == (
        i.intent_id, 0, 10.0, 151.0, change.modify_id)
    # The same modify id again (a client retrying past the dedup window): not routed twice.
    await harness.send(change, msg_id=f"retry-{change.modify_id}")
    marker = limit()
    await harness.send(marker)
    await harness.outcome(marker.intent_id)
    _, next_order = await harness.next_route()
    assert isinstance(next_order, m.PlaceOrder) and next_order.intent_id == marker.intent_id


@pytest.mark.parametrize(("kw", "reason"), [
    ({"intent_id": "no-such-intent", "limit_price": 151.0}, m.RejectReason.UNKNOWN_INTENT),
    ({"stop_price": 140.0}, m.RejectReason.INVALID_PRICE),
    ({}, m.RejectReason.NOTHING_TO_MODIFY),
    ({"qty": 2e9}, m.RejectReason.RISK_MAX_QTY),  # the new figures pass the pre-trade checks
])
async def test_a_modify_is_refused_with_a_reason_and_nothing_routed(harness, kw, reason):
    i = await routed_limit(harness)
    change = m.ModifyIntent(**{"intent_id": i.intent_id, "account": "ib-1", **kw})
    await harness.send(change)
    refused = await answer(harness, change.modify_id)
    assert isinstance(refused, m.ModifyRejected) and refused.reason is reason and refused.message, refused
    assert harness.routes.empty()


async def test_each_account_is_served_its_capability_table(harness):
    reply = await bus.request(harness.nc, subjects.rpc_capabilities("ib-narrow"),
                              m.CapabilitiesRequest(account="ib-narrow"), m.CAPABILITIES_REPLY, timeout=5)
    assert isinstance(reply, m.Capabilities) and reply.order_types == [m.OrderType.LIMIT, m.OrderType.MARKET]
    assert reply.modify and reply.brackets == "NATIVE"
    wrong = await bus.request(harness.nc, subjects.rpc_capabilities("wb-1"),
                              m.CapabilitiesRequest(account="ib-1"), m.CAPABILITIES_REPLY, timeout=5)
    assert isinstance(wrong, m.RpcError) and wrong.reason is m.RejectReason.ACCOUNT_MISMATCH
    wb = await bus.request(harness.nc, subjects.rpc_capabilities("wb-1"),
                           m.CapabilitiesRequest(account="wb-1"), m.CAPABILITIES_REPLY, timeout=5)
    assert isinstance(wb, m.Capabilities) and wb.brackets == "MANAGED" and wb.tifs == [m.Tif.DAY, m.Tif.GTC]


async def test_an_unreadable_modify_is_refused_without_a_second_outcome_for_its_order(harness):
    i = await routed_limit(harness)
    raw = msgspec.msgpack.encode({"kind": "ModifyIntent", "modify_id": "m-bad", "intent_id": i.intent_id,
                                  "account": "ib-1", "qty": "lots"})
    await harness.js.publish(subjects.intent("ib-1"), raw, headers={"Nats-Msg-Id": msgids.modify("ib-1", "m-bad")})
    refused = await answer(harness, "m-bad")
    assert isinstance(refused, m.ModifyRejected) and refused.reason is m.RejectReason.INVALID_QTY
    assert refused.intent_id == i.intent_id  # and no OrderRejected for the order it names
