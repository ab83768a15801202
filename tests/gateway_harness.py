"""What the IB and Webull gateway suites share: the event collector fixture's body and a
gateway served under the real service runner (a module, not conftest: imported by name)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

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


async def until_ready(events: Events, timeout: float = 20) -> None:
    await events.next(m.GatewayConnection, where=lambda e: e.state is m.ConnectionState.READY, timeout=timeout)


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
