"""Every Consumer's figures on the process's /metrics: its own counts, and the server's view of
it (pending, ack pending, redelivered) read from the consumer info while an endpoint is served."""

from __future__ import annotations

import asyncio

import pytest

from janus_common import bus, metrics, subjects
from janus_common import messages as m
from janus_common.embedded import free_port
from metrics_scrape import scrape_until, value

pytestmark = pytest.mark.integration

ACCOUNT = "metrics-1"


@pytest.fixture
async def endpoint():
    served = metrics.serve_endpoint("127.0.0.1", free_port())
    assert served is not None
    yield served
    await asyncio.to_thread(served.stop)


async def test_backlog_and_redelivery_are_seen_from_the_server(js, endpoint):
    release = asyncio.Event()
    deliveries = 0

    async def handle(_message, _msg):
        nonlocal deliveries
        deliveries += 1
        if deliveries == 1:
            raise RuntimeError("first delivery fails")  # nak'ed: its redelivery counts
        await release.wait()  # the redelivered one is held: the rest wait behind it

    consumer = await bus.Consumer(
        js, stream="INTENTS", durable="metrics-consumer", filter_subject=subjects.intent(ACCOUNT), codec=m.INTENTS,
        handler=handle, batch=1, max_ack_pending=1, retry_delay=0.05, info_every_s=0.1).start()
    try:
        for qty in (1, 2, 3, 4):
            intent = m.OrderIntent(account=ACCOUNT, symbol="AAPL", side=m.Side.BUY, order_type=m.OrderType.MARKET,
                                   qty=qty)
            await bus.publish(js, subjects.intent(ACCOUNT), intent, msg_id=intent.intent_id)
        labels = dict(stream="INTENTS", durable="metrics-consumer")

        def held(s):
            return (value(s, "janus_consumer_pending", **labels), value(s, "janus_consumer_ack_pending", **labels),
                    value(s, "janus_consumer_redelivered", **labels)) == (3, 1, 1)

        samples = await scrape_until(endpoint.url, held)
        assert held(samples), {k: v for k, v in samples.items() if k[0].startswith("janus_consumer_")}
        assert value(samples, "janus_consumer_retried_total", **labels) == 1
        assert value(samples, "janus_consumer_alive", **labels) == 1

        release.set()
        samples = await scrape_until(endpoint.url, lambda s: value(s, "janus_consumer_handled_total", **labels) == 4
                                     and value(s, "janus_consumer_pending", **labels) == 0
                                     and value(s, "janus_consumer_ack_pending", **labels) == 0)
        assert value(samples, "janus_consumer_handled_total", **labels) == 4
        assert value(samples, "janus_consumer_pending", **labels) == 0
    finally:
        await consumer.stop()
    samples = await scrape_until(endpoint.url, lambda s: True)
    assert ("janus_consumer_alive", frozenset(labels.items())) not in samples  # a stopped consumer leaves the page
