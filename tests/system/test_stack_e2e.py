"""The product as a user meets it: `make run`'s supervisor (janus-run, shipped config: ib-1, ib-2,
wb-1 on the simulators), driven through the `janus` CLI and janus_client. A gateway and the
router are killed while intents are in flight; every intent still gets exactly one outcome,
the audit replay is clean, and editing one stored event makes it fail."""

from __future__ import annotations

import asyncio
import json
import os
import signal

import msgspec
import nats.js.errors
import psutil
import pytest

from cli_runner import janus
from janus_client.client import JanusClient
from janus_common import bus, subjects
from janus_common import messages as m
from stack_runner import admin_post, start_stack

pytestmark = pytest.mark.system


def _lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


async def _valued(client: JanusClient, account: str, symbol: str, timeout: float) -> m.PositionValuation:
    """The first valuation of ``account`` that prices ``symbol`` (KV first, then live)."""
    feed = await client.follow_valuations(account)
    try:
        current = await client.valuation(account)
        while True:
            for p in (current.positions if current else []):
                if p.symbol == symbol and p.market_value is not None:
                    return p
            current = await feed.next(timeout)
    finally:
        await feed.close()


def _kill(summary: dict, process: str) -> int:
    pid = summary["processes"][process]["pid"]
    os.killpg(pid, signal.SIGKILL)  # the supervisor starts each child in its own group
    return pid


async def test_make_run_stack_through_the_cli_survives_kills_and_audits_clean(tmp_path):
    stack = await start_stack(tmp_path)
    url = stack.nats_url
    try:
        async with await JanusClient.connect(url) as client:
            # The README's first order, as a user types it.
            code, out = await janus(url, "--json", "order", "--account", "ib-1", "BUY", "AAPL", "10",
                                    "--type", "MARKET", "--wait", "--timeout", "60", timeout=90)
            assert code == 0, out
            routed, final = _lines(out)[0], _lines(out)[-1]
            assert routed["kind"] == "OrderRouted" and routed["decision"]["effect"] == "OPEN_LONG"
            assert final["kind"] == "OrderStatusChanged" and final["status"] == "FILLED" and final["filled"] == 10

            # Valued: the pricer marks it with the IB simulator's prices.
            priced = await _valued(client, "ib-1", "AAPL", timeout=60)
            assert priced.qty == 10 and priced.price_source is m.Broker.IB
            code, out = await janus(url, "positions", "--account", "ib-1", "--json")
            assert code == 0
            [valuation] = json.loads(out)
            [row] = [p for p in valuation["positions"] if p["symbol"] == "AAPL"]
            assert row["qty"] == 10 and row["market_value"] is not None

            # Webull: a SELL with nothing held is a short (wb-1 allows shorts).
            code, out = await janus(url, "--json", "order", "--account", "wb-1", "SELL", "AAPL", "3",
                                    "--wait", "--timeout", "60", timeout=90)
            assert code == 0, out
            routed = _lines(out)[0]
            assert routed["decision"]["effect"] == "OPEN_SHORT"
            assert [(o["side"], o["qty"]) for o in routed["orders"]] == [("SHORT", 3)]
            assert _lines(out)[-1]["status"] == "FILLED"

            # Harmony: AAPL was filled from IB on the first order; the Webull side gets filled now.
            code, out = await janus(url, "--json", "harmony", timeout=90)
            assert code == 0, out
            summary = json.loads(out)
            assert summary["kind"] == "HarmonySummary" and summary["ok"] and set(summary["per_broker"]) == {"ib", "webull"}

            # A buy stop rests until the simulated price (moved through the simulator's HTTP
            # control, as a user of `make run` would) reaches it.
            admin = stack.config["simulators"]["admin_port"]
            await admin_post(admin, "/price", {"symbol": "MSFT", "price": 420.0})
            orders = await client.follow_orders("ib-1")
            stop = asyncio.create_task(janus(url, "--json", "order", "--account", "ib-1", "BUY", "MSFT", "3",
                                             "--type", "STOP", "--stop", "425", "--wait", "--timeout", "60",
                                             timeout=90))
            while not (isinstance(e := await orders.next(60), m.OrderStatusChanged)
                       and e.status is m.OrderState.PRE_SUBMITTED):
                pass  # the only order resting on ib-1 now is the stop
            await orders.close()
            assert not stop.done()  # resting, not filled
            await admin_post(admin, "/price", {"symbol": "MSFT", "price": 426.0})
            code, out = await stop
            assert code == 0, out
            assert _lines(out)[-1]["status"] == "FILLED" and _lines(out)[-1]["avg_fill_price"] >= 425

            # Kill the ib-1 gateway and the router while intents are in flight.
            intents = [m.OrderIntent(account=acct, symbol="AAPL", side=m.Side.BUY,
                                     order_type=m.OrderType.MARKET, qty=1)
                       for acct in ("ib-1", "ib-2", "wb-1") for _ in range(4)]
            orders = await client.follow_orders("ib-1")
            submitted = [asyncio.create_task(client.submit(i, timeout=120)) for i in intents]
            while not isinstance(await orders.next(60), m.OrderRouted):
                pass  # the first one is routed: the rest are mid-way
            await orders.close()
            killed = [_kill(stack.summary, "gateway-ib-1"), _kill(stack.summary, "router")]
            outcomes = await asyncio.gather(*submitted)
            assert all(isinstance(o, m.OrderRouted) for o in outcomes), outcomes
            finals = await asyncio.gather(*(client.wait_terminal(i.account, i.intent_id, timeout=120)
                                            for i in intents))
            assert [f.status for f in finals] == [m.OrderState.FILLED] * len(intents)
            assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                           for pid in killed)

        # The audit: clean, and identical when replayed twice.
        code, out = await janus(url, "--json", "audit", "replay", timeout=120)
        result = json.loads(out)
        assert code == 0, result["report"]["violations"]
        assert result["replays_agree"] and result["report"]["intents"] == 3 + len(intents)
        assert result["report"]["open_orders"] == 0

        # Edit one stored event. JetStream has no in-place edit, and EVENTS refuses deletes, so
        # the most a publisher can do is store an edited copy after the fact.
        nc = await bus.connect(url, "tamper", initial_attempts=3)
        try:
            js = nc.jetstream()
            records = await bus.stored(js, bus.EVENTS_STREAM, subjects.evt_order("ib-1"))
            victim = next(r for r in records if isinstance(m.ANY_EVENT.decode(r.data), m.OrderFilled))
            edited = msgspec.structs.replace(m.ANY_EVENT.decode(victim.data), qty=999.0)
            with pytest.raises(nats.js.errors.APIError):
                await js.delete_msg(bus.EVENTS_STREAM, victim.seq)
            await js.publish(victim.subject, m.encode(edited))
        finally:
            await nc.close()
        code, out = await janus(url, "audit", "replay", timeout=120)
        assert code == 6, out
        assert "chain_intact" in out
    finally:
        stack.proc.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(stack.proc.wait(), 15)
        await stack.drain
    assert code == 0, stack.tail()
