"""Postgres edge: migrations applied once, recorded, safe under concurrent starters."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from janus_common.pg import MigrationError, migrate

pytestmark = pytest.mark.integration


def _write(folder, name, sql):
    (folder / name).write_text(sql)


async def test_migrations_apply_once_and_data_round_trips(pg_dsn, tmp_path):
    _write(tmp_path, "001_things.sql", "CREATE TABLE things (id int PRIMARY KEY, name text NOT NULL);")
    _write(tmp_path, "002_more.sql", "ALTER TABLE things ADD COLUMN note text;")
    _write(tmp_path, "README.md", "not a migration")
    conns = [await asyncpg.connect(pg_dsn) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate(c, tmp_path) for c in conns))
        assert sorted(sum(results, [])) == ["001_things.sql", "002_more.sql"]
        assert await migrate(conns[0], tmp_path) == []
        await conns[0].execute("INSERT INTO things VALUES (1, 'one', 'n')")
        assert await conns[1].fetchval("SELECT name FROM things WHERE id = 1") == "one"
        recorded = await conns[2].fetch("SELECT number, name FROM janus_migrations ORDER BY number")
        assert [(r["number"], r["name"]) for r in recorded] == [(1, "001_things.sql"), (2, "002_more.sql")]
    finally:
        for c in conns:
            await c.close()


async def test_a_failing_migration_is_typed_and_leaves_nothing_half_done(pg_dsn, tmp_path):
    _write(tmp_path, "001_ok.sql", "CREATE TABLE a (id int);")
    _write(tmp_path, "002_bad.sql", "CREATE TABLE b (id int); SELECT no_such_function();")
    conn = await asyncpg.connect(pg_dsn)
    try:
        with pytest.raises(MigrationError) as info:
            await migrate(conn, tmp_path)
        assert info.value.name == "002_bad.sql"
        assert await conn.fetchval("SELECT to_regclass('b')") is None
        assert await conn.fetchval("SELECT count(*) FROM janus_migrations") == 1
    finally:
        await conn.close()
