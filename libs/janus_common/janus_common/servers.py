"""Where NATS and Postgres come from, for the tests and for ``make run``.

Order of choice: an explicit URL/DSN from the environment; else containers through
testcontainers when a Docker engine answers and has the image or can pull it; else the embedded binaries on free loopback
ports. The tests use the ``JANUS_TEST_*`` variables, the dev stack ``JANUS_NATS_URL`` /
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


NATS_IMAGE = "nats:2.10-alpine"
POSTGRES_IMAGE = "postgres:16-alpine"


def docker_available() -> bool:
    """True when a Docker engine answers (not merely when the client is installed)."""
    if os.environ.get("JANUS_NO_CONTAINERS"):
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


_IMAGES: dict[str, bool] = {}


def image_available(image: str) -> bool:
    """True when the engine has ``image`` or can pull it. An engine with no registry in reach
    (a machine that runs one only for tests/system/test_compose_up.py, say) then leaves the
    servers to the embedded binaries instead of failing every test on a pull. Asked once per
    image and process."""
    if image not in _IMAGES:
        try:
            import docker
            from docker.errors import ImageNotFound

            client = docker.from_env(timeout=10)
            try:
                try:
                    client.images.get(image)
                except ImageNotFound:
                    client.images.pull(image)
                _IMAGES[image] = True
            finally:
                client.close()
        except Exception:
            _IMAGES[image] = False
    return _IMAGES[image]


@contextlib.contextmanager
def provide_nats(data_dir: Path, *, env_var: str, port: int | None = None,
                 containers: bool = True, die_with_parent: bool = False,
                 config_file: Path | None = None) -> Iterator[Provided]:
    """``config_file``: the server's configuration (its authorization, janus_common.authz)."""
    if os.environ.get(env_var):
        yield Provided(os.environ[env_var], "env")
        return
    if containers and docker_available() and image_available(NATS_IMAGE):
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.waiting_utils import wait_for_logs

        container = DockerContainer(NATS_IMAGE).with_exposed_ports(4222)
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
    if containers and docker_available() and image_available(POSTGRES_IMAGE):
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer(POSTGRES_IMAGE, username="postgres", password="postgres",
                               dbname="postgres", driver=None) as c:
            yield Provided(c.get_connection_url(), "container")
        return
    with EmbeddedPostgres(data_dir, port=port, durable=durable, die_with_parent=die_with_parent) as server:
        yield Provided(server.dsn(), "embedded")
