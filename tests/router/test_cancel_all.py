"""Cancel-all and halt --cancel-working through the whole order path: client → router → IB
gateway → the IB simulator (unmodified ib_async) and back; the commands return once every
working order has ended, and the gateway still fills a market order afterwards."""

from __future__ import annotations

import pytest
from cli_runner import janus
from ibgw_helpers import running_gateway

from janus_client.client import JanusClient
from janus_common import messages as m
from janus_ib_sim import IBSimulator

pytestmark = pytest.mark.integration

MSFT = m.RegistryRecord(symbol="MSFT", asset_class="EQUITY",
                        ib=m.IbContract(symbol="MSFT", sec_type="STK", con_id=272093, primary_exchange="NASDAQ"))


def limit_buy(symbol: str, price: float) -> m.OrderIntent:
    return m.OrderIntent(account="ib-1", symbol=symbol, side=m.Side.BUY, order_type=m.OrderType.LIMIT, qty=5,
                         limit_price=price)


def cancelled(e) -> bool:
    return isinstance(e, m.OrderCancelled) or (isinstance(e, m.OrderStatusChanged)
                                               and e.status is m.OrderState.CANCELLED)


async def resting(client: JanusClient, symbol: str, price: float) -> str:
    """A limit BUY well under the market, once the broker reports it working."""
    routed = await client.submit(limit_buy(symbol, price), timeout=15)
    assert isinstance(routed, m.OrderRouted), routed
    feed = await client.follow_orders("ib-1", from_start=True)
    try:
        while not ((e := await feed.next(20)).intent_id == routed.intent_id and isinstance(e, m.OrderStatusChanged)
                   and e.status is m.OrderState.SUBMITTED):
            pass
    finally:
        await feed.close()
    return routed.intent_id


async def test_cancel_all_cancels_resting_orders_at_the_broker_and_waits_for_each(nc, js, nats_url, registry_peer,
                                                                                  router_runner, router_config):
    registry_peer.records["MSFT"] = MSFT
    # not the `harness` fixture: its reader of ROUTES would compete with the gateway's consumer
    async with IBSimulator(seed=3, tick_interval=0.05) as sim, running_gateway(nats_url, sim.port, "ib-1"), \
            router_runner(nats_url, config=router_config):
        sim.set_price("AAPL", 200.0)
        sim.set_price("MSFT", 420.0)
        client = JanusClient(nc)
        aapl = {await resting(client, "AAPL", 150.0), await resting(client, "AAPL", 151.0)}
        msft = await resting(client, "MSFT", 300.0)

        result = await client.cancel_all("ib-1", "AAPL", reason="desk request", requested_by="test")
        assert set(result.decision.cancels) == aapl
        assert set(result.outcomes) == aapl and all(map(cancelled, result.outcomes.values()))
        assert {o.order_ref for o in sim.orders.values() if o.order_ref in aapl and o.status == "Cancelled"} == aapl

        code, out = await janus(nats_url, "cancel-all", "ib-1")
        assert code == 0, out
        assert "1 working order(s) to cancel" in out and f"{msft}: OrderStatusChanged CANCELLED" in out

        another = await resting(client, "AAPL", 152.0)
        code, out = await janus(nats_url, "halt", "ib-1", "--cancel-working", "--reason", "close")
        assert code == 0, out
        assert "ACTIVE -> HALTED (close)" in out and f"{another}: OrderStatusChanged CANCELLED" in out
        code, out = await janus(nats_url, "cancel-all", "ib-1")  # nothing left: done at once
        assert code == 0 and "0 working order(s)" in out, out

        code, out = await janus(nats_url, "resume", "ib-1")
        assert code == 0, out
        market = await client.submit(m.OrderIntent(account="ib-1", symbol="AAPL", side=m.Side.BUY,
                                                   order_type=m.OrderType.MARKET, qty=3), timeout=15)
        final = await client.wait_terminal("ib-1", market.intent_id, timeout=30)
        assert isinstance(final, m.OrderStatusChanged) and final.status is m.OrderState.FILLED
        code, out = await janus(nats_url, "audit", "replay")
        assert code == 0, out
