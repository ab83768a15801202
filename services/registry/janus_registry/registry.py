"""The registry's working core: the in-memory cache, resolve with single-flight look-ups,
writes (committed, then cached, then announced), peers' events and holdings-driven fill.

The cache mirrors the table: loaded at start, updated after every commit and, on every
replica's ``RegistryEntryWritten`` event, re-read from the table. Writes only ever fill, so
applying copies of a row in any order converges (see :func:`model.absorb`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import structlog

from janus_common import messages as m
from janus_common.messages import Broker, RejectReason
from janus_common.ratelimit import ANONYMOUS, RateLimiter
from janus_common.symbols import canonical

from . import holdings, metrics, resolving
from .lookups import Failed, Unique, describe, error_reply, ib_request
from .model import Entry, Source, Write, absorb, key_values, to_record
from .peers import Lookups, RegistryEvents
from .store import DatabaseError, Store

log = structlog.get_logger()

# A miss answered by one flight: the entry and where it came from, or the error reply.
FlightResult = tuple[Entry, str] | m.RpcError


class Registry:
    def __init__(self, store: Store, lookups: Lookups, events: RegistryEvents | None,
                 *, clock: Callable[[], int] = m.now_ns, lookup_limit: RateLimiter | None = None) -> None:
        self.store = store
        self.lookups = lookups
        self.events = events
        self.clock = clock
        self.lookup_limit = lookup_limit  # per caller: resolves the cache cannot answer
        self.cache: dict[str, Entry] = {}
        self._flights: dict[tuple[str, bool], asyncio.Future[FlightResult]] = {}
        # Tests and peers may wait for a peer's write to reach this cache.
        self.applied: asyncio.Queue[m.RegistryEntryWritten] | None = None

    # --- start-up -----------------------------------------------------------------------

    async def warm(self) -> int:
        for entry in await self.store.load_all():
            self._keep(entry)
        return len(self.cache)

    def _keep(self, entry: Entry) -> Entry:
        """Cache a row read from or written to Postgres (the truth), plus anything a peer's
        event already brought that the read did not see yet."""
        cached = self.cache.get(entry.symbol)
        kept = entry if cached is None else absorb(entry, cached)
        self.cache[entry.symbol] = kept
        return kept

    # --- writes -------------------------------------------------------------------------

    async def write(self, writes: Sequence[Write]) -> list[tuple[Entry, list[str]]]:
        """Fill rows in one transaction; only after the commit touch the cache and announce."""
        results = await self.store.fill_all(writes)
        announce = []
        for w, (entry, filled) in zip(writes, results):
            self._keep(entry)
            if filled:
                log.info("registry_written", symbol=entry.symbol, source=str(w.source), fields=filled)
                announce.append(m.RegistryEntryWritten(record=to_record(entry), source=str(w.source),
                                                       fields=filled))
        if self.events is not None and announce:
            await asyncio.gather(*(self.events.publish(e) for e in announce))
        return results

    async def apply(self, event: m.RegistryEntryWritten) -> None:
        """A write announced by any replica (this one included): re-read that row.

        The event says *which* row changed, never *what* it holds: its record is not cached.
        Whatever an event carries, the cache then serves only what Postgres has (a forged or
        mistaken event changes nothing), and a replica's row is committed before its event goes
        out, so the read sees it. A re-read rather than an eviction because a cached row stays
        true (writes only fill): when Postgres cannot be read, the cached copy is kept and
        serves on, and a resolve that needs a field it lacks reads Postgres itself."""
        symbol = event.record.symbol
        try:
            stored = await self.store.get(symbol)
        except DatabaseError as exc:
            log.warning("registry_event_reread_failed", symbol=symbol, error=str(exc))
        else:
            if stored is not None:
                self._keep(stored)
            else:
                log.warning("registry_event_without_row", symbol=symbol, source=event.source)
        if self.applied is not None:
            self.applied.put_nowait(event)

    # --- resolve ------------------------------------------------------------------------

    async def resolve(self, request: m.ResolveRequest, caller: str = ANONYMOUS) -> m.ResolveReply:
        t = resolving.target(request)
        if isinstance(t, m.RpcError):
            return t
        entry = self.cache.get(t.key.symbol)
        if entry is not None and not resolving.needs_ib(entry, t):
            metrics.CACHE_HITS.inc()
            return resolving.conflict(entry, t) or m.Resolved(
                record=resolving.reply_record(entry, t.broker), source="cache")
        metrics.CACHE_MISSES.inc()
        if entry is None and resolving.by_ticker(t):
            return m.Resolved(record=resolving.ticker_record(t.key), source="ticker")
        result = await self._flight(t, caller)
        if isinstance(result, m.RpcError):
            return result
        entry, source = result
        return resolving.conflict(entry, t) or m.Resolved(
            record=resolving.reply_record(entry, t.broker), source=source)

    async def _flight(self, t: resolving.Target, caller: str = ANONYMOUS) -> FlightResult:
        """One miss handled once however many callers ask at the same time."""
        key = (t.key.symbol, t.broker is Broker.IB)
        flight = self._flights.get(key)
        if flight is None:
            # The caller's budget pays for starting a flight (it may cost a broker look-up), not
            # at the edge: cache hits and joining a flight under way cost the broker nothing.
            refused = self.lookup_limit.charge(caller) if self.lookup_limit is not None else None
            if refused is not None:
                return refused
            flight = asyncio.ensure_future(self._miss(t))
            self._flights[key] = flight
            flight.add_done_callback(lambda _: self._flights.pop(key, None))
        # shield: one impatient caller cancelling must not cancel everyone's look-up.
        return await asyncio.shield(flight)

    async def _miss(self, t: resolving.Target) -> FlightResult:
        symbol, asset_class = t.key.symbol, t.key.asset_class
        try:
            stored = await self.store.get(symbol)
        except DatabaseError as exc:
            # To whoever resolves, a registry without its database is a registry that cannot
            # answer this miss now (cached symbols still resolve): resubmit when it is back.
            return m.RpcError(reason=RejectReason.REGISTRY_UNAVAILABLE,
                              message=f"the symbol registry cannot read its database for {symbol}: {exc}")
        if stored is not None:
            stored = self._keep(stored)
            if not resolving.needs_ib(stored, t):
                return stored, "database"
        outcome = await self.lookups.lookup(Broker.IB, ib_request(symbol, asset_class,
                                                                  currency=t.key.currency),
                                            symbol, asset_class)
        if not isinstance(outcome, Unique):
            log.info("resolve_lookup_refused", symbol=symbol, outcome=type(outcome).__name__)
            return error_reply(outcome, symbol, asset_class)
        write = Write(symbol, asset_class, {**key_values(t.key), **outcome.values}, Source.LOOKUP,
                      self.clock())
        try:
            [(entry, _)] = await self.write([write])
        except DatabaseError as exc:
            return m.RpcError(reason=RejectReason.REGISTRY_UNAVAILABLE,
                              message=f"{symbol} matched uniquely but the registry could not write it: {exc}")
        return self.cache.get(symbol, entry), "lookup"

    # --- holdings-driven fill -----------------------------------------------------------

    async def on_positions(self, snapshot: m.PositionSnapshot, _msg: object = None) -> None:
        """Fill missing entries from an IB account's holdings (unique matches only). A database
        failure raises, so the consumer redelivers the snapshot later."""
        for w in holdings.wanted(snapshot):
            if w.symbol is not None:
                if w.symbol in self.cache:
                    continue
                stored = await self.store.get(w.symbol)
                if stored is not None:
                    self._keep(stored)
                    continue
            outcome = await self.lookups.lookup(Broker.IB, w.request, w.request.symbol, w.asset_class)
            if not isinstance(outcome, Unique):
                level = log.warning if isinstance(outcome, Failed) else log.info
                level("holdings_fill_skipped", account=snapshot.account, symbol=w.request.symbol,
                      outcome=type(outcome).__name__, detail=describe(outcome))
                continue
            key = holdings.key_for(w, outcome.values)
            if key is None or key in self.cache:
                continue
            values = {**key_values(canonical(key, w.asset_class)), **outcome.values}
            await self.write([Write(key, w.asset_class, values, Source.HOLDINGS, self.clock())])
