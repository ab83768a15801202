"""A pricer running in this test's event loop, through the same runner as the console script
(``janus_common.service.serve``): micro registration, streams, stop hooks and all."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from janus_common import config as janus_config
from janus_common import service
from janus_pricer import __version__
from janus_pricer.main import NAME, setup


def pricer_config(debounce_ms: int = 200, stale_after_s: float = 60.0,
                  rate_limits: dict | None = None) -> janus_config.JanusConfig:
    return janus_config.from_dict({
        "rate_limits": rate_limits or {},
        "accounts": {
            "ib-1": {"broker": "ib", "ib": {"host": "127.0.0.1", "port": 7497, "client_id": 1}},
            "ib-2": {"broker": "ib", "ib": {"host": "127.0.0.1", "port": 7497, "client_id": 2}},
            "wb-1": {"broker": "webull", "webull": {"app_key": "k", "app_secret": "s"}},
        },
        "market_data_account": "ib-1",
        "pricer": {"debounce_ms": debounce_ms, "stale_after_s": stale_after_s},
    }, env={})


@contextlib.asynccontextmanager
async def running_pricer(nats_url: str, **settings) -> AsyncIterator[service.ServiceContext]:
    args = argparse.Namespace(nats_url=nats_url, config=None, log_level="INFO")
    ready: asyncio.Future = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(service.serve(NAME, __version__, setup, args,
                                             pricer_config(**settings),
                                             ready=lambda ctx: ready.set_result(ctx)))
    done, _ = await asyncio.wait({task, ready}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    assert ready in done, f"pricer did not start: {task.result() if task.done() else 'timeout'}"
    ctx = ready.result()
    try:
        yield ctx
    finally:
        ctx.stopping.set()
        assert await asyncio.wait_for(task, 30) == service.EXIT_OK


@pytest.fixture
def pricer_factory(nats_url):
    return lambda **settings: running_pricer(nats_url, **settings)
