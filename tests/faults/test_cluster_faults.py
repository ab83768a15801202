"""Faults on a three-node NATS cluster under load (janus-run with nats.replicas: 3):

- the EVENTS leader SIGKILLed while three accounts (ib-1, ib-2, wb-1) send intents, restarted
  5 s later (the acceptance scenario: 30 intents/s for 20 s, kill after 7 s);
- a rolling restart of all three nodes under the same load.

Each ends with the invariants read from INTENTS and EVENTS (fault_checks) and a clean
`janus audit replay`. Figures are printed (FAULT FIGURES ...) and appended to the results file."""

from __future__ import annotations

import asyncio
import os

import pytest

from fault_checks import check, record, settle
from fault_load import LOAD_IDENTITY, drive
from fault_stack import audit, gateway_failures, stack_on, stop_stack
from janus_common import bus

pytestmark = [pytest.mark.faults, pytest.mark.system]

# The acceptance scenario; JANUS_FAULTS_RATE / _DURATION raise it (the issue's ~100/s for 30 s).
RATE = float(os.environ.get("JANUS_FAULTS_RATE", "30"))
DURATION = float(os.environ.get("JANUS_FAULTS_DURATION", "20"))
# Clients resend an unacknowledged intent (same msg-id) for up to this long: under the router's
# max_intent_age_s (30 s), so a resent intent is still fresh when it is decided.
RETRY_S = 20.0


async def _verify(name: str, owned, stack, load, *, expect_all_filled: bool) -> None:
    cluster = owned.cluster
    nc = await bus.connect(cluster.urls, "fault-check", initial_attempts=10, creds=owned.creds("operator"))
    try:
        intents, events, settled = await settle(nc, load, timeout=60)
    finally:
        await nc.close()
    verdict = check(load, intents, events, faults=cluster.events, settled_at=settled,
                    expect_all_filled=expect_all_filled)
    code, report = await audit(cluster.urls)
    figures = verdict.figures()
    figures["audit_rc"] = code
    figures["gateway_failures"] = gateway_failures(stack)
    if isinstance(report, dict):
        figures["audit"] = {k: report["report"][k] for k in ("events", "intents", "routed", "rejected", "open_orders")}
        figures["audit_violations"] = [f"{v['check']} {v['account']} {v['intent_id']} {v['detail']}"
                                       for v in report["report"]["violations"]][:10]
    record(name, figures)
    assert not verdict.violations, verdict.violations
    assert code == 0, figures.get("audit_violations", report)


async def _load_started(owned) -> asyncio.Task:
    """The load running against the cluster (all streams led and current first)."""
    cluster = owned.cluster
    await cluster.wait_streams(timeout=60)
    started = asyncio.Event()
    sender = asyncio.create_task(drive(cluster.urls, owned.creds(LOAD_IDENTITY), rate=RATE,
                                       duration=DURATION, retry_s=RETRY_S, started=started))
    await started.wait()
    return sender


async def test_events_leader_killed_under_load_and_restarted(tmp_path, owned_cluster):
    cluster = owned_cluster.cluster
    stack = await stack_on(tmp_path, owned_cluster)
    try:
        sender = await _load_started(owned_cluster)
        await asyncio.sleep(7.0)  # the scenario's timing: killed 7 s into the load
        leader = await cluster.leader("EVENTS")
        await asyncio.to_thread(cluster.kill, leader)
        await asyncio.sleep(5.0)  # the scenario: restarted 5 s later
        await asyncio.to_thread(cluster.start_node, leader)
        load = await sender
        await cluster.wait_streams(timeout=60)
        await _verify("events_leader_killed", owned_cluster, stack, load, expect_all_filled=True)
    finally:
        await stop_stack(stack)


async def test_rolling_restart_under_load(tmp_path, owned_cluster):
    cluster = owned_cluster.cluster
    stack = await stack_on(tmp_path, owned_cluster)
    try:
        sender = await _load_started(owned_cluster)
        await asyncio.sleep(2.0)  # under load before the first node goes
        restarts = await cluster.rolling_restart(timeout=60)
        print("\nrolling restart:", restarts)
        load = await sender
        await _verify("rolling_restart", owned_cluster, stack, load, expect_all_filled=False)
    finally:
        await stop_stack(stack)


async def test_same_load_on_r3_without_a_fault(tmp_path, owned_cluster):
    """The control: the same load on the same R3 cluster with no fault at all, so a failure of
    the two tests above can be told apart from one the load alone causes."""
    cluster = owned_cluster.cluster
    stack = await stack_on(tmp_path, owned_cluster)
    try:
        await cluster.wait_streams(timeout=60)
        load = await drive(cluster.urls, owned_cluster.creds(LOAD_IDENTITY), rate=RATE, duration=min(DURATION, 15.0),
                           retry_s=RETRY_S)
        await _verify("r3_no_fault", owned_cluster, stack, load, expect_all_filled=True)
    finally:
        await stop_stack(stack)
