"""`make run`'s supervisor (janus-run): comes up, every running service answers $SRV.PING,
and SIGTERM / Ctrl-C stop everything within 5 s with no process left behind."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import sysconfig
import time
from pathlib import Path

import psutil
import pytest
import yaml

from janus_client.discovery import discover
from janus_common import bus
from janus_common.embedded import free_port

pytestmark = pytest.mark.system

ROOT = Path(__file__).resolve().parents[2]
JANUS_RUN = Path(sysconfig.get_path("scripts")) / "janus-run"


def _config(tmp_path: Path) -> Path:
    raw = yaml.safe_load((ROOT / "config.yaml.example").read_text())
    # Free ports, so a developer's own `make run` on the default ports is left alone.
    raw["simulators"] = {"ib_port": free_port(), "webull_port": free_port(), "webull_grpc_port": free_port()}
    for account in raw["accounts"].values():
        if account.get("ib"):
            account["ib"]["port"] = raw["simulators"]["ib_port"]
        if account.get("webull"):
            account["webull"]["port"] = raw["simulators"]["webull_port"]
            account["webull"]["grpc_port"] = raw["simulators"]["webull_grpc_port"]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


async def _start_stack(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k not in ("JANUS_NATS_URL", "JANUS_PG_DSN")}
    proc = await asyncio.create_subprocess_exec(
        str(JANUS_RUN), "--data-dir", str(tmp_path / "janus"), "--config", str(_config(tmp_path)),
        "--nats-port", "0", "--pg-port", "0", "--ready-timeout", "90",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env, cwd=ROOT)
    seen: list[str] = []

    async def until_ready() -> None:
        while True:
            line = await proc.stdout.readline()
            if not line:
                raise AssertionError("janus-run exited before it was ready:\n" + "".join(seen))
            seen.append(line.decode(errors="replace"))
            if b'"stack_ready"' in line:
                return

    await asyncio.wait_for(until_ready(), 120)
    # Keep draining its output so it never blocks on a full pipe.
    drain = asyncio.create_task(_drain(proc, seen))
    stack = json.loads((tmp_path / "janus" / "stack.json").read_text())
    return proc, stack, drain, seen


async def _drain(proc, seen: list[str]) -> None:
    while line := await proc.stdout.readline():
        seen.append(line.decode(errors="replace"))


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
async def test_stack_comes_up_answers_ping_and_stops_within_5s(tmp_path, stop_signal):
    proc, stack, drain, seen = await _start_stack(tmp_path)
    tree = psutil.Process(proc.pid).children(recursive=True)
    try:
        assert all(p["ready"] for p in stack["processes"].values()), stack

        expected = 1 + sum(1 for name in stack["processes"] if not name.endswith("-sim"))
        nc = await bus.connect(stack["nats"], "stack-test", initial_attempts=3)
        try:
            pings = await discover(nc, verb="PING", expect=expected, window=10)
            infos = await discover(nc, verb="INFO", expect=expected, window=10)
        finally:
            await nc.close()
        names = [s.name for s in infos]
        assert "janus-supervisor" in names
        assert len(pings) == expected, (names, stack)
        assert {s.id for s in pings} == {s.id for s in infos}
    finally:
        started = time.monotonic()
        proc.send_signal(stop_signal)
        code = await asyncio.wait_for(proc.wait(), 10)
        elapsed = time.monotonic() - started
        await drain
    assert code == 0, "".join(seen[-20:])
    assert elapsed < 5.0, f"stopped in {elapsed:.2f}s"
    assert tree, "the supervisor started no child processes (NATS and Postgres at least)"
    gone, alive = psutil.wait_procs(tree, timeout=1)
    assert not [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE], alive


def test_janus_run_is_installed_in_this_environment():
    assert JANUS_RUN.exists(), sys.executable
