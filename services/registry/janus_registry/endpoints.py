"""An RPC endpoint that serves requests concurrently.

nats-py hands a subscription's messages to its callback one at a time, so a resolve waiting
on a broker look-up (seconds, at worst the look-up timeout) would hold up every cache hit
behind it. Each request here runs in its own task, still through ``janus_common.bus``'s
``rpc_handler`` (typed decode, MALFORMED/INTERNAL replies); stopping waits for those in flight.
The handler also gets the caller (``janus_common.ratelimit.caller_of`` the reply subject): the
resolve charges a caller's budget only when it needs a broker look-up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from nats.micro.service import EndpointConfig

from janus_common.messages import Codec
from janus_common.ratelimit import caller_rpc
from janus_common.service import ServiceContext


async def add_concurrent_rpc(
    ctx: ServiceContext,
    name: str,
    subject: str,
    codec: Codec[Any],
    handler: Callable[[Any, str], Awaitable[msgspec.Struct]],
    *,
    drain_timeout: float = 10.0,
) -> None:
    serve_one = caller_rpc(codec, handler)
    in_flight: set[asyncio.Task[None]] = set()

    async def serve(request: Any) -> None:  # a coroutine, which create_task needs
        await serve_one(request)

    async def endpoint(request: Any) -> None:
        task = asyncio.create_task(serve(request))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)

    async def finish() -> None:
        if in_flight:
            await asyncio.wait(list(in_flight), timeout=drain_timeout)

    await ctx.service.add_endpoint(EndpointConfig(name=name, subject=subject, handler=endpoint,
                                                  queue_group=f"{ctx.name}-{name}"))
    ctx.on_stop(finish)
