"""Harmony, run on demand: for each broker type with a connected gateway, look up the entries
that lack fields of that broker, then write every unique result in ONE transaction.

Look-ups happen before the transaction opens (no row lock is held across the network); a
database failure rolls the whole run back and the reply says so with ``ok=False``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from janus_common import messages as m
from janus_common.messages import Broker, RejectReason

from . import harmony
from .lookups import Failed, Outcome, Unique
from .model import Entry, Source, Write
from .registry import Registry
from .store import DatabaseError

log = structlog.get_logger()

GIVE_UP_AFTER = 3

Discover = Callable[[], Awaitable[set[Broker]]]


class Harmonizer:
    def __init__(self, registry: Registry, discover: Discover, *, concurrency: int = 16) -> None:
        self.registry = registry
        self.discover = discover
        self.concurrency = concurrency
        self._lock = asyncio.Lock()  # one run at a time per replica

    async def run(self, request: m.HarmonyRequest) -> m.HarmonySummary:
        async with self._lock:
            return await self._run(request)

    async def _run(self, request: m.HarmonyRequest) -> m.HarmonySummary:
        brokers = sorted(await self.discover())
        log.info("harmony_started", requested_by=request.requested_by, brokers=brokers)
        try:
            entries = await self.registry.store.load_all()
        except DatabaseError as exc:
            return m.HarmonySummary(ok=False, per_broker=harmony.summarize(brokers, [], {}),
                                    error=str(exc))
        jobs = [(b, e) for b in brokers for e in entries if harmony.missing(e, b)]
        checked = await self._lookups(jobs)

        # One write per symbol, both brokers' unique values together, in symbol order (two
        # runs on two replicas lock rows in the same order and cannot deadlock).
        found: dict[str, tuple[Entry, dict[str, Any]]] = {}
        for (broker, entry), c in zip(jobs, checked):
            if isinstance(c.outcome, Unique):
                found.setdefault(entry.symbol, (entry, {}))[1].update(c.outcome.values)
        now = self.registry.clock()
        writes = [Write(sym, entry.asset_class, values, Source.HARMONY, now)
                  for sym, (entry, values) in sorted(found.items())]
        try:
            results = await self.registry.write(writes) if writes else []
        except DatabaseError as exc:
            log.error("harmony_aborted", error=exc.error, detail=str(exc))
            return m.HarmonySummary(ok=False, per_broker=harmony.summarize(brokers, checked, {}),
                                    error=f"{exc}; nothing was written")
        filled: dict[Broker, int] = {}
        for _, fields in results:
            for broker in brokers:
                if any(f.startswith(f"{broker}.") for f in fields):
                    filled[broker] = filled.get(broker, 0) + 1
        summary = m.HarmonySummary(ok=True, per_broker=harmony.summarize(brokers, checked, filled))
        log.info("harmony_done", per_broker={b: str(c) for b, c in summary.per_broker.items()})
        return summary

    async def _lookups(self, jobs: list[tuple[Broker, Entry]]) -> list[harmony.Checked]:
        gate = asyncio.Semaphore(self.concurrency)
        # A gateway that fails look-ups in a row is skipped for the rest of the run: one dead
        # gateway must not cost a look-up timeout per entry.
        failures_in_a_row: dict[Broker, int] = {}

        async def one(broker: Broker, entry: Entry) -> harmony.Checked:
            async with gate:
                if failures_in_a_row.get(broker, 0) >= GIVE_UP_AFTER:
                    outcome: Outcome = Failed(RejectReason.BROKER_UNAVAILABLE,
                                              f"skipped: the {broker} gateway failed "
                                              f"{GIVE_UP_AFTER} look-ups in a row")
                else:
                    outcome = await self.registry.lookups.lookup(
                        broker, harmony.request_for(entry, broker), entry.symbol, entry.asset_class)
                    down = isinstance(outcome, Failed) and \
                        outcome.reason is RejectReason.BROKER_UNAVAILABLE
                    failures_in_a_row[broker] = failures_in_a_row.get(broker, 0) + 1 if down else 0
            return harmony.Checked(broker, entry.symbol, outcome)

        return list(await asyncio.gather(*(one(b, e) for b, e in jobs)))
