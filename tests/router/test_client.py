"""janus_client and the `janus order` / `janus cancel` commands against a running router."""

from __future__ import annotations

import json

import pytest
from cli_runner import janus

from janus_client.client import JanusClient
from janus_common import messages as m

pytestmark = pytest.mark.integration


def intent(**kw):
    base = dict(account="ib-1", symbol="AAPL", side=m.Side.BUY, order_type=m.OrderType.MARKET, qty=2.0)
    base.update(kw)
    return m.OrderIntent(**base)


async def test_submit_returns_the_outcome_and_resubmitting_gives_the_same_one(harness, nats_url):
    async with await JanusClient.connect(nats_url) as client:
        i = intent()
        first = await client.submit(i)
        assert isinstance(first, m.OrderRouted) and first.intent_id == i.intent_id
        again = await client.submit(i)
        assert again == first
        refused = await client.submit(intent(qty=-1.0))
        assert isinstance(refused, m.OrderRejected) and refused.reason is m.RejectReason.INVALID_QTY
        cancelled = await client.cancel("ib-1", i.intent_id)
        assert isinstance(cancelled, m.CancelRouted)
        unknown = await client.cancel("ib-1", "nope")
        assert isinstance(unknown, m.OrderRejected) and unknown.reason is m.RejectReason.UNKNOWN_INTENT


async def test_order_events_and_valuations_can_be_followed(harness, nats_url, js):
    async with await JanusClient.connect(nats_url) as client:
        orders = await client.follow_orders("ib-1")
        routed = await client.submit(intent())
        seen = await orders.next(10)
        assert isinstance(seen, m.OrderRouted) and seen.intent_id == routed.intent_id
        await orders.close()
        history = await client.follow_orders("ib-1", from_start=True)
        assert (await history.next(10)) == seen
        await history.close()

        values = await client.follow_valuations("ib-1")
        valuation = m.AccountValuation(account="ib-1", broker=m.Broker.IB, positions=[])
        await client.nc.publish("janus.val.ib-1", m.encode(valuation))
        assert (await values.next(10)) == valuation
        await values.close()


async def test_cli_order_and_cancel_with_json_and_exit_codes(harness, nats_url):
    code, out = await janus(nats_url, "--json", "order", "ib-1", "buy", "3", "AAPL", "--type", "limit",
                             "--limit", "101.5", "--intent-id", "cli-order-1")
    assert code == 0, out
    routed = json.loads(out)
    assert routed["kind"] == "OrderRouted" and routed["intent_id"] == "cli-order-1"
    assert routed["orders"][0]["limit_price"] == 101.5

    code, out = await janus(nats_url, "--json", "order", "ib-2", "sell", "1", "AAPL")
    assert code == 5 and json.loads(out)["reason"] == "SHORT_NOT_ALLOWED"

    code, out = await janus(nats_url, "--json", "cancel", "ib-1", "cli-order-1")
    assert code == 0 and json.loads(out)["kind"] == "CancelRouted"

    code, _ = await janus("nats://127.0.0.1:1", "--json", "order", "ib-1", "buy", "1", "AAPL")
    assert code == 3

    code, out = await janus(nats_url, "order", "--account", "ib-2", "SELL", "AAPL", "1", "--json")  # --json last
    assert code == 5 and json.loads(out)["reason"] == "SHORT_NOT_ALLOWED"
    code, _ = await janus(nats_url, "order", "--account", "ib-1", "HOLD", "AAPL", "1")
    assert code == 2  # usage
