"""Test servers for the whole suite.

NATS (JetStream) and Postgres come from ``JANUS_TEST_NATS_URL`` / ``JANUS_TEST_PG_DSN`` when
set, else from testcontainers when a Docker engine answers, else from the embedded binaries
on free loopback ports in a temp dir (``janus_common.servers``). A server that merely happens
to run on the machine (say on 4222 or 5432) is never used.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path

import asyncpg
import nats.js.errors
import pytest

from janus_common import bus
from janus_common.servers import provide_nats, provide_postgres
from janus_common.streams import ensure_streams


@pytest.fixture(scope="session")
def server_dir():
    # Our own temp dir, not pytest's: pytest prunes old basetemp folders, and a concurrent pytest
    # run on the same machine would delete a live server's data from under it.
    path = Path(tempfile.mkdtemp(prefix="janus-test-servers-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def nats_server(server_dir):
    with provide_nats(server_dir / "nats", env_var="JANUS_TEST_NATS_URL",
                      die_with_parent=True) as provided:
        yield provided


@pytest.fixture(scope="session")
def pg_server(server_dir):
    # Trust auth (EmbeddedPostgres's default) is fine here, unlike `make run`'s server: a fresh
    # temp dir, a free loopback port, gone when the session ends, reachable only by this run.
    with provide_postgres(server_dir / "pg", env_var="JANUS_TEST_PG_DSN",
                          durable=False, die_with_parent=True) as provided:
        yield provided


@pytest.fixture(scope="session")
def nats_url(nats_server) -> str:
    return nats_server.url


async def _reset_jetstream(js) -> None:
    # Each test starts from empty streams: tests never see each other's messages.
    for info in await js.streams_info():
        try:
            await js.delete_stream(info.config.name)
        except nats.js.errors.NotFoundError:
            pass


@pytest.fixture
async def nc(nats_url):
    client = await bus.connect(nats_url, "pytest", initial_attempts=3)
    await _reset_jetstream(client.jetstream())
    yield client
    if not client.is_closed:
        await client.close()


@pytest.fixture
async def js(nc):
    context = nc.jetstream()
    await ensure_streams(context)
    return context


@pytest.fixture
async def pg_dsn(pg_server):
    """A fresh database per test on the session's Postgres server."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg_server.url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base, _, _ = pg_server.url.rpartition("/")
    yield f"{base}/{name}"
    admin = await asyncpg.connect(pg_server.url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
