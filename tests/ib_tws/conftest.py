from __future__ import annotations

import pytest
from ib_async import IB

from janus_ib_sim import IBSimulator


@pytest.fixture
async def sim():
    async with IBSimulator(seed=7, tick_interval=0.02, bar_interval=0.2) as simulator:
        yield simulator


@pytest.fixture
async def ib(sim):
    client = IB()
    client.RaiseRequestErrors = False
    await client.connectAsync("127.0.0.1", sim.port, clientId=1, timeout=5)
    yield client
    client.disconnect()
