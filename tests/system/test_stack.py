"""`make run`'s supervisor (janus-run): comes up, every running service answers $SRV.PING,
SIGTERM / Ctrl-C stop everything within 5 s with no process left behind, existing servers are
used when named, and a restart keeps both the history and the simulated brokers' books."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time

import psutil
import pytest
from nats.js.api import DeliverPolicy

from cli_runner import janus
from janus_client.discovery import discover
from janus_common import bus, subjects
from janus_common import messages as m
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


async def _snapshot_after(js, account: str, after_ns: int) -> m.PositionSnapshot:
    """The first position snapshot the broker reported after ``after_ns``."""
    found: asyncio.Queue = asyncio.Queue()

    async def on_msg(msg) -> None:
        snapshot = m.POSITION_EVENTS.decode(msg.data)
        if snapshot.ts > after_ns:
            await found.put(snapshot)

    sub = await js.subscribe(subjects.evt_position(account), stream="EVENTS", ordered_consumer=True,
                             deliver_policy=DeliverPolicy.ALL, cb=on_msg)
    try:
        return await asyncio.wait_for(found.get(), 60)
    finally:
        await sub.unsubscribe()


async def test_a_restarted_stack_keeps_the_brokers_books_and_the_history(tmp_path):
    """`make run` twice on one data dir: EVENTS and the simulated brokers agree after the restart."""
    stack = await start_stack(tmp_path)
    try:
        for account in ("ib-1", "wb-1"):
            code, out = await janus(stack.nats_url, "order", "--account", account, "BUY", "AAPL", "7", "--wait",
                                    timeout=90)
            assert code == 0, out
    finally:
        stack.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(stack.proc.wait(), 15) == 0
        await stack.drain
    restarted_at = time.time_ns()
    stack = await start_stack(tmp_path)
    try:
        nc = await bus.connect(stack.nats_url, "restart-test", initial_attempts=3)
        try:
            for account in ("ib-1", "wb-1"):
                snapshot = await _snapshot_after(nc.jetstream(), account, restarted_at)
                assert [(p.symbol, p.qty) for p in snapshot.positions] == [("AAPL", 7)], account
        finally:
            await nc.close()
        code, out = await janus(stack.nats_url, "--json", "audit", "replay", timeout=120)
        report = json.loads(out)["report"]
        assert code == 0 and report["intents"] == 2 and report["position_differences"] == [], report
    finally:
        stack.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(stack.proc.wait(), 15) == 0
        await stack.drain


async def test_no_configuration_is_a_clear_error_not_a_traceback(tmp_path):
    proc = await asyncio.create_subprocess_exec(str(JANUS_RUN), "--data-dir", str(tmp_path / "j"), cwd=tmp_path,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    assert b"no config.yaml.example to copy it from" in err and b"Traceback" not in out + err


def test_janus_run_is_installed_in_this_environment():
    assert JANUS_RUN.exists(), sys.executable
