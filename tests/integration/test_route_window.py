"""A gateway's route consumer created before the kernel (one message in flight) is widened, so
a cancel can get past a stuck place after an upgrade too."""

from __future__ import annotations

import pytest
from nats.js.api import AckPolicy, ConsumerConfig

from janus_common import subjects
from janus_common.streams import ROUTES_STREAM
from janus_gateway import kernel

pytestmark = pytest.mark.integration


async def test_an_old_route_consumer_gets_the_kernel_window(js):
    durable = "ib-gateway-window-test"
    await js.add_consumer(ROUTES_STREAM, config=ConsumerConfig(
        durable_name=durable, ack_policy=AckPolicy.EXPLICIT, ack_wait=15, max_deliver=-1,
        filter_subject=subjects.route("ib", "window-test"), max_ack_pending=1))
    await kernel.lift_route_window(js, durable)
    info = await js.consumer_info(ROUTES_STREAM, durable)
    assert info.config.max_ack_pending == kernel.ROUTE_WINDOW
    await kernel.lift_route_window(js, "no-such-consumer")  # nothing to widen: no error
