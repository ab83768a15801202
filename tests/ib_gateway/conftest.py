"""IB gateway harness: the IB simulator, and the gateway's real setup under the service runner."""

from __future__ import annotations

import asyncio

import pytest
from event_collector import Events

from ibgw_helpers import running_gateway

from janus_common import messages as m
from janus_ib_sim import IBSimulator


@pytest.fixture
async def sim():
    async with IBSimulator(seed=2, tick_interval=0.02, bar_interval=0.2) as simulator:
        yield simulator


@pytest.fixture
async def events(nc):
    queue: asyncio.Queue = asyncio.Queue()

    async def on_msg(msg):
        try:
            await queue.put(m.ANY_EVENT.decode(msg.data))
        except m.MessageDecodeError:
            pass

    await nc.subscribe("janus.evt.>", cb=on_msg)
    return Events(queue)


@pytest.fixture
async def gateway(js, nats_url, sim, events):
    async with running_gateway(nats_url, sim.port) as ctx:
        await events.next(m.GatewayConnection, where=lambda e: e.state is m.ConnectionState.READY, timeout=20)
        yield ctx


