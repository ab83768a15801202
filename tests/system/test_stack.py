"""`make run`'s supervisor (janus-run): comes up, every running service answers $SRV.PING,
and SIGTERM / Ctrl-C stop everything within 5 s with no process left behind."""

from __future__ import annotations

import asyncio
import signal
import sys
import time

import psutil
import pytest

from janus_client.discovery import discover
from janus_common import bus
from stack_runner import JANUS_RUN, start_stack

pytestmark = pytest.mark.system


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
async def test_stack_comes_up_answers_ping_and_stops_within_5s(tmp_path, stop_signal):
    running = await start_stack(tmp_path)
    proc, stack, drain, seen = running.proc, running.summary, running.drain, running.seen
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


async def test_existing_servers_named_in_the_environment_are_used(tmp_path, nc, nats_url, pg_dsn):
    stack = await start_stack(tmp_path, env={"JANUS_NATS_URL": nats_url, "JANUS_PG_DSN": pg_dsn})
    try:
        assert stack.summary["nats"] == nats_url
        children = psutil.Process(stack.proc.pid).children(recursive=True)
        assert not [p for p in children if p.name() in ("nats-server", "postgres")], children
        names = {s.name for s in await discover(nc, verb="INFO", window=2)}
        assert {"janus-supervisor", "janus-registry", "janus-router", "janus-pricer"} <= names
    finally:
        stack.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(stack.proc.wait(), 15)
        await stack.drain
    assert code == 0, stack.tail()


async def test_no_configuration_is_a_clear_error_not_a_traceback(tmp_path):
    proc = await asyncio.create_subprocess_exec(str(JANUS_RUN), "--data-dir", str(tmp_path / "j"), cwd=tmp_path,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    assert b"no config.yaml.example to copy it from" in err and b"Traceback" not in out + err


def test_janus_run_is_installed_in_this_environment():
    assert JANUS_RUN.exists(), sys.executable
