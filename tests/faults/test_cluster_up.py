"""janus-run on a three-node NATS cluster (JANUS_NATS_URL = the three URLs, nats.replicas: 3):
it comes up, the README's first order fills, and every stream and KV bucket is R3."""

from __future__ import annotations

import json

import pytest

from cli_runner import janus
from fault_stack import audit, fault_edit, stack_on, stop_stack
from nats_cluster import janus_streams
from stack_runner import start_stack

pytestmark = [pytest.mark.faults, pytest.mark.system]


async def test_janus_run_on_a_three_node_cluster(tmp_path, owned_cluster):
    cluster = owned_cluster.cluster
    stack = await stack_on(tmp_path, owned_cluster)
    try:
        url = cluster.urls
        late = [name for name, info in stack.summary["processes"].items() if not info["ready"]]
        assert not late, (late, stack.tail())
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


async def test_streams_made_r1_become_r3_when_the_stack_restarts_with_three_replicas(tmp_path, owned_cluster):
    """A stack first run with nats.replicas: 1 on the cluster, then restarted with 3: every
    stream and KV bucket must follow (ensure_streams updates what exists)."""
    cluster = owned_cluster.cluster
    first = await start_stack(tmp_path, env={"JANUS_NATS_URL": cluster.urls},
                              edit=fault_edit(replicas=1, credentials_dir=owned_cluster.creds_dir))
    await stop_stack(first)
    infos = await cluster.wait_streams(replicas=1, timeout=30)
    assert {info["config"]["num_replicas"] for info in infos.values()} == {1}
    second = await stack_on(tmp_path, owned_cluster)
    try:
        nc = await cluster.connect()
        try:
            found = {name: (await cluster.stream_info(nc, name))["config"]["num_replicas"]
                     for name in janus_streams()}
        finally:
            await nc.close()
        print("\nreplicas after the restart with nats.replicas: 3:", found)
        assert all(n == 3 for n in found.values()), found
        await cluster.wait_streams(replicas=3, timeout=30)
    finally:
        await stop_stack(second)
