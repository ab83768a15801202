"""The router's /metrics, from the service runner's endpoint, on real NATS: outcomes by reason,
cancels, the decision latency and the intent consumers' figures move as intents are decided."""

from __future__ import annotations

import pytest

from janus_common import messages as m
from janus_common.embedded import free_port
from metrics_scrape import names, scrape, scrape_until, value
from router.conftest import CONFIG

pytestmark = pytest.mark.integration

PORT = free_port()
URL = f"http://127.0.0.1:{PORT}/metrics"


@pytest.fixture
def router_config() -> dict:
    return {**CONFIG, "metrics": {"host": "127.0.0.1", "ports": {"router": PORT}}}


def intent(account="ib-1", symbol="AAPL") -> m.OrderIntent:
    return m.OrderIntent(account=account, symbol=symbol, side=m.Side.BUY, order_type=m.OrderType.MARKET, qty=1.0)


async def test_outcomes_cancels_latency_and_consumers_are_counted(harness):
    before = await scrape(URL)
    routed, unknown, elsewhere = intent(), intent(symbol="NOPE"), intent(account="nobody")
    cancel = m.CancelIntent(account="ib-1", intent_id="never-placed")
    for i in (routed, unknown, elsewhere, cancel):
        await harness.send(i)

    def moved(s, name, n=1, **labels):
        return value(s, name, **labels) - value(before, name, **labels) == n

    expected = [("janus_intents_total", dict(account="ib-1", outcome="routed", reason="")),
                ("janus_intents_total", dict(account="ib-1", outcome="rejected", reason="UNKNOWN_SYMBOL")),
                # an account nobody configured is not a label of its own (clients choose those names)
                ("janus_intents_total", dict(account="other", outcome="rejected", reason="UNKNOWN_ACCOUNT")),
                ("janus_cancels_total", dict(account="ib-1", outcome="rejected", reason="UNKNOWN_INTENT"))]
    after = await scrape_until(URL, lambda s: all(moved(s, n, **ls) for n, ls in expected))
    for name, labels in expected:
        assert moved(after, name, **labels), (name, labels, value(after, name, **labels))
    assert moved(after, "janus_intent_decision_seconds_count", kind="order", outcome="routed")
    assert moved(after, "janus_intent_decision_seconds_count", n=2, kind="order", outcome="rejected")
    assert value(after, "janus_consumer_alive", stream="INTENTS", durable="router-ib-1") == 1
    assert value(after, "janus_consumer_handled_total", stream="INTENTS", durable="router-ib-1") >= 3
    # the server's view, read from the consumer info while the endpoint is served
    assert ("janus_consumer_pending", frozenset({("stream", "INTENTS"), ("durable", "router-ib-1")})) in after
    assert "process_cpu_seconds_total" in names(after)  # the library's process collector, same registry
