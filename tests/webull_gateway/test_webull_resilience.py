"""Faults: a silent or dropped event stream, HTTP 429/5xx bursts, a gateway restarted mid-order."""

from __future__ import annotations

import asyncio
import os
import sysconfig
from pathlib import Path

import pytest
import yaml
from wbgw_helpers import ALIAS, new_id, place, route, running_gateway

from janus_common import bus, subjects
from janus_common import messages as m
from janus_common.config import from_dict
from janus_gateway.emit import Emitter
from janus_webull_gateway.mapping import client_order_id, new_order
from janus_webull_gateway.orders import OrderDesk
from janus_webull_gateway.webull_api import WebullApi
from wbgw_helpers import config

from wbgw_fixtures import events, gateway, sdk_cwd, sim  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration


def status(intent, state, leg=0):
    return lambda e: e.intent_id == intent and e.status is state and e.leg == leg


def broker_orders(sim, coid):
    return [o for o in sim.state()["orders"] if o["client_order_id"] == coid]


def once_each(events, intents, qty):
    """Every intent: fills summing to ``qty`` with distinct ids, one FILLED status, one submitted."""
    seen = events.drain()
    for intent in intents:
        fills = [e for e in seen if isinstance(e, m.OrderFilled) and e.intent_id == intent]
        assert sum(f.qty for f in fills) == qty, (intent, fills)
        assert len({f.fill_id for f in fills}) == len(fills)
        finals = [e for e in seen if isinstance(e, m.OrderStatusChanged) and e.intent_id == intent
                  and e.status is m.OrderState.FILLED]
        assert len(finals) == 1
        assert len([e for e in seen if isinstance(e, m.OrderSubmitted) and e.intent_id == intent]) == 1


async def barrier(js, events):
    """An order placed and filled after everything else: whatever the gateway still had to say
    about earlier orders is said by then (one route at a time, one event lock)."""
    marker = new_id()
    await route(js, place(marker, symbol="SPY", qty=1.0))
    await events.next(m.OrderStatusChanged, where=status(marker, m.OrderState.FILLED), timeout=15)


async def test_silent_stream_every_fill_once_through_polling(gateway, js, events, sim):
    sim.silent_stream(True)
    intents = [new_id() for _ in range(3)]
    for intent in intents:
        await route(js, place(intent, qty=250.0))  # fills in three parts, none of them on the stream
    for intent in intents:
        await events.next(m.OrderStatusChanged, where=status(intent, m.OrderState.FILLED), timeout=15)
    sim.silent_stream(False)
    await barrier(js, events)
    once_each(events, intents, 250)
    prices = [e.price for e in events.seen if isinstance(e, m.OrderFilled) and e.intent_id in intents]
    assert all(p > 0 for p in prices)


async def test_stream_drop_and_reconnect(gateway, js, events, sim):
    sim.drop_stream(refuse_reconnect=True)
    await events.next(m.GatewayConnection, where=lambda e: e.state is m.ConnectionState.DEGRADED)
    intent = new_id()
    await route(js, place(intent, qty=150.0))  # fills while the stream is down: polling reports it
    await events.next(m.OrderStatusChanged, where=status(intent, m.OrderState.FILLED), timeout=15)
    before = sim.subscribe_count
    sim.stream_up()
    await events.next(m.GatewayConnection, where=lambda e: e.state is m.ConnectionState.READY
                      and "stream" in e.detail, timeout=15)
    assert sim.subscribe_count > before
    await barrier(js, events)
    once_each(events, [intent], 150)


async def test_stream_silent_without_pings_is_resubscribed(gateway, js, events, sim):
    before = sim.subscribe_count
    sim.silent_stream(True, pings=False)
    await events.next(m.GatewayConnection, where=lambda e: e.state is m.ConnectionState.DEGRADED, timeout=15)
    sim.silent_stream(False)
    await events.next(m.GatewayConnection, where=lambda e: e.state is m.ConnectionState.READY
                      and "stream" in e.detail, timeout=15)
    assert sim.subscribe_count > before
    await barrier(js, events)


async def test_http_429_and_5xx_bursts_lose_and_double_nothing(gateway, js, events, sim):
    intents = [new_id() for _ in range(5)]
    sim.http_errors(429, count=3)
    sim.http_errors(503, count=3, executed=True)
    sim.http_errors(500, count=2)
    for intent in intents:
        await route(js, place(intent, qty=5.0))
        sim.http_errors(502, count=1, executed=True)
    for intent in intents:
        await events.next(m.OrderStatusChanged, where=status(intent, m.OrderState.FILLED), timeout=30)
    await barrier(js, events)
    once_each(events, intents, 5)
    assert not [e for e in events.seen if isinstance(e, m.OrderBrokerRejected)]
    for intent in intents:
        assert len(broker_orders(sim, intent)) == 1


class _PlaceAnsweredWith5xx(WebullApi):
    """The real SDK against the real simulator; only the simulator is told, right before the
    first place request, that its answer is lost behind a 5xx (``executed``: it was placed)."""

    def __init__(self, sim, loop, executed: bool, *args, **kw):
        super().__init__(*args, **kw)
        self.sim, self.loop, self.executed, self.places = sim, loop, executed, 0

    def place(self, new_order):
        self.places += 1
        if self.places == 1:
            fut = asyncio.run_coroutine_threadsafe(self._arm(), self.loop)
            fut.result(5)
        return super().place(new_order)

    async def _arm(self):
        self.sim.http_errors(503, count=1, executed=self.executed)


@pytest.mark.parametrize("executed", [True, False])
async def test_ambiguous_place_checks_the_broker_before_retrying(js, sim, events, executed, tmp_path):
    cfg = from_dict(config(sim), env={}).account(ALIAS).webull
    api = _PlaceAnsweredWith5xx(sim, asyncio.get_running_loop(), executed, cfg, str(tmp_path))
    await asyncio.to_thread(api.connect)
    desk = OrderDesk(api, Emitter(js, ALIAS), ALIAS, backoff=0.05)
    intent = new_id()
    await desk.place(place(intent, qty=1.0))
    submitted = await events.next(m.OrderSubmitted, where=lambda e: e.intent_id == intent)
    assert submitted.client_order_id == intent
    assert len(broker_orders(sim, intent)) == 1
    # executed: the detail found it, no second place; not executed: placed again, once.
    assert api.places == (1 if executed else 2)


async def test_restart_mid_order_never_places_twice(js, nats_url, sim, events):
    sim.pause_matching()
    async with running_gateway(nats_url, sim):
        await events.next(m.GatewayConnection, where=lambda e: e.state is m.ConnectionState.READY, timeout=20)
        resting = new_id()
        await route(js, place(resting, qty=300.0))
        await events.next(m.OrderStatusChanged, where=status(resting, m.OrderState.SUBMITTED))
        sim.match_now()  # 100 of 300
        await events.next(m.OrderFilled, where=lambda e: e.intent_id == resting)
    # Killed between Webull's answer and our first event: the order exists at Webull only.
    orphan = new_id()
    cfg = from_dict(config(sim), env={}).account(ALIAS).webull
    api = WebullApi(cfg, os.getcwd())
    await asyncio.to_thread(api.connect)
    await asyncio.to_thread(api.place, new_order(place(orphan, qty=200.0), client_order_id(orphan)))
    sim.match_now()  # fills while no gateway runs: 100 more of the resting one, 100 of the orphan
    async with running_gateway(nats_url, sim):
        await events.next(m.GatewayConnection, where=lambda e: e.state is m.ConnectionState.READY, timeout=20)
        # The same route messages again (new msg ids, so JetStream does not drop them as duplicates).
        await bus.publish(js, subjects.route("webull", ALIAS), place(resting, qty=300.0), msg_id=new_id())
        await bus.publish(js, subjects.route("webull", ALIAS), place(orphan, qty=200.0), msg_id=new_id())
        await events.next(m.OrderSubmitted, where=lambda e: e.intent_id == orphan)
        sim.pause_matching(False)
        await events.next(m.OrderStatusChanged, where=status(resting, m.OrderState.FILLED), timeout=15)
        await events.next(m.OrderStatusChanged, where=status(orphan, m.OrderState.FILLED), timeout=15)
        await barrier(js, events)
    once_each(events, [resting], 300)
    once_each(events, [orphan], 200)
    assert len(broker_orders(sim, resting)) == 1 and len(broker_orders(sim, orphan)) == 1
    assert not [e for e in events.seen if isinstance(e, m.OrderBrokerRejected)]


async def _until(predicate, timeout: float = 10.0) -> None:
    """Wait for a condition only the simulator's counters show (no event exists for it)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def test_gateway_process_killed_mid_place_then_restarted(js, nats_url, sim, events, tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(config(sim)))
    script = Path(sysconfig.get_path("scripts")) / "janus-webull-gateway"
    log = open(tmp_path / "gateway.log", "ab")
    proc = await asyncio.create_subprocess_exec(
        str(script), "--config", str(cfg), "--account", ALIAS, "--nats-url", nats_url, "--ack-wait", "2",
        "--log-level", "INFO", stdout=log, stderr=log,
        env={**os.environ, "JANUS_WEBULL_TOKEN_DIR": str(tmp_path / "t")})
    try:
        await events.next(m.GatewayConnection, where=lambda e: e.state is m.ConnectionState.READY, timeout=30)
        base = sim.http_request_count
        sim.slow_responses(1.0)
        intent = new_id()
        await route(js, place(intent, qty=5.0))
        await _until(lambda: sim.http_request_count >= base + 2)  # the detail check, then the place
        proc.kill()  # SIGKILL while Webull is still answering the place
        await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    await _until(lambda: len(broker_orders(sim, intent)) == 1)  # Webull carried the place out
    sim.clear_faults()
    # Nothing about the order's life was said (the attempt record is the poison count's, not the order's).
    assert not [e for e in events.drain() if getattr(e, "intent_id", None) == intent
                and not isinstance(e, m.OrderPlaceAttempted)]
    async with running_gateway(nats_url, sim):
        # The unacknowledged route message comes back: the broker check finds the order.
        await events.next(m.OrderSubmitted, where=lambda e: e.intent_id == intent, timeout=20)
        await events.next(m.OrderStatusChanged, where=status(intent, m.OrderState.FILLED), timeout=15)
        await barrier(js, events)
    once_each(events, [intent], 5)
    assert len(broker_orders(sim, intent)) == 1
    assert not [e for e in events.seen if isinstance(e, m.OrderBrokerRejected)]


async def test_webull_down_at_start_is_retried_until_up(js, nats_url, events):
    import socket
    from types import SimpleNamespace

    from janus_webull_sim import SimConfig, WebullSimulator

    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    planned = SimpleNamespace(app_key="sim-app-key", app_secret="sim-app-secret", account_id="SIMWB0001",
                              http_port=ports[0], grpc_port=ports[1])
    async with running_gateway(nats_url, planned):
        down = await events.next(m.GatewayConnection, where=lambda e: e.state is m.ConnectionState.DISCONNECTED)
        assert "unreachable" in down.detail
        await events.next(m.GatewayConnection, where=lambda e: e.state is m.ConnectionState.DISCONNECTED)  # retried
        fast = SimConfig(tick_interval=0.02, ping_interval=0.2)
        async with WebullSimulator(fast, seed=9, http_port=ports[0], grpc_port=ports[1]) as sim:
            await events.next(m.GatewayConnection, where=lambda e: e.state is m.ConnectionState.READY, timeout=20)
            intent = new_id()
            await route(js, place(intent, qty=1.0))
            await events.next(m.OrderStatusChanged, where=status(intent, m.OrderState.FILLED))
            assert sim.subscribe_count >= 1


async def test_wrong_secret_is_reported_and_never_ready(js, nats_url, events, sim):
    from types import SimpleNamespace

    wrong = SimpleNamespace(app_key=sim.app_key, app_secret="not-the-secret", account_id=sim.account_id,
                            http_port=sim.http_port, grpc_port=sim.grpc_port)
    async with running_gateway(nats_url, wrong):
        down = await events.next(m.GatewayConnection, where=lambda e: e.state is m.ConnectionState.DISCONNECTED)
        assert "401" in down.detail and "not-the-secret" not in down.detail
        await events.next(m.GatewayConnection, where=lambda e: e.state is m.ConnectionState.CONNECTING)
    assert not [e for e in events.drain() if isinstance(e, m.GatewayConnection) and e.state is m.ConnectionState.READY]
