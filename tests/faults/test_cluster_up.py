"""janus-run on a three-node NATS cluster (JANUS_NATS_URL = the three URLs, nats.replicas: 3):
it comes up, the README's first order fills, and every stream and KV bucket is R3."""

from __future__ import annotations

import json

import pytest

from cli_runner import janus
from fault_stack import audit, stack_on, stop_stack
from nats_cluster import janus_streams

pytestmark = [pytest.mark.faults, pytest.mark.system]


async def test_janus_run_on_a_three_node_cluster(tmp_path, owned_cluster):
    cluster = owned_cluster.cluster
    stack = await stack_on(tmp_path, owned_cluster)
    try:
        url = cluster.urls
        code, out = await janus(url, "--json", "order", "--account", "ib-1", "BUY", "AAPL", "10",
                                "--type", "MARKET", "--wait", "--timeout", "60", timeout=90)
        assert code == 0, out + stack.tail()
        lines = [json.loads(line) for line in out.splitlines() if line.strip()]
        assert lines[0]["kind"] == "OrderRouted"
        assert lines[-1]["status"] == "FILLED" and lines[-1]["filled"] == 10

        infos = await cluster.wait_streams(replicas=3, timeout=60)
        assert sorted(infos) == sorted(janus_streams())
        replicas = {name: (info["config"]["num_replicas"], 1 + len(info["cluster"]["replicas"]))
                    for name, info in infos.items()}
        print("\nstream replicas (config, peers):", replicas)
        assert all(r == (3, 3) for r in replicas.values()), replicas

        code, report = await audit(url)
        assert code == 0, report
    finally:
        await stop_stack(stack)
