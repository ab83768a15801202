"""`make run`'s Postgres asks for passwords: the embedded server as janus-run sets it up refuses
TCP clients without the right password, lets the registry in as its own role (which can run
its migrations), keeps the passwords in private files, and upgrades a data dir an earlier
version initialised with trust auth. Private folders refuse what others can reach."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import asyncpg
import pytest

from janus_client.stack.pgroles import REGISTRY_ROLE, ensure_registry_role
from janus_common.embedded import EmbeddedPostgres
from janus_common.pg import migrate
from janus_common.private import PrivatePathError, private_dir, secret_file

pytestmark = pytest.mark.integration

MIGRATIONS = Path(__file__).resolve().parents[2] / "services/registry/janus_registry/migrations"
REFUSED = (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def _refused(dsn: str) -> None:
    with pytest.raises(REFUSED):
        conn = await asyncpg.connect(dsn)
        await conn.close()


async def _registry_works(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT current_user") == REGISTRY_ROLE
        await migrate(conn, MIGRATIONS)
        await conn.execute("INSERT INTO symbol_registry (symbol, asset_class) VALUES ('AAPL', 'EQUITY')"
                           " ON CONFLICT DO NOTHING")
        assert await conn.fetchval("SELECT count(*) FROM symbol_registry") >= 1
        assert not await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    finally:
        await conn.close()


async def _start(server: EmbeddedPostgres) -> None:
    await asyncio.to_thread(server.start)


async def test_make_runs_postgres_wants_passwords_and_the_registry_has_its_own(tmp_path):
    data = tmp_path / "postgres"
    server = EmbeddedPostgres(data, auth="scram")
    await _start(server)
    try:
        where = f"{server.host}:{server.port}"
        registry_dsn = await ensure_registry_role(server.dsn(), data / "registry.password",
                                                  host=server.host, port=server.port)
        password = (data / "registry.password").read_text().strip()
        assert registry_dsn == f"postgresql://{REGISTRY_ROLE}:{password}@{where}/janus"
        await _refused(f"postgresql://postgres@{where}/postgres")
        await _refused(f"postgresql://postgres:wrong@{where}/postgres")
        await _refused(f"postgresql://{REGISTRY_ROLE}@{where}/janus")
        await _refused(f"postgresql://{REGISTRY_ROLE}:wrong@{where}/janus")
        await _registry_works(registry_dsn)
        assert _mode(data) == 0o700
        assert _mode(data / "superuser.password") == _mode(data / "registry.password") == 0o600
        # Idempotent: a second start keeps the same passwords working.
        assert await ensure_registry_role(server.dsn(), data / "registry.password",
                                          host=server.host, port=server.port) == registry_dsn
    finally:
        server.stop()
    again = EmbeddedPostgres(data, auth="scram")
    await _start(again)
    try:
        await _registry_works(registry_dsn.replace(where, f"{again.host}:{again.port}"))
    finally:
        again.stop()


async def test_a_data_dir_initialised_with_trust_is_upgraded_and_its_tables_handed_over(tmp_path):
    data = tmp_path / "postgres"
    old = EmbeddedPostgres(data)  # as janus-run made it before: trust, the superuser owns janus
    await _start(old)
    try:
        admin = await asyncpg.connect(old.dsn())
        await admin.execute('CREATE DATABASE "janus"')
        await admin.close()
        conn = await asyncpg.connect(old.dsn("janus"))
        await migrate(conn, MIGRATIONS)
        await conn.execute("INSERT INTO symbol_registry (symbol, asset_class) VALUES ('MSFT', 'EQUITY')")
        await conn.close()
    finally:
        old.stop()
    assert not (data / "superuser.password").exists()

    upgraded = EmbeddedPostgres(data, auth="scram")
    await _start(upgraded)
    try:
        where = f"{upgraded.host}:{upgraded.port}"
        await _refused(f"postgresql://postgres@{where}/postgres")
        assert "trust" not in [line.split()[-1] for line in (data / "pgdata/pg_hba.conf").read_text().splitlines()
                               if line.startswith("host")]
        registry_dsn = await ensure_registry_role(upgraded.dsn(), data / "registry.password",
                                                  host=upgraded.host, port=upgraded.port)
        await _registry_works(registry_dsn)  # migrations already applied; the old row is its own
        conn = await asyncpg.connect(registry_dsn)
        try:
            assert await conn.fetchval("SELECT count(*) FROM symbol_registry WHERE symbol = 'MSFT'") == 1
            await conn.execute("UPDATE symbol_registry SET exchange = 'SMART' WHERE symbol = 'MSFT'")
        finally:
            await conn.close()
    finally:
        upgraded.stop()


def test_private_folders_and_secret_files(tmp_path):
    mine = private_dir(tmp_path / "a" / "tokens")
    assert _mode(mine) == 0o700 and private_dir(mine) == mine
    value, made = secret_file(mine / "pw")
    assert made and _mode(mine / "pw") == 0o600 and secret_file(mine / "pw") == (value, False)

    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    with pytest.raises(PrivatePathError, match="other users"):
        private_dir(shared)
    (mine / "loose").write_text("x")
    (mine / "loose").chmod(0o644)
    with pytest.raises(PrivatePathError):
        secret_file(mine / "loose")
    (tmp_path / "link").symlink_to(mine)
    with pytest.raises(PrivatePathError, match="not a plain folder"):
        private_dir(tmp_path / "link")
    if os.geteuid() == 0:  # only root can give a folder away to show the ownership check
        theirs = tmp_path / "theirs"
        theirs.mkdir(mode=0o700)
        os.chown(theirs, 65534, 65534)
        with pytest.raises(PrivatePathError, match="owned by uid 65534"):
            private_dir(theirs)
