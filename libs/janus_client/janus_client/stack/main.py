"""``janus-run`` (what ``make run`` calls): the whole system on one machine.

Embedded NATS and Postgres (or ``JANUS_NATS_URL`` / ``JANUS_PG_DSN``), the simulators and every
installed service under one supervisor: readiness checks, a log file per process under
``.janus/logs/``, a summary of what is up and where, restarts with backoff for a process that
dies, and a clean stop on Ctrl-C / SIGTERM (every child gone within 5 s).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import shutil
import signal
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

import structlog
from nats.aio.client import Client as NATS
from nats.micro import add_service

from janus_common import credentials
from janus_common import logging as janus_logging
from janus_common.authz import SUPERVISOR, authorization, identities, render_conf
from janus_common.bus import connect
from janus_common.config import ConfigError, JanusConfig, load
from janus_common.credentials import ENV_CREDS
from janus_common.embedded import EmbeddedNats, EmbeddedPostgres, port_open
from janus_common.redact import url as redact_url
from janus_common.streams import Topology, TopologyError, ensure_streams
from janus_common.backoff import Backoff

from ..discovery import discover
from .pgroles import ensure_registry_role
from .plan import ProcessSpec, child_env, plan

log = structlog.get_logger()

STOP_GRACE_S = 3.0
EXAMPLE_CONFIG = "config.yaml.example"


def _installed(script: str) -> str | None:
    # Only this environment's scripts: a same-named program elsewhere on PATH is not ours.
    path = Path(sysconfig.get_path("scripts")) / script
    return str(path) if path.exists() else None


def _die_with_parent() -> None:
    # If the supervisor is killed outright, the kernel still stops its children.
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Child:
    def __init__(self, spec: ProcessSpec, logs: Path, env: dict[str, str]) -> None:
        # ``env`` is the child's whole environment (plan.child_env): secrets only where needed.
        self.spec = spec
        self.logfile = logs / f"{spec.name}.log"
        self.env = env
        self.proc: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self.stopping = False

    async def start(self) -> None:
        out = open(self.logfile, "ab")  # noqa: SIM115 - handed to the child
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self.spec.argv, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out,
                env=self.env, start_new_session=True,
                preexec_fn=_die_with_parent)
        finally:
            out.close()
        log.info("process_started", process=self.spec.name, pid=self.proc.pid, log=str(self.logfile))

    async def watch(self) -> None:
        """Restart with backoff when the process dies on its own."""
        pause = Backoff(initial=0.5, cap=30.0)
        while True:
            assert self.proc is not None
            code = await self.proc.wait()
            if self.stopping:
                return
            self.restarts += 1
            delay = pause.next_delay()
            log.error("process_died", process=self.spec.name, exit_code=code, restart_in=delay,
                      restarts=self.restarts)
            await asyncio.sleep(delay)
            if self.stopping:
                return
            await self.start()

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)


async def _ping_count(nc: NATS, service_name: str, expected: int) -> int:
    found = await discover(nc, verb=f"PING.{service_name}", expect=expected, window=0.5)
    return len(found)


async def _wait_ready(children: list[Child], nc: NATS, timeout: float) -> list[str]:
    """Names of the processes not ready within ``timeout``."""
    deadline = time.monotonic() + timeout
    pending = list(children)
    while pending and time.monotonic() < deadline:
        still = []
        expected: dict[str, int] = {}
        for child in pending:
            if child.spec.service_name:
                expected[child.spec.service_name] = sum(
                    1 for c in children if c.spec.service_name == child.spec.service_name)
        counts = {name: await _ping_count(nc, name, n) for name, n in expected.items()}
        for child in pending:
            if child.spec.port is not None and not port_open("127.0.0.1", child.spec.port):
                still.append(child)
            elif child.spec.service_name and counts[child.spec.service_name] < expected[child.spec.service_name]:
                still.append(child)
        pending = still
        if pending:
            await asyncio.sleep(0.2)
    return [c.spec.name for c in pending]


def secure_bus(config: JanusConfig, creds_dir: Path) -> Path:
    """A seed for every identity of the configuration (made once, kept after), and the server's
    authorization from them. A client added to the configuration gets its seed on the next start."""
    perms = identities(config)
    keys = credentials.ensure(creds_dir, perms)
    conf = creds_dir / "authorization.conf"
    conf.write_text(render_conf(authorization(perms, keys)))
    conf.chmod(0o600)
    log.info("nats_authorization_written", identities=len(perms), folder=str(creds_dir))
    return conf


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="janus-run", description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=".janus", help="where data, logs and the config live")
    p.add_argument("--config", default=None, help="default: DATA_DIR/config.yaml, made from config.yaml.example")
    p.add_argument("--nats-port", type=int, default=14222, help="embedded NATS port (0 = any free port)")
    p.add_argument("--pg-port", type=int, default=15432, help="embedded Postgres port (0 = any free port)")
    p.add_argument("--ready-timeout", type=float, default=60.0)
    p.add_argument("--log-level", default="INFO")
    return p


def _prepare_config(data_dir: Path, given: str | None) -> Path:
    if given:
        return Path(given).resolve()
    path = data_dir / "config.yaml"
    if not path.exists():
        example = Path(EXAMPLE_CONFIG)
        if not example.exists():
            raise ConfigError("", f"no {path} and no {EXAMPLE_CONFIG} to copy it from")
        shutil.copyfile(example, path)
    return path.resolve()


async def _run(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir).resolve()
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    config_path = _prepare_config(data_dir, args.config)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    servers: list[EmbeddedNats | EmbeddedPostgres] = []
    env = dict(os.environ)
    try:
        config = load(config_path)
        creds_dir: Path | None
        if os.environ.get("JANUS_NATS_URL"):
            # Someone else's server: its authorization is theirs; we use the credentials we are given.
            nats_url = os.environ["JANUS_NATS_URL"]
            creds_dir = Path(config.nats.credentials_dir) if config.nats.credentials_dir else None
        else:
            creds_dir = data_dir / "nats"
            auth_conf = secure_bus(config, creds_dir)
            nats = EmbeddedNats(data_dir / "nats", port=args.nats_port or None,  # 0: any free port
                                config_file=auth_conf)
            await asyncio.to_thread(nats.start)
            servers.append(nats)
            nats_url = nats.url
        if os.environ.get("JANUS_PG_DSN"):
            pg_dsn = os.environ["JANUS_PG_DSN"]
        else:
            pg = EmbeddedPostgres(data_dir / "postgres", port=args.pg_port or None, auth="scram")
            await asyncio.to_thread(pg.start)
            servers.append(pg)
            pg_dsn = await ensure_registry_role(pg.dsn(), pg.data_dir / "registry.password",
                                                host=pg.host, port=pg.port)
        # JANUS_PG_DSN carries the registry's password: plan.child_env gives it to the registry alone.
        env.update(JANUS_NATS_URL=nats_url, JANUS_CONFIG=str(config_path))
        os.environ.update(JANUS_NATS_URL=nats_url)

        own = credentials.find(creds_dir, SUPERVISOR) if creds_dir else None
        nc = await connect(nats_url, "janus-run", initial_attempts=5, creds=own or os.environ.get(ENV_CREDS))
        await ensure_streams(nc.jetstream(), Topology(replicas=config.nats.replicas))

        def creds_of(spec: ProcessSpec) -> str | None:
            found = credentials.find(creds_dir, spec.identity) if creds_dir and spec.identity else None
            return str(found) if found else None

        children = [Child(spec, logs, child_env(spec, env, config, pg_dsn=pg_dsn, state_dir=str(data_dir),
                                                creds=creds_of(spec)))
                    for spec in plan(config, str(config_path), _installed, state_dir=str(data_dir))]
        supervisor = await add_service(nc, name="janus-supervisor", version="0.1.0",
                                       description="make run: supervises the local Janus stack",
                                       metadata={"processes": ",".join(c.spec.name for c in children)})
        watchers: list[asyncio.Task[None]] = []
        for child in children:
            await child.start()
            watchers.append(asyncio.create_task(child.watch()))
        late = await _wait_ready(children, nc, args.ready_timeout)

        summary = {  # stack.json and the printed summary: no credential in either
            "nats": redact_url(nats_url),
            "postgres": redact_url(pg_dsn),
            "config": str(config_path),
            "logs": str(logs),
            "credentials": str(creds_dir) if creds_dir else None,
            "console": (f"http://{config.web.host}:{config.web.port}"
                        if any(c.spec.service_name == "janus-web" for c in children) else None),
            "processes": {c.spec.name: {"pid": c.proc.pid if c.proc else None,
                                        "ready": c.spec.name not in late,
                                        "port": c.spec.port, "metrics": c.spec.metrics} for c in children},
        }
        (data_dir / "stack.json").write_text(json.dumps(summary, indent=2))
        _print_summary(summary, late)
        log.info("stack_ready", processes=len(children), not_ready=late)

        await stop.wait()
        log.info("stack_stopping")
        for child in children:
            child.stopping = True
        await _stop_children(children)
        for w in watchers:
            w.cancel()
        with contextlib.suppress(Exception):
            await supervisor.stop()
            await nc.close()
        return 0
    except ConfigError as exc:
        log.error("fatal_config_error", key=exc.key, reason=exc.reason)
        return 2
    except TopologyError as exc:
        log.error("streams_not_created", stream=exc.stream, detail=exc.detail, action=exc.action)
        print(f"janus-run: {exc}", file=sys.stderr)
        return 2
    finally:
        for server in reversed(servers):
            await asyncio.to_thread(server.stop)
        log.info("stack_stopped")


async def _stop_children(children: list[Child]) -> None:
    # Services before the simulators, so gateways see their broker go away last.
    for kind in ("service", "simulator"):
        group = [c for c in children if c.spec.kind == kind]
        for child in group:
            child.signal(signal.SIGTERM)
        waits = [c.proc.wait() for c in group if c.proc is not None]
        if not waits:
            continue
        done, pending = await asyncio.wait([asyncio.ensure_future(w) for w in waits], timeout=STOP_GRACE_S / 2)
        if pending:
            for child in group:
                child.signal(signal.SIGKILL)
            await asyncio.wait(pending, timeout=1.0)


def _print_summary(summary: dict[str, Any], late: list[str]) -> None:
    lines = ["", "Janus is up.", f"  NATS      {summary['nats']}", f"  Postgres  {summary['postgres']}",
             f"  config    {summary['config']}", f"  logs      {summary['logs']}/<process>.log"]
    if summary.get("credentials"):
        lines.append(f"  NATS credentials {summary['credentials']}/<identity>.nk (the janus CLI uses operator.nk)")
    if summary.get("console"):
        lines.append(f"  console   {summary['console']}   (the web console: positions, orders, halt/resume)")
    for name, info in summary["processes"].items():
        where = f"127.0.0.1:{info['port']}" if info["port"] else "NATS"
        state = "ready" if info["ready"] else "NOT READY (see its log)"
        metrics = f"  metrics {info['metrics']}" if info.get("metrics") else ""
        lines.append(f"  {name:<20} pid {info['pid']:<8} {where:<18} {state}{metrics}")
    if not summary["processes"]:
        lines.append("  (no services installed yet: only NATS and Postgres)")
    lines.append("Ctrl-C stops everything.\n")
    print("\n".join(lines), file=sys.stderr, flush=True)
    if late:
        log.warning("processes_not_ready", processes=late)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    janus_logging.configure("janus-run", level=args.log_level)
    try:
        return asyncio.run(_run(args))
    except ConfigError as exc:  # before anything started (no configuration to copy)
        log.error("fatal_config_error", key=exc.key, reason=exc.reason)
        print(f"janus-run: {exc.reason}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
