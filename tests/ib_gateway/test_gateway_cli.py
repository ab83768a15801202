"""`janus sync` and `janus status` against a running IB gateway."""

from __future__ import annotations

import asyncio
import json
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
JANUS = Path(sysconfig.get_path("scripts")) / "janus"


async def janus(nats_url: str, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(str(JANUS), "--nats-url", nats_url, *args,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode()


async def test_janus_sync_counts_another_clients_order(gateway, nats_url, sim):
    sim.external_order("AAPL", "SELL", 3, "LMT", lmt=400.00, account="DU1000001")
    code, out = await janus(nats_url, "--json", "sync", "ib-1")
    assert code == 0, out
    reply = json.loads(out)
    assert reply["kind"] == "SyncDone" and reply["open_orders"] >= 1
    code, out = await janus(nats_url, "sync", "no-such-account")
    assert code == 3 and out == ""  # nobody serves that account: exit code 3, reason on stderr
    code, out = await janus(nats_url, "--json", "status")
    assert code == 0 and any(s["name"] == "janus-ib-gateway" and s["metadata"]["account"] == "ib-1"
                             for s in json.loads(out))
