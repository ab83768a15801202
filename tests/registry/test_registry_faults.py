"""Faults and the real process: Postgres stopped mid-harmony; ``janus-registry`` as a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from janus_common import subjects
from janus_common import messages as m
from janus_common.embedded import EmbeddedPostgres
from janus_common.messages import RejectReason
from registry_helpers import NQ_MONTH, harmony, registry_config, resolve, rows

pytestmark = pytest.mark.integration

SEED = [{"symbol": s} for s in ("AAPL", "MSFT", "TSLA")] + [
    {"symbol": "BRK.B", "ib": {"symbol": "BRK B", "sec_type": "STK", "primary_exchange": "NYSE"}}]


async def test_postgres_stopped_mid_harmony_fails_the_run_and_leaves_the_table_as_it_was(
        nc, ib_gateway, registry_factory, tmp_path):
    server = EmbeddedPostgres(tmp_path / "pg", durable=False)
    await asyncio.to_thread(server.start)
    try:
        dsn = server.dsn()
        await registry_factory(dsn, SEED)
        before = await rows(dsn)
        ib_gateway.hold = asyncio.Event()
        pending = asyncio.create_task(harmony(nc))
        await asyncio.wait_for(ib_gateway.first_call.wait(), 10)
        await asyncio.to_thread(server.stop)  # look-ups under way, nothing written yet
        ib_gateway.hold.set()
        summary = await asyncio.wait_for(pending, 30)
        assert isinstance(summary, m.HarmonySummary) and not summary.ok
        assert "database write failed" in summary.error and "nothing was written" in summary.error
        assert summary.per_broker["ib"].checked == 4

        # Still serving: a cached resolve answers, unchanged by the failed run.
        cached = await resolve(nc, "BRK.B")
        assert isinstance(cached, m.Resolved) and cached.record.ib.con_id is None
        # A miss needs the database: a typed error, not a hang or a crash.
        miss = await resolve(nc, "QQQ")
        assert isinstance(miss, m.RpcError) and miss.reason is RejectReason.REGISTRY_UNAVAILABLE
        assert "cannot read its database" in miss.message

        ib_gateway.hold = None
        await asyncio.to_thread(server.start)  # same data directory and port
        assert await rows(dsn) == before  # exactly as before: nothing half-written
        again = await harmony(nc)
        assert again.ok and again.per_broker["ib"].filled == 4
        assert all(r["ib_con_id"] for r in await rows(dsn))
    finally:
        await asyncio.to_thread(server.stop)


async def _read_until(stream: asyncio.StreamReader, needle: str | None, seen: list[str]) -> None:
    """Collect log lines until one holds ``needle`` (``None``: until the stream ends)."""
    while True:
        line = await stream.readline()
        if not line:
            if needle is None:
                return
            raise AssertionError("janus-registry exited before it was ready:\n" + "".join(seen[-30:]))
        seen.append(line.decode(errors="replace"))
        if needle is not None and needle in seen[-1]:
            return


async def test_janus_registry_process_answers_ping_and_resolve_and_stops_on_sigterm(
        nc, js, nats_url, pg_dsn, ib_gateway, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps(registry_config(nats_url, "postgresql://unused@127.0.0.1:1/x", SEED)))
    script = Path(sys.executable).parent / "janus-registry"
    proc = await asyncio.create_subprocess_exec(
        str(script), "--config", str(config), "--nats-url", nats_url,
        env={**os.environ, "JANUS_PG_DSN": pg_dsn}, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    seen: list[str] = []
    try:
        await asyncio.wait_for(_read_until(proc.stderr, "service_ready", seen), 30)
        drain = asyncio.create_task(_read_until(proc.stderr, None, seen))

        ping = json.loads((await nc.request("$SRV.PING.janus-registry", b"", timeout=5)).data)
        assert ping["name"] == "janus-registry" and ping["type"] == "io.nats.micro.v1.ping_response"

        hit = await resolve(nc, "BRK.B")
        assert isinstance(hit, m.Resolved) and hit.source == "cache" and hit.record.ib.symbol == "BRK B"
        miss = await resolve(nc, NQ_MONTH.canonical, asset_class="FUTURE")
        assert isinstance(miss, m.Resolved) and miss.source == "lookup"
        raw = await nc.request(subjects.RPC_RESOLVE, b"\x00garbage", timeout=5)
        assert m.RESOLVE_REPLY.decode(raw.data).reason is RejectReason.MALFORMED
        assert json.loads((await nc.request("$SRV.PING.janus-registry", b"", timeout=5)).data)

        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
        await asyncio.wait_for(drain, 10)
        assert any("service_stopped" in line for line in seen)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_janus_registry_exits_2_on_a_bad_configuration(tmp_path):
    import subprocess

    bad = tmp_path / "config.yaml"
    bad.write_text("accounts: {ib-1: {broker: ib}}\n")  # an IB account without its connection
    script = Path(sys.executable).parent / "janus-registry"
    done = subprocess.run([str(script), "--config", str(bad)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "accounts.ib-1.ib" in done.stderr
