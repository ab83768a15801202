"""The paper broker as a gateway-kernel adapter: ``broker: paper`` in config.yaml.

The "broker" is :mod:`.engine` (pure); this module is its IO: the book rebuilt from EVENTS at
start-up (:mod:`.history`), prices from the MARKET stream (IB market-data ticks, asked for
through the md-subscribe RPC like the pricer does), and the engine's outcomes turned into the
kernel's broker-neutral reports. The connection never drops on its own (the broker is in this
process); ``watch`` is the paper broker's clock: it ends DAY orders at the New York close.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import nats.js.errors
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext

from janus_common import bus, subjects
from janus_common.config import PaperSettings
from janus_common.messages import (
    MARKET_DATA,
    ORDER_EVENTS,
    Broker,
    BrokerSide,
    LookupNotFound,
    LookupReply,
    LookupRequest,
    MessageDecodeError,
    OrderState,
    OrderType,
    PlaceOrder,
    Position,
    Tick,
)
from janus_common.streams import EVENTS_STREAM, MARKET_STREAM
from janus_common.symbols import AssetClass
from janus_gateway.adapter import (
    AccountValuesReport,
    ConnectionNotice,
    ErrorKind,
    ErrorReport,
    FillReport,
    NoticeKind,
    OrderStatusReport,
    Report,
    ReportSink,
)
from janus_pricer.mdsub import MarketDataSubscriptions
from janus_pricer.quotes import Quote, merge_tick

from . import engine, history
from .engine import Accepted, Book, Ended, Filled, Outcome, Refused, Triggered

log = structlog.get_logger()

FIRST_TICK_WAIT_S = 5.0  # a market order for a symbol nobody streams yet waits this long for a price
CLOCK_S = 1.0  # how often DAY orders are checked against the close


def broker_order_id(key: str) -> str:
    return f"paper:{key}"


def reports_for(outcome: Outcome) -> list[Report]:
    """The kernel's words for what the engine decided. Pure."""
    match outcome:
        case Accepted(key, waits_for_stop):
            # A stop waiting for its trigger is PRE_SUBMITTED (as at IB), so its trigger is a change
            # of state the tracker publishes, and the book rebuilds it as triggered.
            state = OrderState.PRE_SUBMITTED if waits_for_stop else OrderState.SUBMITTED
            return [OrderStatusReport(order_key=key, status=state, broker_order_id=broker_order_id(key),
                                      broker_status="Accepted")]
        case Triggered(key):
            return [OrderStatusReport(order_key=key, status=OrderState.SUBMITTED, broker_order_id=broker_order_id(key),
                                      broker_status=history.TRIGGERED)]
        case Filled(key, symbol, side, qty, price):
            return [FillReport(order_key=key, fill_id=f"paper:{key}", qty=qty, price=price, side=side, symbol=symbol,
                               commission=0.0, commission_currency="USD", broker_order_id=broker_order_id(key)),
                    OrderStatusReport(order_key=key, status=OrderState.FILLED, filled=qty, remaining=0.0,
                                      avg_fill_price=price, broker_order_id=broker_order_id(key), broker_status="Filled"),
                    ConnectionNotice(kind=NoticeKind.ACCOUNT_CHANGED, detail=f"{symbol} filled")]
        case Ended(key, kind, text):
            return [OrderStatusReport(order_key=key, status=OrderState.CANCELLED, remaining=0.0,
                                      broker_order_id=broker_order_id(key), broker_status=str(kind), reason=text)]
        case Refused(key, kind, text):
            return [ErrorReport(order_key=key, kind=ErrorKind.REJECTED, code=str(kind), text=text)]
    raise TypeError(f"not an engine outcome: {outcome!r}")


class PaperAdapter:
    broker = Broker.PAPER

    def __init__(self, nc: NATS, js: JetStreamContext, alias: str, settings: PaperSettings, *,
                 clock: Callable[[], int] = time.time_ns, first_tick_wait_s: float = FIRST_TICK_WAIT_S) -> None:
        self.nc = nc
        self.js = js
        self.alias = alias
        self.settings = settings
        self.clock = clock
        self.first_tick_wait_s = first_tick_wait_s
        self.max_age_ns = int(settings.max_quote_age_s * 1e9)
        self.book = Book(cash=settings.starting_cash)
        self._restored = False
        self.quotes: dict[str, Quote] = {}
        self.market = MarketDataSubscriptions(nc, requester=f"janus-paper-{alias}")
        self._sink: ReportSink | None = None
        self._ticks: Subscription | None = None
        self._fresh: dict[str, asyncio.Event] = {}
        self._md_task: asyncio.Task[None] | None = None
        self._down = asyncio.Event()

    def bind(self, sink: ReportSink) -> None:
        self._sink = sink

    # --- the connection: the book from EVENTS, ticks from MARKET --------------------------

    async def connect(self) -> str:
        if not self._restored:
            # Once per process: afterwards the book here is ahead of EVENTS (reports the kernel has
            # not published yet), so a reconnect keeps it. (The kernel reads the same history for
            # its order book; serve_adapter has no hook to fold it through an adapter as well.)
            events = await bus.history(self.js, EVENTS_STREAM, subjects.evt_order(self.alias), ORDER_EVENTS)
            self.book = history.restore(self.settings.starting_cash, events)
            self._restored = True
        self._down.clear()
        if self._ticks is None:
            self._ticks = await self.nc.subscribe(subjects.ALL_TICKS, cb=self._on_tick)
        if self._md_task is None:
            # A new one each time: a stopped MarketDataSubscriptions does not run again.
            self.market = MarketDataSubscriptions(self.nc, requester=self.market.requester)
            self._md_task = asyncio.ensure_future(self.market.run())
        self._want()
        log.info("paper_book", cash=self.book.cash, positions=len(self.book.holdings), working=len(self.book.working))
        return f"paper account {self.alias}: cash {self.book.cash:.2f}, {len(self.book.holdings)} positions"

    async def reconcile(self, known: frozenset[str]) -> int:
        # Every outcome the book holds came from EVENTS, so it was published: only the working
        # orders' state is worth repeating (the tracker drops what it already said).
        for key in sorted(self.book.working):
            self._report_working(key)
        await self._step(engine.expire(self.book, self.clock()))
        return len(self.book.working)

    async def watch(self) -> str:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._down.wait(), CLOCK_S)
                return "paper broker stopped"
            await self._step(engine.expire(self.book, self.clock()))

    async def disconnect(self) -> None:
        self._down.set()
        if self._ticks is not None:
            with contextlib.suppress(Exception):
                await self._ticks.unsubscribe()
            self._ticks = None
        if self._md_task is not None:
            await self.market.stop()
            self._md_task.cancel()
            self._md_task = None

    # --- orders ---------------------------------------------------------------------------

    async def place(self, order: PlaceOrder) -> None:
        # Another account or broker is refused by the kernel's route desk before it gets here.
        if order.order_type is OrderType.MARKET:
            await self._price_for(order.symbol, order.side)
        await self._step(engine.place(self.book, order, self.quotes, self.clock(), self.max_age_ns))
        self._want()

    async def has_order(self, order_key: str) -> bool:
        if order_key in self.book.working:
            self._report_working(order_key)
        return order_key in self.book.known

    async def cancel(self, order_key: str) -> None:
        await self._step(engine.cancel(self.book, order_key))

    async def lookup(self, request: LookupRequest) -> LookupReply:
        return LookupNotFound(message="the paper broker trades the symbols IB market data prices: look them up on ib")

    async def open_orders(self) -> int:
        for key in sorted(self.book.working):
            self._report_working(key)
        return len(self.book.working)

    async def positions(self) -> list[Position]:
        return [Position(symbol=s, asset_class=AssetClass.EQUITY, qty=h.qty, avg_cost=h.avg_cost,
                         currency=self.settings.currency)
                for s, h in sorted(self.book.holdings.items())]

    async def account_values(self) -> AccountValuesReport | None:
        cash = self.book.cash
        net = engine.net_liquidation(self.book, self.quotes)
        power = engine.buying_power(self.book, self.quotes)
        return AccountValuesReport(currency=self.settings.currency, cash=cash, net_liquidation=net, buying_power=power,
                                   values={"TotalCashValue": f"{cash:.2f}", "NetLiquidation": f"{net:.2f}",
                                           "BuyingPower": f"{power:.2f}"})

    # --- inside ---------------------------------------------------------------------------

    async def _step(self, step: tuple[Book, list[Outcome]]) -> None:
        self.book, outcomes = step
        for outcome in outcomes:
            log.info("paper_outcome", outcome=type(outcome).__name__, order_key=outcome.order_key)
            self._emit(reports_for(outcome))

    def _report_working(self, key: str) -> None:
        """A working order's state as it stands (the tracker drops what it already said)."""
        w = self.book.working[key]
        self._emit(reports_for(Triggered(key) if w.triggered else Accepted(key, w.order.order_type in engine.STOPS)))

    def _emit(self, reports: list[Report]) -> None:
        assert self._sink is not None, "bind() comes before anything is reported"
        for report in reports:
            self._sink(report)

    def _want(self, *also: str) -> None:
        """Stream what the book needs: working orders' and positions' symbols (and ``also``).
        A symbol no longer needed is given up, so a refused unknown one is not asked forever."""
        symbols = {w.order.symbol for w in self.book.working.values()} | set(self.book.holdings)
        self.market.want(frozenset(symbols | set(also)))

    async def _on_tick(self, msg: Msg) -> None:
        try:
            tick = MARKET_DATA.decode(msg.data, subject=msg.subject)
        except MessageDecodeError as exc:
            log.warning("tick_undecodable", subject=exc.subject, reason=exc.reason)
            return
        if not isinstance(tick, Tick):
            return
        self._merge(tick)
        if any(w.order.symbol == tick.symbol for w in self.book.working.values()):
            await self._step(engine.on_quote(self.book, tick.symbol, self.quotes, self.clock(), self.max_age_ns))

    def _merge(self, tick: Tick) -> None:
        self.quotes[tick.symbol] = merge_tick(self.quotes.get(tick.symbol), tick)
        fresh = self._fresh.get(tick.symbol)
        if fresh is not None:
            fresh.set()

    async def _price_for(self, symbol: str, side: BrokerSide) -> None:
        """A fresh quote for a market order: the latest tick MARKET stored, else ask for the symbol
        to be streamed and wait (bounded) for its first tick. Without one the engine refuses."""
        now = self.clock()
        if engine.touch(self.quotes.get(symbol), side, now, self.max_age_ns) is not None:
            return
        with contextlib.suppress(nats.js.errors.NotFoundError, MessageDecodeError):
            stored = await self.js.get_last_msg(MARKET_STREAM, subjects.md_tick(symbol))
            tick = MARKET_DATA.decode(stored.data or b"", subject=stored.subject)
            if isinstance(tick, Tick):
                self._merge(tick)
        if engine.touch(self.quotes.get(symbol), side, self.clock(), self.max_age_ns) is not None:
            return
        fresh = self._fresh.setdefault(symbol, asyncio.Event())
        fresh.clear()
        self._want(symbol)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(fresh.wait(), self.first_tick_wait_s)
