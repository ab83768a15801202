"""Reference prices for the risk checks: the pricer's latest ``Quote`` per symbol from the
``janus_prices`` KV bucket. Adapter.

A symbol nobody holds may have no price yet: then the router asks the pricer to stream it
(``janus.rpc.pricer.subscribe``, the same request any client makes) and waits, bounded by
``risk.reference_wait_s``, for the pricer to write a fresh one. Whatever it finds, the pure
check (``risk.assess``) decides whether it is fresh enough.
"""

from __future__ import annotations

import asyncio
import time

import msgspec
import nats.errors
import nats.js.errors
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

_KV_ERRORS = (nats.errors.Error, nats.js.errors.Error, asyncio.TimeoutError)


class ReferencePrices:
    def __init__(self, nc: NATS, js: JetStreamContext) -> None:
        self.nc = nc
        self.js = js
        self._kv: KeyValue | None = None

    async def _bucket(self) -> KeyValue:
        if self._kv is None:
            self._kv = await self.js.key_value(KV_PRICES)
        return self._kv

    async def quote(self, symbol: str, limits: RiskConfig) -> Quote | None:
        try:
            kv = await self._bucket()
            found = await self._get(kv, symbol)
        except _KV_ERRORS as exc:
            log.warning("reference_price_unreadable", symbol=symbol, error=type(exc).__name__)
            return None
        if (reference(found, limits, time.time_ns()) is not None or not limits.require_reference_price
                or limits.reference_wait_s <= 0):
            return found
        await self._ask_pricer(symbol)
        return await self._wait_fresh(kv, symbol, limits) or found

    async def _get(self, kv: KeyValue, symbol: str) -> Quote | None:
        try:
            entry = await kv.get(symbol)
        except nats.js.errors.KeyNotFoundError:
            return None
        return _decode(symbol, entry.value)

    async def _ask_pricer(self, symbol: str) -> None:
        try:
            await bus.request(self.nc, subjects.RPC_PRICER_SUBSCRIBE,
                              MarketDataSubscribe(symbols=[symbol], requester=REQUESTER), MD_REPLY,
                              timeout=1.0)
        except (bus.BusError, MessageDecodeError) as exc:  # no pricer: the wait below decides
            log.info("pricer_not_answering", symbol=symbol, error=type(exc).__name__)

    async def _wait_fresh(self, kv: KeyValue, symbol: str, limits: RiskConfig) -> Quote | None:
        deadline = time.monotonic() + limits.reference_wait_s
        latest: Quote | None = None
        try:
            watcher = await kv.watch(symbol)
        except _KV_ERRORS as exc:
            log.warning("reference_price_unwatchable", symbol=symbol, error=type(exc).__name__)
            return None
        try:
            while (left := deadline - time.monotonic()) > 0:
                try:
                    entry = await watcher.updates(timeout=left)
                except nats.errors.TimeoutError:
                    break
                if entry is None or entry.value is None:
                    continue  # the end-of-history marker, or a delete
                latest = _decode(symbol, entry.value) or latest
                if reference(latest, limits, time.time_ns()) is not None:
                    break
        finally:
            await watcher.stop()
        return latest


def _decode(symbol: str, data: bytes | None) -> Quote | None:
    if not data:
        return None
    try:
        return QUOTES.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        log.error("reference_price_undecodable", symbol=symbol, reason=str(exc))
        return None
