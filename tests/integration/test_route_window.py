"""A durable made by an older version of a service is brought to the configuration the service
asks for now: a gateway's route consumer created with one message in flight gets the kernel's
window (a cancel can get past a stuck place after an upgrade), and the router's intents consumer
gets its account's control subject added (a halt sent after an upgrade is not left unread)."""

from __future__ import annotations

import pytest
from nats.js.api import AckPolicy, ConsumerConfig

from janus_common import bus, subjects
from janus_common.messages import ROUTES
from janus_common.streams import INTENTS_STREAM, ROUTES_STREAM
from janus_gateway import kernel

pytestmark = pytest.mark.integration


async def _nothing(_msg, _event) -> None:
    return None


async def test_an_old_route_consumer_gets_the_kernel_window(js):
    durable = "ib-gateway-window-test"
    await js.add_consumer(ROUTES_STREAM, config=ConsumerConfig(
        durable_name=durable, ack_policy=AckPolicy.EXPLICIT, ack_wait=15, max_deliver=-1,
        filter_subject=subjects.route("ib", "window-test"), max_ack_pending=1))
    consumer = bus.Consumer(js, stream=ROUTES_STREAM, durable=durable, filter_subject=subjects.route("ib", "window-test"),
                            codec=ROUTES, handler=_nothing, max_ack_pending=kernel.ROUTE_WINDOW, ack_wait=15,
                            max_deliver=-1)
    await consumer.start()
    try:
        info = await js.consumer_info(ROUTES_STREAM, durable)
        assert info.config.max_ack_pending == kernel.ROUTE_WINDOW
    finally:
        await consumer.stop()


async def test_an_old_intents_consumer_gets_its_new_filter_subjects(js):
    durable = "router-upgrade-test"
    await js.add_consumer(INTENTS_STREAM, config=ConsumerConfig(
        durable_name=durable, ack_policy=AckPolicy.EXPLICIT, filter_subject=subjects.intent("upgrade-test")))
    wanted = [subjects.intent("upgrade-test"), subjects.control("upgrade-test")]
    consumer = bus.Consumer(js, stream=INTENTS_STREAM, durable=durable, filter_subject=wanted,
                            codec=ROUTES, handler=_nothing, max_ack_pending=1)
    await consumer.start()
    try:
        info = await js.consumer_info(INTENTS_STREAM, durable)
        assert sorted(info.config.filter_subjects or []) == sorted(wanted)
    finally:
        await consumer.stop()
