"""The gateway process SIGKILLed while orders are in flight, then started again: every order
placed at IB exactly once, every fill published exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import sysconfig
from pathlib import Path

import pytest
import yaml
from ibgw_helpers import config, new_id, place, route
from nats.js.api import DeliverPolicy

from janus_client.discovery import wait_for_instances
from janus_common import subjects
from janus_common import messages as m

pytestmark = pytest.mark.system
GATEWAY = Path(sysconfig.get_path("scripts")) / "janus-ib-gateway"


async def start(cfg: Path, nats_url: str, log: Path):
    out = open(log, "ab")
    try:
        return await asyncio.create_subprocess_exec(
            str(GATEWAY), "--config", str(cfg), "--account", "ib-1", "--nats-url", nats_url,
            "--heartbeat", "0.5", "--dead-after", "1", "--route-ack-wait", "2", stdout=out, stderr=out, env={**os.environ})
    finally:
        out.close()


async def test_sigkill_mid_orders_then_restart(js, nc, nats_url, sim, events, tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(config(sim.port)))
    gateway = await start(cfg, nats_url, tmp_path / "gw1.log")
    await wait_for_instances(nc, "janus-ib-gateway", 1)
    await events.next(m.GatewayConnection, where=lambda e: e.state is m.ConnectionState.READY, timeout=30)

    intents = [new_id() for _ in range(8)]
    for intent in intents:  # a burst; market orders, some will be mid-flight at the kill
        await route(js, place(intent, qty=400.0))  # larger than the touch: fills in parts
    await events.next(m.OrderSubmitted, where=lambda e: e.intent_id in intents, timeout=30)
    gateway.send_signal(signal.SIGKILL)
    await gateway.wait()

    gateway = await start(cfg, nats_url, tmp_path / "gw2.log")
    try:
        for intent in intents:
            await events.next(m.OrderStatusChanged, timeout=60,
                              where=lambda e, i=intent: e.intent_id == i and e.status is m.OrderState.FILLED)
    finally:
        gateway.send_signal(signal.SIGTERM)
        await asyncio.wait_for(gateway.wait(), 15)

    for intent in intents:  # placed at IB exactly once
        assert len([o for o in sim.orders.values() if o.order_ref == intent]) == 1
    # The stored history (what an audit reads), not the live copies: each fill once, adding up.
    stored: list = []
    done = asyncio.Event()

    async def on_msg(msg):
        stored.append(m.ORDER_EVENTS.decode(msg.data))
        if msg.metadata.num_pending == 0:
            done.set()

    sub = await js.subscribe(subjects.evt_order("ib-1"), stream="EVENTS", ordered_consumer=True,
                             deliver_policy=DeliverPolicy.ALL, cb=on_msg)
    await asyncio.wait_for(done.wait(), 20)
    await sub.unsubscribe()
    for intent in intents:
        fills = [e for e in stored if isinstance(e, m.OrderFilled) and e.intent_id == intent]
        assert len({f.fill_id for f in fills}) == len(fills), intent
        assert sum(f.qty for f in fills) == 400, intent
        finals = [e for e in stored if isinstance(e, m.OrderStatusChanged) and e.intent_id == intent
                  and e.status is m.OrderState.FILLED]
        assert len(finals) == 1, intent
