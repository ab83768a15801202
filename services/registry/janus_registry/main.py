"""``janus-registry --config config.yaml``: the symbol registry service.

Wiring only: Postgres pool and migrations, static mappings written fill-only, the cache
warmed and kept coherent through ``janus.evt.registry``, the resolve and harmony RPCs, and
the holdings consumer on ``janus.evt.position.*``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

import asyncpg
import structlog

from janus_common import messages as m
from janus_common import ratelimit, subjects
from janus_common.bus import Consumer
from janus_common.pg import create_pool
from janus_common.service import ServiceContext, Setup, run

from .endpoints import add_concurrent_rpc
from .harmonize import Harmonizer
from .mappings import config_writes
from .peers import Lookups, RegistryEvents, connected_brokers
from .registry import Registry
from .store import DB_ERRORS, Store

NAME = "janus-registry"
VERSION = "0.1.0"
HOLDINGS_DURABLE = "janus-registry-holdings"

log = structlog.get_logger()


class App:
    def __init__(self, registry: Registry, harmonizer: Harmonizer) -> None:
        self.registry = registry
        self.harmonizer = harmonizer


async def open_pool(dsn: str, stopping: asyncio.Event, *, max_backoff: float = 5.0) -> asyncpg.Pool:
    """Wait for Postgres (it may start after us); give up only when asked to stop."""
    delay = 0.2
    while True:
        try:
            return await create_pool(dsn)
        except DB_ERRORS as exc:
            if stopping.is_set():
                raise
            log.warning("postgres_connect_failed", error=type(exc).__name__, retry_in=delay)
        try:
            await asyncio.wait_for(stopping.wait(), delay)
        except asyncio.TimeoutError:
            pass
        delay = min(delay * 2, max_backoff)


def setup_for(on_app: Callable[[App], None] | None = None, *, dsn: str | None = None) -> Setup:
    async def setup(ctx: ServiceContext) -> None:
        config = ctx.config
        assert config is not None  # the runner requires --config for this service
        pool = await open_pool(dsn or os.environ.get("JANUS_PG_DSN") or config.postgres.dsn,
                               ctx.stopping)
        ctx.on_stop(pool.close)
        store = Store(pool)
        applied = await store.migrate()
        log.info("migrations_checked", applied=applied)

        events = RegistryEvents(ctx.nc, ctx.js)
        registry = Registry(store, Lookups(ctx.nc, config.registry.lookup_timeout_s), events,
                            lookup_limit=ratelimit.limiter("resolve", config.rate_limits.resolve_lookups, config))
        # Subscribe before warming so no peer write between the two is missed.
        await events.subscribe(registry.apply)
        ctx.on_stop(events.close)
        await registry.write(config_writes(config.registry.mappings, m.now_ns()))
        log.info("cache_warmed", entries=await registry.warm())

        harmonizer = Harmonizer(registry, lambda: connected_brokers(ctx.nc))
        # Resolve concurrently: a miss waiting on a look-up must not hold up cache hits.
        await add_concurrent_rpc(ctx, "resolve", subjects.RPC_RESOLVE, m.RESOLVE_REQUEST,
                                 registry.resolve)
        await ctx.add_rpc("harmony", subjects.RPC_HARMONY, m.HARMONY_REQUEST, harmonizer.run,
                          limit=ratelimit.limiter("harmony", config.rate_limits.harmony, config))
        await ctx.add_consumer(Consumer(
            ctx.js, stream="EVENTS", durable=HOLDINGS_DURABLE,
            filter_subject=subjects.ALL_POSITION_EVENTS, codec=m.POSITION_EVENTS,
            handler=registry.on_positions))
        if on_app is not None:
            on_app(App(registry, harmonizer))

    return setup


def main(argv: list[str] | None = None) -> int:
    return run(NAME, VERSION, setup_for(), argv=argv,
               description="Janus symbol registry: resolve, look-up fill, holdings fill, harmony")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
