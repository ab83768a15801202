"""The Postgres edge: the ``symbol_registry`` table read and filled through an asyncpg pool.

Every write goes through :func:`model.fill` on the row read ``FOR UPDATE``, so concurrent
writers (replicas, harmony, holdings) can only ever add fields, never overwrite one. Any
database failure surfaces as :class:`DatabaseError`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import asyncpg
import msgspec

from janus_common.pg import migrate
from janus_common.symbols import AssetClass

from .model import FIELDS, Entry, Stamp, Write, fill

MIGRATIONS = Path(__file__).parent / "migrations"
COLUMNS: dict[str, str] = {f: f.replace(".", "_") for f in FIELDS}
_SELECT = f"SELECT symbol, asset_class, {', '.join(COLUMNS.values())}, provenance FROM symbol_registry"
_ACQUIRE_TIMEOUT = 5.0

# What a dead, restarting or unreachable server raises through asyncpg.
DB_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.exceptions.InternalClientError,
    OSError, asyncio.TimeoutError,
)


class DatabaseError(RuntimeError):
    """The registry table could not be read or written; nothing of the write was kept."""

    def __init__(self, action: str, exc: BaseException) -> None:
        self.action = action
        self.error = type(exc).__name__
        super().__init__(f"database {action} failed: {type(exc).__name__}: {exc}".strip())


_stamps = msgspec.json.Decoder(dict[str, Stamp])


def entry_of(row: asyncpg.Record) -> Entry:
    values = {f: row[c] for f, c in COLUMNS.items() if row[c] is not None}
    return Entry(symbol=row["symbol"], asset_class=AssetClass(row["asset_class"]), values=values,
                 provenance=_stamps.decode(row["provenance"]))


async def _fill(
    conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy, w: Write
) -> tuple[Entry, list[str]]:
    for _ in range(2):  # a second pass only when another writer inserted the row meanwhile
        row = await conn.fetchrow(f"{_SELECT} WHERE symbol = $1 FOR UPDATE", w.symbol)
        current = entry_of(row) if row is not None else None
        entry, filled = fill(current, w.symbol, w.asset_class, w.values, w.source, w.at)
        if not filled:
            return entry, []
        cols = [COLUMNS[f] for f in filled]
        args = [entry.values[f] for f in filled]
        stamps = msgspec.json.encode({f: entry.provenance[f] for f in filled}).decode()
        if current is None:
            placeholders = ", ".join(f"${i}" for i in range(4, 4 + len(cols)))
            status = await conn.execute(
                f"INSERT INTO symbol_registry (symbol, asset_class, provenance, {', '.join(cols)}) "
                f"VALUES ($1, $2, $3::jsonb, {placeholders}) ON CONFLICT (symbol) DO NOTHING",
                w.symbol, str(w.asset_class), stamps, *args)
            if status.endswith(" 1"):
                return entry, filled
            continue
        sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(cols, start=3))
        await conn.execute(
            f"UPDATE symbol_registry SET provenance = provenance || $2::jsonb, updated_at = now(), "
            f"{sets} WHERE symbol = $1", w.symbol, stamps, *args)
        return entry, filled
    raise DatabaseError("write", RuntimeError(f"row {w.symbol} vanished during the write"))


class Store:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def migrate(self) -> list[str]:
        async with self.pool.acquire(timeout=_ACQUIRE_TIMEOUT) as conn:
            return await migrate(conn, MIGRATIONS)

    async def load_all(self) -> list[Entry]:
        try:
            async with self.pool.acquire(timeout=_ACQUIRE_TIMEOUT) as conn:
                return [entry_of(r) for r in await conn.fetch(f"{_SELECT} ORDER BY symbol")]
        except DB_ERRORS as exc:
            raise DatabaseError("read", exc) from exc

    async def get(self, symbol: str) -> Entry | None:
        try:
            async with self.pool.acquire(timeout=_ACQUIRE_TIMEOUT) as conn:
                row = await conn.fetchrow(f"{_SELECT} WHERE symbol = $1", symbol)
        except DB_ERRORS as exc:
            raise DatabaseError("read", exc) from exc
        return entry_of(row) if row is not None else None

    async def fill(self, w: Write) -> tuple[Entry, list[str]]:
        return (await self.fill_all([w]))[0]

    async def fill_all(self, writes: Sequence[Write]) -> list[tuple[Entry, list[str]]]:
        """Every write in ONE transaction: all of them are kept, or none."""
        try:
            async with self.pool.acquire(timeout=_ACQUIRE_TIMEOUT) as conn:
                async with conn.transaction():
                    return [await _fill(conn, w) for w in writes]
        except DatabaseError:
            raise
        except DB_ERRORS as exc:
            raise DatabaseError("write", exc) from exc
