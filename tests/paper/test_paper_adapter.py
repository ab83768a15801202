"""The paper adapter on real parts: NATS, the IB simulator and the IB gateway streaming its market
data. The adapter is driven through its BrokerAdapter methods, as the kernel drives it, and its
reports are what it told the kernel."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from ibgw_helpers import running_gateway
from janus_common import bus, subjects
from janus_common import messages as m
from janus_common.config import PaperSettings
from janus_gateway.adapter import BrokerAdapter, ErrorKind, ErrorReport, FillReport, OrderStatusReport
from janus_ib_sim import IBSimulator
from janus_paper_gateway.adapter import PaperAdapter

pytestmark = pytest.mark.integration


@pytest.fixture
async def sim():
    async with IBSimulator(seed=3, tick_interval=0.05, bar_interval=0.5) as simulator:
        yield simulator


@pytest.fixture
async def market(js, nats_url, sim):
    """The IB gateway of the market-data account, ready (it serves md-subscribe)."""
    async with running_gateway(nats_url, sim.port) as ctx:
        yield ctx


class Reports:
    def __init__(self) -> None:
        self.queue: asyncio.Queue = asyncio.Queue()
        self.seen: list = []

    def __call__(self, report) -> None:
        self.queue.put_nowait(report)

    async def next(self, kind, where=lambda r: True, timeout: float = 15.0):
        async def find():
            while True:
                report = await self.queue.get()
                self.seen.append(report)
                if isinstance(report, kind) and where(report):
                    return report
        return await asyncio.wait_for(find(), timeout)


@contextlib.asynccontextmanager
async def paper(nc, js, cash: float = 100_000.0, **kw):
    adapter = PaperAdapter(nc, js, "paper-1", PaperSettings(starting_cash=cash), **kw)
    reports = Reports()
    adapter.bind(reports)
    await adapter.connect()
    try:
        yield adapter, reports
    finally:
        await adapter.disconnect()


def order(intent_id: str, **kw) -> m.PlaceOrder:
    base = dict(intent_id=intent_id, account="paper-1", broker=m.Broker.PAPER, symbol="AAPL",
                side=m.BrokerSide.BUY, order_type=m.OrderType.MARKET, qty=10.0)
    return m.PlaceOrder(**{**base, **kw})


async def test_the_adapter_is_a_broker_adapter(nc, js):
    async with paper(nc, js) as (adapter, _):
        assert isinstance(adapter, BrokerAdapter)


async def test_a_market_order_fills_at_an_ask_ib_published(nc, js, market):
    async with paper(nc, js) as (adapter, reports):
        await adapter.place(order("mkt-1"))
        fill = await reports.next(FillReport)
        done = await reports.next(OrderStatusReport, lambda r: r.status is m.OrderState.FILLED)
        assert (fill.order_key, fill.qty, fill.side, done.filled) == ("mkt-1", 10, m.BrokerSide.BUY, 10)
        ticks = await bus.history(js, "MARKET", subjects.md_tick("AAPL"), m.MARKET_DATA)
        assert fill.price in {t.ask for t in ticks}, "the fill price is an ask the IB market data carried"
        assert await adapter.positions() == [m.Position(symbol="AAPL", asset_class="EQUITY", qty=10,
                                                        avg_cost=fill.price)]
        values = await adapter.account_values()
        assert values.cash == pytest.approx(100_000 - 10 * fill.price)
        assert values.buying_power == pytest.approx(values.cash)  # longs are paid in cash, nothing held
        assert values.net_liquidation == pytest.approx(values.cash + 10 * adapter.quotes["AAPL"].last)


async def test_a_resting_limit_fills_when_the_simulator_moves_the_price_through_it(nc, js, market, sim):
    async with paper(nc, js) as (adapter, reports):
        await adapter.place(order("warm"))  # streams AAPL and gives a price to rest below
        await reports.next(FillReport)
        limit = round(adapter.quotes["AAPL"].last - 20.0, 2)
        await adapter.place(order("lmt-1", order_type=m.OrderType.LIMIT, limit_price=limit))
        accepted = await reports.next(OrderStatusReport, lambda r: r.order_key == "lmt-1")
        assert accepted.status is m.OrderState.SUBMITTED and "lmt-1" in adapter.book.working
        with pytest.raises(asyncio.TimeoutError):  # the walk alone does not reach 20 below
            await reports.next(FillReport, lambda r: r.order_key == "lmt-1", timeout=1.0)
        sim.set_price("AAPL", limit - 1.0)
        fill = await reports.next(FillReport, lambda r: r.order_key == "lmt-1")
        assert fill.price <= limit and not adapter.book.working


async def test_a_market_order_without_a_price_is_refused_with_its_kind(nc, js, market):
    # ZZZZ is unknown to IB: nothing streams it, so there is no price to fill at.
    async with paper(nc, js, first_tick_wait_s=1.0) as (adapter, reports):
        await adapter.place(order("blind", symbol="ZZZZ"))
        refused = await reports.next(ErrorReport)
        assert (refused.order_key, refused.kind, refused.code) == ("blind", ErrorKind.REJECTED, "NO_PRICE")
        assert adapter.book.cash == 100_000 and not adapter.book.holdings


async def test_an_order_beyond_the_buying_power_is_refused_and_a_cancel_ends_a_resting_one(nc, js, market):
    async with paper(nc, js, cash=1_000.0) as (adapter, reports):
        await adapter.place(order("big", qty=1_000.0))
        refused = await reports.next(ErrorReport)
        assert refused.code == "INSUFFICIENT_BUYING_POWER" and not adapter.book.holdings
        await adapter.place(order("rest", qty=1.0, order_type=m.OrderType.LIMIT, limit_price=1.0))
        await reports.next(OrderStatusReport, lambda r: r.order_key == "rest")
        await adapter.cancel("rest")
        ended = await reports.next(OrderStatusReport, lambda r: r.status is m.OrderState.CANCELLED)
        assert ended.order_key == "rest" and not adapter.book.working
