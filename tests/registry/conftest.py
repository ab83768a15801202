"""Registry test fixtures (helpers live in registry_helpers.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from janus_common.messages import Broker
from registry_helpers import IB_TABLE, WEBULL_TABLE, FakeGateway, Running, start_registry


@pytest.fixture
async def ib_gateway(nc) -> AsyncIterator[FakeGateway]:
    gw = await FakeGateway(nc, Broker.IB, IB_TABLE).start()
    yield gw
    await gw.stop()


@pytest.fixture
async def webull_gateway(nc) -> AsyncIterator[FakeGateway]:
    gw = await FakeGateway(nc, Broker.WEBULL, WEBULL_TABLE).start()
    yield gw
    await gw.stop()


@pytest.fixture
async def registry_factory(nats_url, js):
    started: list[Running] = []

    async def make(dsn: str, mappings: list[dict] | None = None, **extra: dict) -> Running:
        running = await start_registry(nats_url, dsn, mappings, **extra)
        started.append(running)
        return running

    yield make
    for running in started:
        if not running.task.done():
            await running.stop()


