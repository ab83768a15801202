"""Issue 15's acceptance for the paper broker, as a user of `make run` meets it (janus-run with the
shipped config, paper-1 on the IB simulator's market data), through the `janus` CLI: a market
order fills at the IB market price, a resting limit fills when the simulator's price is moved
through it, `janus positions` values the position, a killed gateway comes back with its book,
and `janus audit replay` is clean."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time

import pytest

from cli_runner import janus
from janus_client.client import JanusClient
from janus_common import bus, subjects
from janus_common import messages as m
from stack_runner import admin_post, start_stack

pytestmark = pytest.mark.system


def _lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


async def _next(feed, kind, where, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        event = await feed.next(max(deadline - time.monotonic(), 0.1))
        if isinstance(event, kind) and where(event):
            return event


async def test_paper_1_trades_on_ib_prices_keeps_its_book_across_a_kill_and_audits_clean(tmp_path):
    stack = await start_stack(tmp_path)
    url = stack.nats_url
    admin = stack.config["simulators"]["admin_port"]
    try:
        assert stack.summary["processes"]["gateway-paper-1"]["ready"], stack.summary
        async with await JanusClient.connect(url) as client:
            # The first order, as a user types it: filled at an ask IB's market data carried.
            code, out = await janus(url, "--json", "order", "--account", "paper-1", "BUY", "AAPL", "10", "--wait",
                                    "--timeout", "60", timeout=90)
            assert code == 0, out
            routed, final = _lines(out)[0], _lines(out)[-1]
            assert routed["kind"] == "OrderRouted" and routed["broker"] == "paper"
            assert final["status"] == "FILLED" and final["filled"] == 10
            bought = final["avg_fill_price"]
            nc = await bus.connect(url, "paper-test", initial_attempts=3)
            try:
                ticks = await bus.history(nc.jetstream(), "MARKET", subjects.md_tick("AAPL"), m.MARKET_DATA)
            finally:
                await nc.close()
            assert bought in {t.ask for t in ticks}

            # A resting limit 5 below the market (inside the shipped 10 % price band) fills once the
            # simulator is moved through it.
            limit = round(bought - 5, 2)
            orders = await client.follow_orders("paper-1")
            resting = asyncio.create_task(janus(url, "--json", "order", "--account", "paper-1", "BUY", "AAPL", "5",
                                                "--type", "LIMIT", "--limit", str(limit), "--wait", "--timeout",
                                                "90", timeout=120))
            await _next(orders, m.OrderSubmitted, lambda e: True)
            await orders.close()
            assert not resting.done()
            await admin_post(admin, "/price", {"symbol": "AAPL", "price": limit - 1})
            code, out = await resting
            assert code == 0, out
            assert _lines(out)[-1]["status"] == "FILLED" and _lines(out)[-1]["avg_fill_price"] <= limit

            # Valued by the pricer with IB's price (marked derived: another broker's data).
            code, out = await janus(url, "positions", "--account", "paper-1", "--json", timeout=60)
            assert code == 0, out
            deadline = time.monotonic() + 60
            while True:
                [valuation] = json.loads(out)
                rows = [p for p in valuation["positions"] if p["symbol"] == "AAPL"]
                if rows and rows[0]["qty"] == 15 and rows[0]["market_value"] is not None:
                    break
                assert time.monotonic() < deadline, out
                await asyncio.sleep(0.5)
                code, out = await janus(url, "positions", "--account", "paper-1", "--json", timeout=60)
            assert rows[0]["price_source"] == "ib" and rows[0]["derived"]

            # A GTC limit well below (still inside the band) rests; then the gateway is killed and the
            # supervisor restarts it.
            far_limit = round((limit - 1) * 0.95, 2)
            code, out = await janus(url, "--json", "order", "--account", "paper-1", "BUY", "AAPL", "1", "--type",
                                    "LIMIT", "--limit", str(far_limit), "--tif", "GTC", timeout=60)
            assert code == 0, out
            far = _lines(out)[0]["intent_id"]
            accounts = await client.follow_orders("paper-1", from_start=True)
            await _next(accounts, m.OrderSubmitted, lambda e: e.intent_id == far)
            await accounts.close()
            killed_at = time.time_ns()
            os.killpg(stack.summary["processes"]["gateway-paper-1"]["pid"], signal.SIGKILL)
            nc = await bus.connect(url, "paper-test", initial_attempts=3)
            try:
                js = nc.jetstream()
                deadline = time.monotonic() + 90
                snapshot = None
                while snapshot is None:  # the restarted gateway publishes its book (forced) once READY
                    assert time.monotonic() < deadline, stack.tail()
                    with_snapshots = await bus.history(js, "EVENTS", subjects.evt_position("paper-1"),
                                                       m.POSITION_EVENTS)
                    snapshot = next((s for s in with_snapshots if s.ts > killed_at), None)
                    await asyncio.sleep(0.5)
                assert [(p.symbol, p.qty) for p in snapshot.positions] == [("AAPL", 15)]
            finally:
                await nc.close()
            # The resting order came back with the book: it can be cancelled.
            code, out = await janus(url, "--json", "cancel", "paper-1", far, timeout=60)
            assert code == 0, out
            cancelled = await client.wait_terminal("paper-1", far, timeout=60)
            assert cancelled.status is m.OrderState.CANCELLED

        code, out = await janus(url, "--json", "audit", "replay", "--account", "paper-1", timeout=120)
        result = json.loads(out)
        assert code == 0, result["report"]["violations"]
        assert result["replays_agree"] and result["report"]["open_orders"] == 0
    finally:
        stack.proc.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(stack.proc.wait(), 15)
        await stack.drain
    assert code == 0, stack.tail()
