"""Postgres edge shared by services that own tables: a pool and numbered SQL migrations.

Migrations are files ``NNN_name.sql`` in a folder, applied in order at start-up, each in its
own transaction, recorded in ``janus_migrations``. Re-running is a no-op; an advisory lock
makes concurrent starters (registry replicas) apply each migration exactly once.
"""

from __future__ import annotations

import re
from pathlib import Path

import asyncpg
import structlog

log = structlog.get_logger()

_MIGRATION_RE = re.compile(r"^(\d{3,})_[A-Za-z0-9_]+\.sql$")
_LOCK_KEY = 0x4A414E5553  # "JANUS"


class MigrationError(RuntimeError):
    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"migration {name}: {reason}")


def migration_files(folder: Path) -> list[tuple[int, str, Path]]:
    found = []
    for path in sorted(folder.iterdir()):
        m = _MIGRATION_RE.match(path.name)
        if m:
            found.append((int(m.group(1)), path.name, path))
    numbers = [n for n, _, _ in found]
    if len(set(numbers)) != len(numbers):
        raise MigrationError(str(folder), "two migrations share a number")
    return found


async def migrate(conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy, folder: Path) -> list[str]:
    """Apply pending migrations from ``folder``; returns the names applied now."""
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS janus_migrations (
                   number integer PRIMARY KEY,
                   name text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {r["number"] for r in await conn.fetch("SELECT number FROM janus_migrations")}
        for number, name, path in migration_files(folder):
            if number in done:
                continue
            try:
                async with conn.transaction():
                    await conn.execute(path.read_text())
                    await conn.execute(
                        "INSERT INTO janus_migrations (number, name) VALUES ($1, $2)", number, name)
            except asyncpg.PostgresError as exc:
                raise MigrationError(name, str(exc)) from exc
            log.info("migration_applied", migration=name)
            applied_now.append(name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    return await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size)
