"""Where NATS and Postgres come from, for the tests and for ``make run``.

Order of choice: an explicit URL/DSN from the environment; else, when asked for with
``JANUS_CONTAINERS=1`` and a Docker engine answers, containers through testcontainers (their
images must be pullable or already present); else the embedded binaries on free loopback ports.
Containers are opt-in: an engine on a machine that reaches no image registry (a build host,
CI) must not turn a green suite red. The tests use the ``JANUS_TEST_*`` variables, the dev stack ``JANUS_NATS_URL`` /
``JANUS_PG_DSN`` — never a server that merely happens to run on the machine.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import structlog

from .embedded import EmbeddedNats, EmbeddedPostgres

log = structlog.get_logger()


@dataclass(frozen=True)
class Provided:
    url: str
    kind: str  # env, container, embedded


def docker_available() -> bool:
    """True when containers are asked for (``JANUS_CONTAINERS=1``) and a Docker engine answers
    (not merely when the client is installed)."""
    if os.environ.get("JANUS_NO_CONTAINERS") or os.environ.get("JANUS_CONTAINERS") != "1":
        return False
    try:
        import docker  # testcontainers' dependency

        client = docker.from_env(timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


@contextlib.contextmanager
def provide_nats(data_dir: Path, *, env_var: str, port: int | None = None,
                 containers: bool = True, die_with_parent: bool = False,
                 config_file: Path | None = None) -> Iterator[Provided]:
    """``config_file``: the server's configuration (its authorization, janus_common.authz)."""
    if os.environ.get(env_var):
        yield Provided(os.environ[env_var], "env")
        return
    if containers and docker_available():
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.waiting_utils import wait_for_logs

        container = DockerContainer("nats:2.10-alpine").with_exposed_ports(4222)
        if config_file is not None:
            container = container.with_volume_mapping(str(config_file), "/etc/nats/janus.conf", "ro") \
                .with_command("-js -c /etc/nats/janus.conf")
        else:
            container = container.with_command("-js")
        with container as c:
            wait_for_logs(c, "Server is ready", timeout=30)
            yield Provided(f"nats://{c.get_container_host_ip()}:{c.get_exposed_port(4222)}", "container")
        return
    with EmbeddedNats(data_dir, port=port, die_with_parent=die_with_parent, config_file=config_file) as server:
        yield Provided(server.url, "embedded")


@contextlib.contextmanager
def provide_postgres(data_dir: Path, *, env_var: str, port: int | None = None,
                     containers: bool = True, durable: bool = True,
                     die_with_parent: bool = False) -> Iterator[Provided]:
    if os.environ.get(env_var):
        yield Provided(os.environ[env_var], "env")
        return
    if containers and docker_available():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", username="postgres", password="postgres",
                               dbname="postgres", driver=None) as c:
            yield Provided(c.get_connection_url(), "container")
        return
    with EmbeddedPostgres(data_dir, port=port, durable=durable, die_with_parent=die_with_parent) as server:
        yield Provided(server.dsn(), "embedded")
