"""janus-paper-gateway under the service runner, on real NATS with the IB simulator's market data:
route messages in, order events out, positions and account values published, and a restart
that keeps the book (cash, positions and a resting order)."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from event_collector import Events
from gateway_harness import events  # noqa: F401  (a fixture)

from ibgw_helpers import running_gateway
from janus_common import bus, subjects
from janus_common import messages as m
from janus_common.config import from_dict
from janus_common.service import serve
from janus_gateway import kernel
from janus_ib_sim import IBSimulator
from janus_paper_gateway.main import NAME, VERSION, setup

pytestmark = pytest.mark.integration
CASH = 100_000.0


def config(port: int) -> dict:
    return {"accounts": {
        "ib-1": {"broker": "ib", "ib": {"host": "127.0.0.1", "port": port, "client_id": 11, "account": "DU1000001"}},
        "paper-1": {"broker": "paper", "paper": {"starting_cash": CASH}},
    }, "market_data_account": "ib-1"}


@contextlib.asynccontextmanager
async def running_paper(nats_url: str, port: int):
    args = kernel.namespace(nats_url=nats_url, account="paper-1", route_ack_wait=3.0)
    started: asyncio.Future = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(NAME, VERSION, setup, args, from_dict(config(port), env={}),
                                     ready=started.set_result))
    done, _ = await asyncio.wait({task, started}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    assert started in done, f"the paper gateway did not start: {task.result() if task.done() else 'timeout'}"
    try:
        yield started.result()
    finally:
        started.result().stopping.set()
        assert await asyncio.wait_for(task, 20) == 0


@pytest.fixture
async def sim():
    async with IBSimulator(seed=4, tick_interval=0.05, bar_interval=0.5) as simulator:
        yield simulator


def place(intent_id: str, **kw) -> m.PlaceOrder:
    base = dict(intent_id=intent_id, account="paper-1", broker=m.Broker.PAPER, symbol="AAPL",
                side=m.BrokerSide.BUY, order_type=m.OrderType.MARKET, qty=10.0)
    return m.PlaceOrder(**{**base, **kw})


async def route(js, command) -> None:
    """As the router does it: the routing outcome first (the paper book rebuilds resting orders
    from it), then the broker order."""
    if isinstance(command, m.PlaceOrder):
        intent = m.OrderIntent(intent_id=command.intent_id, account="paper-1", symbol=command.symbol,
                               side=m.Side(command.side), order_type=command.order_type, qty=command.qty,
                               limit_price=command.limit_price, tif=command.tif)
        decision = m.PositionDecision(broker_position=0, in_flight=0, projected_position=command.qty,
                                      allow_short=False, locate_required=False, effect=m.PositionEffect.OPEN_LONG)
        await bus.publish(js, subjects.evt_order("paper-1"), m.OrderRouted(
            account="paper-1", intent_id=command.intent_id, intent=intent, broker=m.Broker.PAPER, decision=decision,
            orders=[command]), msg_id=f"outcome:{command.intent_id}")
    msg_id = command.order_key if isinstance(command, m.PlaceOrder) else command.cancel_id
    await bus.publish(js, subjects.route("paper", "paper-1"), command, msg_id=msg_id)


def paper(e) -> bool:
    return e.account == "paper-1"


def ready(e) -> bool:
    return paper(e) and e.state is m.ConnectionState.READY


async def final(events: Events, intent_id: str) -> m.OrderStatusChanged:
    return await events.next(m.OrderStatusChanged, timeout=20,
                             where=lambda e: e.intent_id == intent_id and e.status.terminal)


async def test_routes_become_paper_fills_and_a_restart_keeps_the_book(nc, js, nats_url, sim, events):
    async with running_gateway(nats_url, sim.port), running_paper(nats_url, sim.port):
        await events.next(m.GatewayConnection, where=ready, timeout=20)
        await route(js, place("buy-1"))
        fill = await events.next(m.OrderFilled, where=lambda e: e.intent_id == "buy-1", timeout=20)
        done = await final(events, "buy-1")
        assert done.status is m.OrderState.FILLED and done.filled == 10 and fill.broker is m.Broker.PAPER
        ticks = await bus.history(js, "MARKET", subjects.md_tick("AAPL"), m.MARKET_DATA)
        assert fill.price in {t.ask for t in ticks}
        snapshot = await events.next(m.PositionSnapshot, where=lambda e: paper(e) and e.positions, timeout=10)
        assert [(p.symbol, p.qty, p.avg_cost) for p in snapshot.positions] == [("AAPL", 10, fill.price)]
        values = await events.next(m.AccountValues, where=lambda e: paper(e) and e.cash != CASH, timeout=10)
        assert values.cash == pytest.approx(CASH - 10 * fill.price)

        # A limit far below rests; it must still be there after the restart.
        limit = round(fill.price - 30, 2)
        await route(js, place("rest-1", order_type=m.OrderType.LIMIT, limit_price=limit, tif=m.Tif.GTC))
        await events.next(m.OrderSubmitted, where=lambda e: e.intent_id == "rest-1", timeout=10)

    # The gateway is gone; routes wait in ROUTES. Another starts from EVENTS alone.
    restarted = time.time_ns()

    def now(e) -> bool:
        return paper(e) and e.ts > restarted

    async with running_gateway(nats_url, sim.port), running_paper(nats_url, sim.port):
        await events.next(m.GatewayConnection, where=lambda e: now(e) and ready(e), timeout=20)
        snapshot = await events.next(m.PositionSnapshot, where=now, timeout=10)  # forced after the reconcile
        assert [(p.symbol, p.qty, p.avg_cost) for p in snapshot.positions] == [("AAPL", 10, fill.price)]
        values = await events.next(m.AccountValues, where=now, timeout=10)
        assert values.cash == pytest.approx(CASH - 10 * fill.price)
        assert values.buying_power == pytest.approx(values.cash - 10 * limit)  # the resting limit's reserve
        sim.set_price("AAPL", limit - 1)
        rest = await events.next(m.OrderFilled, where=lambda e: e.intent_id == "rest-1", timeout=20)
        assert rest.price <= limit
        assert (await final(events, "rest-1")).status is m.OrderState.FILLED
        snapshot = await events.next(m.PositionSnapshot, where=lambda e: now(e) and e.positions and e.positions[0].qty == 20,
                                       timeout=10)
        assert snapshot.positions[0].avg_cost == pytest.approx((10 * fill.price + 10 * rest.price) / 20)
        # The same route again (a redelivery) is never a second order.
        await route(js, place("buy-1"))
        await route(js, place("after", qty=1.0))  # places go in order: once this ends, buy-1 was handled
        assert (await final(events, "after")).status is m.OrderState.FILLED
        stored = await bus.history(js, "EVENTS", subjects.evt_order("paper-1"), m.ORDER_EVENTS)
        assert [e.intent_id for e in stored if isinstance(e, m.OrderFilled)] == ["buy-1", "rest-1", "after"]


async def test_a_cancel_ends_a_resting_order_and_an_unpriceable_market_order_is_rejected(nc, js, nats_url, sim,
                                                                                       events):
    async with running_gateway(nats_url, sim.port), running_paper(nats_url, sim.port):
        await events.next(m.GatewayConnection, where=ready, timeout=20)
        await route(js, place("low", order_type=m.OrderType.LIMIT, limit_price=1.0))
        await events.next(m.OrderSubmitted, where=lambda e: e.intent_id == "low", timeout=20)
        await route(js, m.CancelOrder(intent_id="low", account="paper-1", broker=m.Broker.PAPER))
        assert (await final(events, "low")).status is m.OrderState.CANCELLED
        await events.next(m.OrderCancelled, where=lambda e: e.intent_id == "low", timeout=5)
        await route(js, place("blind", symbol="ZZZZ"))
        rejected = await events.next(m.OrderBrokerRejected, where=lambda e: e.intent_id == "blind", timeout=20)
        assert rejected.code == "NO_PRICE" and rejected.broker is m.Broker.PAPER


async def test_a_route_addressed_to_another_account_is_refused_by_the_kernel_not_placed(nc, js, nats_url, sim,
                                                                                        events):
    async with running_gateway(nats_url, sim.port), running_paper(nats_url, sim.port):
        await events.next(m.GatewayConnection, where=ready, timeout=20)
        await bus.publish(js, subjects.route("paper", "paper-1"), place("elsewhere", account="paper-2"),
                          msg_id="elsewhere")
        refused = await events.next(m.RouteRefused, where=paper, timeout=20)
        assert refused.reason is m.RejectReason.ACCOUNT_MISMATCH and refused.named_intent_id == "elsewhere"
        await route(js, place("after", qty=1.0))
        assert (await final(events, "after")).status is m.OrderState.FILLED
        stored = await bus.history(js, "EVENTS", subjects.evt_order("paper-1"), m.ORDER_EVENTS)
        assert [e.named_intent_id for e in stored if isinstance(e, m.RouteRefused)] == ["elsewhere"]
        assert not [e for e in stored if getattr(e, "intent_id", None) == "elsewhere"]  # nothing placed or tracked


async def test_a_triggered_stop_limit_stays_triggered_across_a_restart(nc, js, nats_url, sim, events):
    async with running_gateway(nats_url, sim.port), running_paper(nats_url, sim.port):
        await events.next(m.GatewayConnection, where=ready, timeout=20)
        await route(js, place("warm", qty=1.0))  # streams AAPL and tells where the market is
        price = (await events.next(m.OrderFilled, where=lambda e: e.intent_id == "warm", timeout=20)).price
        # BUY stop 10 below the market triggers at once; its limit 30 below does not fill.
        stop, limit = round(price - 10, 2), round(price - 30, 2)
        await route(js, place("sl", order_type=m.OrderType.STOP_LIMIT, stop_price=stop, limit_price=limit,
                              tif=m.Tif.GTC, qty=1.0))
        waiting = await events.next(m.OrderStatusChanged, where=lambda e: e.intent_id == "sl", timeout=20)
        triggered = await events.next(m.OrderStatusChanged, where=lambda e: e.intent_id == "sl", timeout=20)
        assert (waiting.status, triggered.status) == (m.OrderState.PRE_SUBMITTED, m.OrderState.SUBMITTED)
    async with running_gateway(nats_url, sim.port), running_paper(nats_url, sim.port):
        # Below the stop now: only an order that remembers its trigger fills at its limit.
        sim.set_price("AAPL", limit - 1)
        fill = await events.next(m.OrderFilled, where=lambda e: e.intent_id == "sl", timeout=20)
        assert fill.price <= limit
