"""`janus sync` and `janus status` against a running IB gateway."""

from __future__ import annotations

import json

import pytest
from cli_runner import janus

pytestmark = pytest.mark.integration


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
