"""The safety envelope as a user of `make run` meets it: the shipped config (its risk defaults),
every process and the simulators, driven through the `janus` command. Absurd orders are refused
with their codes and reach no broker; halt, reduce-only, resume and cancel-all work on ib-1; the
same gateway still fills afterwards and the audit replay is clean."""

from __future__ import annotations

import asyncio
import json
import signal

import pytest

from cli_runner import janus
from janus_client.client import JanusClient
from janus_common import bus, subjects
from janus_common import messages as m
from janus_common.prices import QUOTES
from janus_common.streams import KV_PRICES
from stack_runner import start_stack

from contract_months import front

pytestmark = pytest.mark.system


async def order(url: str, *words: str, wait: bool = False) -> tuple[int, dict, dict]:
    code, out = await janus(url, "--json", "order", "--account", "ib-1", *words,
                            *(("--wait", "--timeout", "60") if wait else ()), timeout=90)
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    return code, lines[0], lines[-1]


async def kinds_of(client: JanusClient, intent_id: str) -> list[str]:
    """Every event EVENTS holds for the intent, as stored (read to the end, not waited for)."""
    records = await bus.stored(client.js, bus.EVENTS_STREAM, subjects.evt_order("ib-1"))
    events = [m.ANY_EVENT.decode(r.data) for r in records]
    return [type(e).__name__ for e in events if e.intent_id == intent_id]


async def test_the_shipped_limits_and_the_kill_switch_on_make_run(tmp_path):
    stack = await start_stack(tmp_path)
    url = stack.nats_url
    try:
        async with await JanusClient.connect(url) as client:
            code, huge, _ = await order(url, "BUY", "MSFT", "100000000")
            assert code == 5 and huge["reason"] == "RISK_MAX_QTY", huge
            assert "100,000,000" in huge["message"] and "10,000" in huge["message"]

            code, inf, _ = await order(url, "BUY", "AAPL", "10", "--type", "LIMIT", "--limit", "1e308")
            assert code == 5 and inf["reason"] in ("INVALID_PRICE", "PRICE_OUT_OF_BAND"), inf
            last = QUOTES.decode((await (await client.js.key_value(KV_PRICES)).get("AAPL")).value).last
            code, far, _ = await order(url, "BUY", "AAPL", "10", "--type", "LIMIT", "--limit", f"{last * 10:.2f}")
            assert code == 5 and far["reason"] == "PRICE_OUT_OF_BAND" and "900" in far["message"], far
            code, half, _ = await order(url, "BUY", front("ES").canonical, "1.5")
            assert code == 5 and half["reason"] == "FRACTIONAL_QTY", half

            code, out = await janus(url, "halt", "ib-1", "--reason", "acceptance")
            assert code == 0, out
            code, halted, _ = await order(url, "BUY", "AAPL", "10")
            assert code == 5 and halted["reason"] == "ACCOUNT_HALTED", halted
            assert (await janus(url, "resume", "ib-1"))[0] == 0
            code, _, filled = await order(url, "BUY", "AAPL", "10", wait=True)
            assert code == 0 and filled["status"] == "FILLED", filled

            assert (await janus(url, "halt", "ib-1", "--reduce-only"))[0] == 0
            code, _, sold = await order(url, "SELL", "AAPL", "4", wait=True)
            assert code == 0 and sold["status"] == "FILLED", sold
            code, reduce, _ = await order(url, "BUY", "AAPL", "1")
            assert code == 5 and reduce["reason"] == "REDUCE_ONLY", reduce
            assert (await janus(url, "resume", "ib-1"))[0] == 0

            last = QUOTES.decode((await (await client.js.key_value(KV_PRICES)).get("AAPL")).value).last
            code, rest, _ = await order(url, "BUY", "AAPL", "5", "--type", "LIMIT", "--limit", f"{last * 0.95:.2f}")
            assert code == 0 and rest["kind"] == "OrderRouted", rest
            code, out = await janus(url, "cancel-all", "ib-1", timeout=60)
            assert code == 0 and f"{rest['intent_id']}: OrderStatusChanged CANCELLED" in out, out

            code, _, market = await order(url, "BUY", "AAPL", "2", wait=True)
            assert code == 0 and market["status"] == "FILLED", market
            # the refused order: its rejection and nothing else, though later orders filled
            assert await kinds_of(client, huge["intent_id"]) == ["OrderRejected"]
        code, out = await janus(url, "--json", "audit", "replay", timeout=120)
        assert code == 0, out
        assert json.loads(out)["report"]["trading_states"]["ib-1"].startswith("ACTIVE")
    finally:
        stack.proc.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(stack.proc.wait(), 15)
        await stack.drain
    assert code == 0, stack.tail()
