"""The order surface on the product as a user runs it (`janus-run`, the shipped config: ib-1, ib-2
and wb-1 on the simulators), driven through the `janus` CLI: capabilities, a modified resting
limit that then fills at its new price on each broker (and a modify of a filled order refused
ORDER_FINISHED), a bracket on each broker whose take-profit fills and whose stop-loss ends
cancelled, and an audit replay that is clean."""

from __future__ import annotations

import json

import pytest

from cli_runner import janus
from janus_client.client import JanusClient
from janus_common import messages as m
from stack_runner import admin_post, start_stack, stop_stack, webull_admin_post

pytestmark = pytest.mark.system


def _lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


async def _event(client: JanusClient, account: str, intent_id: str, match, timeout: float = 30.0):
    """The first event of the intent (from the start of its history) that ``match`` accepts."""
    async with client._order_events(account, from_start=True) as feed:
        return await client._first(feed, lambda e: isinstance(e, m.OrderEvent) and e.intent_id == intent_id
                                   and match(e), "event", intent_id, timeout)


async def test_modify_brackets_and_capabilities_on_both_brokers(tmp_path):
    stack = await start_stack(tmp_path)
    url = stack.nats_url
    sims = stack.config["simulators"]
    ib_admin, wb_port = sims["admin_port"], sims["webull_port"]

    async def set_price(account: str, symbol: str, price: float) -> None:
        if account.startswith("ib"):
            await admin_post(ib_admin, "/price", {"symbol": symbol, "price": price})
        else:
            await webull_admin_post(wb_port, "price", {"symbol": symbol, "price": f"{price:.2f}"})

    try:
        code, out = await janus(url, "--json", "capabilities", "wb-1", timeout=30)
        assert code == 0, out
        caps = json.loads(out)
        assert caps["brackets"] == "MANAGED" and "TRAILING_STOP" in caps["order_types"] and caps["modify"]
        assert "MARKET_ON_CLOSE" not in caps["order_types"] and caps["tifs"] == ["DAY", "GTC"]
        code, out = await janus(url, "capabilities", "ib-1", timeout=30)
        assert code == 0 and "NATIVE" in out and "TRAILING_STOP_LIMIT" in out, out

        async with await JanusClient.connect(url) as client:
            for account, symbol in (("ib-1", "MSFT"), ("wb-1", "MSFT")):
                await set_price(account, symbol, 400.0)
                code, out = await janus(url, "--json", "order", "--account", account, "BUY", symbol, "10",
                                        "--type", "LIMIT", "--limit", "390", "--tif", "GTC", timeout=60)
                assert code == 0, out
                intent = _lines(out)[0]["intent_id"]
                await _event(client, account, intent, lambda e: isinstance(e, m.OrderSubmitted))
                code, out = await janus(url, "--json", "modify", account, intent, "--limit", "395", "--wait",
                                        timeout=60)
                assert code == 0, out
                routed, modified = _lines(out)
                assert routed["kind"] == "ModifyRouted" and modified["kind"] == "OrderModified"
                assert modified["limit_price"] == 395.0
                await set_price(account, symbol, 394.0)  # through the new limit only
                filled = await _event(client, account, intent, lambda e: isinstance(e, m.OrderStatusChanged)
                                      and e.status is m.OrderState.FILLED)
                assert filled.filled == 10.0 and filled.avg_fill_price <= 395.0
                code, out = await janus(url, "--json", "modify", account, intent, "--limit", "396", timeout=60)
                assert code == 5 and _lines(out)[0]["reason"] == "ORDER_FINISHED", out

            for account, symbol in (("ib-1", "AAPL"), ("wb-1", "AAPL")):
                await set_price(account, symbol, 190.0)
                code, out = await janus(url, "--json", "order", "--account", account, "BUY", symbol, "10",
                                        "--type", "MARKET", "--take-profit", "195", "--stop-loss", "185",
                                        "--tif", "GTC", "--wait", "--timeout", "60", timeout=90)
                assert code == 0, out
                intent = _lines(out)[0]["intent_id"]
                for leg in (2, 3):  # both exits working once the entry filled
                    await _event(client, account, intent, lambda e, leg=leg: isinstance(e, m.OrderStatusChanged)
                                 and e.leg == leg and e.status in (m.OrderState.SUBMITTED, m.OrderState.PRE_SUBMITTED))
                await set_price(account, symbol, 196.0)
                tp = await _event(client, account, intent, lambda e: isinstance(e, m.OrderFilled) and e.leg == 2)
                assert tp.qty == 10.0
                sl = await _event(client, account, intent, lambda e: isinstance(e, m.OrderCancelled) and e.leg == 3)
                assert sl.filled == 0.0

        code, out = await janus(url, "audit", "replay", timeout=120)
        assert code == 0 and "VIOLATIONS" not in out, out
    finally:
        await stop_stack(stack)
