"""The registry's own Postgres role on the embedded server ``make run`` starts.

The registry is the only service with tables; it connects as ``janus_registry`` (a password
of its own, in a 0600 file next to the superuser's) and owns the ``janus`` database, so it can
run its migrations without the superuser's password ever leaving janus-run.
"""

from __future__ import annotations

from pathlib import Path

import asyncpg
import structlog

from janus_common.pgauth import scram_verifier
from janus_common.private import secret_file

log = structlog.get_logger()

REGISTRY_ROLE = "janus_registry"
REGISTRY_DATABASE = "janus"

# Tables (and the views, should a migration add one) the superuser created in public before
# the registry had a role of its own; their serial/identity sequences follow their table.
_ADOPT_TABLES = """
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.oid::regclass AS rel FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
             AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = '{role}')
  LOOP
    EXECUTE format('ALTER TABLE %s OWNER TO {role}', r.rel);
  END LOOP;
END $$;
"""


async def ensure_registry_role(admin_dsn: str, password_file: Path, *, host: str, port: int) -> str:
    """Create (or bring up to date) the registry's role and database; returns its DSN.
    Idempotent: every start sets the role's password from its file, so a lost file is
    replaced by a new password rather than a locked-out registry."""
    password, generated = secret_file(password_file)
    verifier = scram_verifier(password)
    conn = await asyncpg.connect(admin_dsn)
    try:
        if await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", REGISTRY_ROLE):
            await conn.execute(f"ALTER ROLE {REGISTRY_ROLE} WITH LOGIN PASSWORD '{verifier}'")
        else:
            await conn.execute(f"CREATE ROLE {REGISTRY_ROLE} WITH LOGIN PASSWORD '{verifier}'")
        owner = await conn.fetchval("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1",
                                    REGISTRY_DATABASE)
        if owner is None:
            await conn.execute(f'CREATE DATABASE "{REGISTRY_DATABASE}" OWNER {REGISTRY_ROLE}')
        elif owner != REGISTRY_ROLE:
            # A database from before the registry had its own role: hand it over with its tables.
            await conn.execute(f'ALTER DATABASE "{REGISTRY_DATABASE}" OWNER TO {REGISTRY_ROLE}')
            db = await asyncpg.connect(_with_database(admin_dsn, REGISTRY_DATABASE))
            try:
                await db.execute(_ADOPT_TABLES.format(role=REGISTRY_ROLE))
            finally:
                await db.close()
            log.info("registry_database_adopted", database=REGISTRY_DATABASE, previous_owner=owner,
                     role=REGISTRY_ROLE)
    finally:
        await conn.close()
    log.info("registry_role_ready", role=REGISTRY_ROLE, database=REGISTRY_DATABASE,
             generated=generated)
    return f"postgresql://{REGISTRY_ROLE}:{password}@{host}:{port}/{REGISTRY_DATABASE}"


def _with_database(dsn: str, database: str) -> str:
    base, _, _ = dsn.rpartition("/")
    return f"{base}/{database}"
