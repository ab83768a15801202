"""Reference prices for the risk checks: the pricer's latest ``Quote`` per symbol, followed from
the ``janus_prices`` KV bucket by a watch, so deciding an intent costs no round trip. Adapter.

A symbol nobody holds may have no price yet: then the router asks the pricer to stream it
(``janus.rpc.pricer.subscribe``, the same request any client makes) and waits, bounded by
``risk.reference_wait_s``, for the watch to bring a fresh one. Whatever it has, the pure check
(``risk.assess``) decides whether it is fresh enough.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import msgspec
import structlog
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from janus_common import bus, subjects
from janus_common.config import RiskConfig
from janus_common.messages import MD_REPLY, MarketDataSubscribe, MessageDecodeError
from janus_common.prices import QUOTES, Quote
from janus_common.streams import KV_PRICES

from .risk import reference

log = structlog.get_logger()
REQUESTER = "janus-router"


class ReferencePrices:
    def __init__(self, nc: NATS, js: JetStreamContext) -> None:
        self.nc = nc
        self.js = js
        self.quotes: dict[str, Quote] = {}
        # Decisions waiting for a symbol's next quote. Per symbol, and no lock: a Condition woke
        # every waiter on every tick of every symbol, and each then queued for its lock ahead of
        # the watch's next entry (the barrier's old problem, janus_router.follower).
        self._waiting: dict[str, list[asyncio.Future[None]]] = {}
        self._watcher: KeyValue.KeyWatcher | None = None

    async def start(self) -> None:
        """Watch the bucket (its current contents first); returns once they are loaded."""
        kv = await self.js.key_value(KV_PRICES)
        self._watcher = await kv.watchall()
        # None: the history is done. (nats-py leaves KeyWatcher unannotated.)
        while (entry := await self._watcher.updates(timeout=30)) is not None:  # type: ignore[no-untyped-call]
            self._absorb(entry.key, entry.value)
        log.info("reference_prices_loaded", symbols=len(self.quotes))

    async def follow(self) -> None:
        """Runs for the life of the router (a spawned task)."""
        assert self._watcher is not None
        async for entry in self._watcher:
            if entry is None:
                continue
            self._absorb(entry.key, entry.value)
            for waiter in self._waiting.pop(entry.key, ()):
                if not waiter.done():
                    waiter.set_result(None)

    async def stop(self) -> None:
        if self._watcher is not None:
            with contextlib.suppress(Exception):
                await self._watcher.stop()  # type: ignore[no-untyped-call]  # likewise

    def _absorb(self, key: str, data: bytes | None) -> None:
        if not data:  # a delete or purge
            self.quotes.pop(key, None)
            return
        try:
            self.quotes[key] = QUOTES.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.error("reference_price_undecodable", symbol=key, reason=str(exc))

    async def quote(self, symbol: str, limits: RiskConfig) -> Quote | None:
        found = self.quotes.get(symbol)
        if (reference(found, limits, time.time_ns()) is not None or not limits.require_reference_price
                or limits.reference_wait_s <= 0):
            return found
        await self._ask_pricer(symbol)

        loop = asyncio.get_running_loop()
        deadline = loop.time() + limits.reference_wait_s
        # Each new quote of the symbol is looked at; a stale one (say, the last close) waits on.
        while reference(self.quotes.get(symbol), limits, time.time_ns()) is None:
            left = deadline - loop.time()
            if left <= 0:
                break
            changed = loop.create_future()
            self._waiting.setdefault(symbol, []).append(changed)
            try:
                await asyncio.wait_for(changed, left)
            except TimeoutError:
                waiting = self._waiting.get(symbol, [])
                if changed in waiting:  # a symbol that never ticks keeps no waits behind
                    waiting.remove(changed)
                break
        return self.quotes.get(symbol)

    async def _ask_pricer(self, symbol: str) -> None:
        try:
            await bus.request(self.nc, subjects.RPC_PRICER_SUBSCRIBE,
                              MarketDataSubscribe(symbols=[symbol], requester=REQUESTER), MD_REPLY,
                              timeout=1.0)
        except (bus.BusError, MessageDecodeError) as exc:  # no pricer: the wait decides
            log.info("pricer_not_answering", symbol=symbol, error=type(exc).__name__)
