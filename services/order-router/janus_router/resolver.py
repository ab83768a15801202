"""Symbol resolution through the registry's RPC, with a cache kept in step by the registry's
own events: every write the registry makes is stored on ``janus.evt.registry`` in EVENTS, which
the router's follower applies before each decision (the barrier), so a cached record is dropped
before any intent that arrived after the write is decided. A hit costs no RPC; the time bound is
only a backstop."""

from __future__ import annotations

import time
from dataclasses import dataclass

from nats.aio.client import Client as NATS

from janus_common import bus, subjects
from janus_common.messages import (
    RESOLVE_REPLY,
    Broker,
    MessageDecodeError,
    RegistryEntryWritten,
    RegistryRecord,
    RejectReason,
    ResolveRequest,
    RpcError,
)
from janus_common.symbols import AssetClass

from .decide import Rejection


@dataclass
class SymbolResolver:
    nc: NATS
    timeout: float = 4.0
    ttl: float = 600.0

    def __post_init__(self) -> None:
        self._cache: dict[tuple[str, AssetClass | None, Broker], tuple[float, RegistryRecord]] = {}
        self._writes = 0  # registry writes seen: a reply asked for before one is not kept

    async def resolve(self, symbol: str, asset_class: AssetClass | None, broker: Broker) -> RegistryRecord | Rejection:
        key = (symbol, asset_class, broker)
        hit = self._cache.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        request = ResolveRequest(symbol=symbol, asset_class=asset_class, broker=broker)
        writes = self._writes
        try:
            reply = await bus.request(self.nc, subjects.RPC_RESOLVE, request, RESOLVE_REPLY, timeout=self.timeout)
        except (bus.BusError, MessageDecodeError) as exc:
            return Rejection(RejectReason.REGISTRY_UNAVAILABLE,
                             f"the symbol registry did not answer for {symbol} ({type(exc).__name__}); "
                             f"nothing was sent to the broker, resubmit when the registry is back")
        if isinstance(reply, RpcError):
            if reply.reason is RejectReason.AMBIGUOUS_SYMBOL and reply.candidates:
                names = ", ".join(
                    f"{c.ib.primary_exchange or c.ib.exchange}" if c.ib else c.symbol for c in reply.candidates)
                return Rejection(reply.reason, f"{reply.message} (candidates: {names})")
            return Rejection(reply.reason, reply.message)
        if writes == self._writes:  # else the reply may predate the write: used once, not kept
            self._cache[key] = (time.monotonic() + self.ttl, reply.record)
        return reply.record

    def written(self, event: RegistryEntryWritten) -> None:
        """The registry wrote ``event.record``: whatever is cached of that symbol is out of date,
        whichever name it was asked by."""
        self._writes += 1
        symbol = event.record.symbol
        for key in [k for k, (_, record) in self._cache.items() if k[0] == symbol or record.symbol == symbol]:
            del self._cache[key]
