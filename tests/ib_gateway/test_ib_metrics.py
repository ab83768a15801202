"""The gateway kernel's /metrics, on the IB gateway under the service runner against the IB
simulator: the connection gauge follows the lifecycle, places and fills are counted, a refusal
is counted by its reason."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway_harness import ready as until_up
from ibgw_helpers import new_id, place, route, running_gateway
from janus_common import messages as m
from janus_common.embedded import free_port
from metrics_scrape import scrape, scrape_until, value

pytestmark = pytest.mark.integration

IB1 = dict(account="ib-1", broker="ib")


async def test_connection_places_fills_and_refusals_are_counted(js, nats_url, sim, events):
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    metrics = {"host": "127.0.0.1", "ports": {"accounts": {"ib-1": port}}}
    async with until_up(running_gateway(nats_url, sim.port, metrics=metrics), events) as ctx:
        assert ctx.service.info().metadata["metrics"] == url  # what `janus status` prints
        before = await scrape(url)
        assert value(before, "janus_gateway_connected", **IB1) == 1

        filled = new_id()
        await route(js, place(filled))
        await events.next(m.OrderFilled, where=lambda e: e.intent_id == filled)
        stale = new_id()
        await route(js, place(stale, ts=time.time_ns() - 3_600 * 10**9))
        await events.next(m.OrderGatewayRefused, where=lambda e: e.intent_id == stale)

        def moved(s, name, **labels):
            return value(s, name, **labels) - value(before, name, **labels)

        after = await scrape_until(url, lambda s: moved(s, "janus_orders_refused_total", reason="STALE", **IB1) == 1)
        assert moved(after, "janus_orders_refused_total", reason="STALE", **IB1) == 1
        assert moved(after, "janus_fills_total", **IB1) == 1
        assert moved(after, "janus_orders_placed_total", **IB1) == 1
        assert moved(after, "janus_broker_place_seconds_count", **IB1) == 1
        assert moved(after, "janus_order_events_total", kind="OrderFilled", **IB1) == 1

        # The gauge is set before the state is published: seeing the event, the figure agrees.
        restart = asyncio.create_task(sim.restart(downtime=1.0))
        await events.next(m.GatewayConnection, where=lambda e: e.state is m.ConnectionState.DISCONNECTED, timeout=10)
        assert value(await scrape(url), "janus_gateway_connected", **IB1) == 0
        await restart
        await events.next(m.GatewayConnection, where=lambda e: e.state is m.ConnectionState.READY, timeout=30)
        assert value(await scrape(url), "janus_gateway_connected", **IB1) == 1
