from __future__ import annotations

import pytest
from ib_async import IB

from janus_ib_sim import IBSimulator


@pytest.fixture
async def sim():
    # 5M on the first account: the partial-fill test buys 40 ES (about 1.1M of initial margin).
    async with IBSimulator(accounts=[("DU1000001", 5_000_000.0), ("DU1000002", 1_000_000.0)], seed=7,
                           tick_interval=0.02, bar_interval=0.2) as simulator:
        yield simulator


@pytest.fixture
async def ib(sim):
    client = IB()
    client.RaiseRequestErrors = False
    await client.connectAsync("127.0.0.1", sim.port, clientId=1, timeout=5)
    yield client
    client.disconnect()
