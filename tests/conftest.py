"""Test servers for the whole suite.

NATS (JetStream) and Postgres come from ``JANUS_TEST_NATS_URL`` / ``JANUS_TEST_PG_DSN`` when
set, else from testcontainers when a Docker engine answers and has (or can pull) the image, else
from the embedded binaries on free loopback ports in a temp dir (``janus_common.servers``). A
server that merely happens to run on the machine (say on 4222 or 5432) is never used.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
import tempfile
import uuid
from pathlib import Path

import asyncpg
import nats.js.errors
import pytest

from janus_common import authz, bus, credentials
from janus_common.config import JanusConfig, load
from janus_common.servers import provide_nats, provide_postgres
from janus_common.streams import ensure_streams


ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class BusIdentities:
    config: JanusConfig
    perms: dict[str, authz.Permissions]
    folder: Path
    conf: Path

    def creds(self, identity: str) -> Path:
        found = credentials.find(self.folder, identity)
        assert found is not None, f"no credentials for {identity}"
        return found


@pytest.fixture(scope="session")
def server_dir():
    # Our own temp dir, not pytest's: pytest prunes old basetemp folders, and a concurrent pytest
    # run on the same machine would delete a live server's data from under it.
    path = Path(tempfile.mkdtemp(prefix="janus-test-servers-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def bus_identities(server_dir):
    """The test server's authorization: every identity of the shipped configuration (each with
    its least-privilege permissions, janus_common.authz) plus ``admin``, the suite's own identity,
    which may do anything (it resets the streams between tests). A connection without
    credentials is refused, as on `make run`."""
    config = load(ROOT / "config.yaml.example", env={})
    perms = authz.identities(config, admin=True)
    folder = server_dir / "creds"
    keys = credentials.ensure(folder, perms)
    conf = server_dir / "nats-authorization.conf"
    conf.write_text(authz.render_conf(authz.authorization(perms, keys)))
    return BusIdentities(config, perms, folder, conf)


@pytest.fixture(scope="session")
def nats_server(server_dir, bus_identities):
    with provide_nats(server_dir / "nats", env_var="JANUS_TEST_NATS_URL",
                      die_with_parent=True, config_file=bus_identities.conf) as provided:
        if provided.kind != "env":
            # Every connection the tests make, in this process or a child, is the admin's unless
            # it names other credentials (bus.connect reads this variable).
            os.environ[credentials.ENV_CREDS] = str(bus_identities.creds("admin"))
        yield provided


@pytest.fixture(autouse=True)
def _restore_nats_creds():
    """A test that points the CLI at a stack of its own (start_stack) borrows that stack's
    operator credentials; the next test gets the suite's back."""
    before = os.environ.get(credentials.ENV_CREDS)
    yield
    if before is None:
        os.environ.pop(credentials.ENV_CREDS, None)
    else:
        os.environ[credentials.ENV_CREDS] = before


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
