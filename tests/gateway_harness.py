"""What the IB, Webull and paper gateway suites share: the `events` fixture (import it into the
suite's conftest or test module), the wait for READY, and a gateway served under the real service
runner (a module, not conftest: imported by name)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from event_collector import Events

from janus_common import messages as m
from janus_common.service import serve


async def collect_events(nc) -> Events:
    """Every event on janus.evt.> from now on, decoded (undecodable ones are skipped)."""
    queue: asyncio.Queue = asyncio.Queue()

    async def on_msg(msg):
        try:
            await queue.put(m.ANY_EVENT.decode(msg.data))
        except m.MessageDecodeError:
            pass

    await nc.subscribe("janus.evt.>", cb=on_msg)
    return Events(queue)


@pytest.fixture
async def events(nc) -> Events:
    """The gateway suites' event collector, started before the gateway (its READY is seen)."""
    return await collect_events(nc)


async def until_ready(events: Events, timeout: float = 20) -> None:
    await events.next(m.GatewayConnection, where=lambda e: e.state is m.ConnectionState.READY, timeout=timeout)


@contextlib.asynccontextmanager
async def ready(running: contextlib.AbstractAsyncContextManager[Any], events: Events) -> AsyncIterator[Any]:
    """`running` (a gateway's context), yielded once the gateway reports READY."""
    async with running as ctx:
        await until_ready(events)
        yield ctx


@contextlib.asynccontextmanager
async def serving(name: str, setup: Any, args: Any, config: Any, *, metadata: dict | None = None,
                  timeout: float = 60):
    """The gateway's real setup under the service runner, until the block ends."""
    ready = asyncio.Event()
    holder = []

    def on_ready(ctx):
        holder.append(ctx)
        ready.set()

    task = asyncio.create_task(serve(name, "0.1.0", setup, args, config, metadata=metadata, ready=on_ready))
    done, _ = await asyncio.wait({task, asyncio.ensure_future(ready.wait())}, timeout=timeout,
                                 return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()
    if not holder:  # a loaded machine can be slow; say so instead of an IndexError below
        task.cancel()
        raise TimeoutError(f"{name} did not get ready within {timeout:g} s")
    try:
        yield holder[0]
    finally:
        holder[0].stopping.set()
        await asyncio.wait_for(task, 20)
