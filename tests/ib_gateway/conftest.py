"""IB gateway harness: the IB simulator, and the gateway's real setup under the service runner."""

from __future__ import annotations


import pytest
from gateway_harness import events, ready  # noqa: F401  (events: a fixture)

from ibgw_helpers import running_gateway

from janus_ib_sim import IBSimulator


@pytest.fixture
async def sim():
    async with IBSimulator(seed=2, tick_interval=0.02, bar_interval=0.2) as simulator:
        yield simulator


@pytest.fixture
async def gateway(js, nats_url, sim, events):
    async with ready(running_gateway(nats_url, sim.port), events) as ctx:
        yield ctx
