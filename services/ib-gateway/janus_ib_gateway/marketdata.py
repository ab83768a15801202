"""Market data when this alias is the configured market-data account: janus.rpc.md.subscribe →
reqMktData + 5-second real-time bars, published as Tick/Bar keyed by canonical symbol, and
restored after every reconnect and after a market-data farm comes back (2103 → 2104)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import structlog
from ib_async import IB, Contract, RealTimeBarList, Ticker
from nats.aio.client import Client as NATS

from janus_common import subjects
from janus_common.messages import (
    Bar,
    Broker,
    MarketDataSubscribe,
    MarketDataSubscribed,
    MarketDataUnsubscribe,
    RejectReason,
    RpcError,
    Tick,
    encode,
)
from janus_common.symbols import AssetClass, SymbolError, infer_asset_class, normalize

from . import codes
from .lookup import Lookups
from .mapping import lookup_query

log = structlog.get_logger()


def _num(x: float) -> float | None:
    return None if x is None or x != x else float(x)


@dataclass
class Subscription:
    symbol: str
    contract: Contract
    requesters: set[str] = field(default_factory=set)
    delayed: bool = False
    ticker: Ticker | None = None
    bars: RealTimeBarList | None = None
    # Settled by the first tick (None) or by IB's refusal (why).
    outcome: asyncio.Future[str | None] | None = None


class MarketData:
    def __init__(self, ib: IB, nc: NATS, lookups: Lookups, ready: asyncio.Event, *, settle: float = 3.0):
        self.ib = ib
        self.nc = nc
        self.lookups = lookups
        self.ready = ready
        self.settle = settle
        self.subs: dict[str, Subscription] = {}
        self.by_con_id: dict[int, Subscription] = {}

    def on_error(self, req_id: int, code: int, text: str, contract: Contract | None) -> None:
        """From the gateway's one error subscriber."""
        sub = self.by_con_id.get(getattr(contract, "conId", 0) or 0) if contract is not None else None
        if sub is None:
            return
        if code == codes.DELAYED_DATA:
            sub.delayed = True  # accepted; every tick says so
        elif codes.is_entitlement_failure(code) and sub.outcome is not None and not sub.outcome.done():
            sub.outcome.set_result(f"IB error {code}: {text}")

    async def handle(self, req: MarketDataSubscribe | MarketDataUnsubscribe) -> MarketDataSubscribed | RpcError:
        if isinstance(req, MarketDataUnsubscribe):
            for symbol in req.symbols:
                sub = self.subs.get(symbol)
                if sub is not None:
                    sub.requesters.discard(req.requester)
                    if not sub.requesters:
                        self._cancel(sub)
            return MarketDataSubscribed(subscribed=sorted(s for s, v in self.subs.items() if v.requesters))
        if not self.ready.is_set():
            return RpcError(reason=RejectReason.BROKER_UNAVAILABLE, message="the market-data gateway is not connected")
        failed: dict[str, str] = {}
        results = await asyncio.gather(*(self._subscribe(s, req.requester) for s in req.symbols))
        for symbol, problem in zip(req.symbols, results):
            if problem:
                failed[symbol] = problem
        return MarketDataSubscribed(subscribed=sorted(s for s in req.symbols if s not in failed), failed=failed)

    async def _subscribe(self, raw: str, requester: str) -> str | None:
        try:
            cls = infer_asset_class(raw)
            symbol = normalize(raw, cls)
            q = lookup_query(symbol, cls if cls is not AssetClass.FOREX else AssetClass.EQUITY, None, "USD")
        except SymbolError as exc:
            return str(exc)
        if symbol in self.subs:
            self.subs[symbol].requesters.add(requester)
            return None
        found = await self.lookups.details(q)
        if len(found) != 1:
            return f"IB has {len(found)} contracts for {symbol}"
        contract = found[0].contract
        if contract is None:
            return f"IB described {symbol} without a contract"
        sub = Subscription(symbol, contract, {requester})
        self.subs[symbol] = sub
        self.by_con_id[sub.contract.conId] = sub
        problem = await self._start(sub)
        if problem:
            self._cancel(sub)
        return problem

    async def _start(self, sub: Subscription) -> str | None:
        sub.outcome = asyncio.get_running_loop().create_future()
        sub.ticker = self.ib.reqMktData(sub.contract)
        sub.ticker.updateEvent += lambda t, s=sub: self._tick(s, t)
        sub.bars = self.ib.reqRealTimeBars(sub.contract, 5, "TRADES", False)
        sub.bars.updateEvent += lambda bars, has_new, s=sub: self._bar(s, bars, has_new)
        try:
            # Either the first tick or IB's refusal settles it.
            return await asyncio.wait_for(asyncio.shield(sub.outcome), self.settle)
        except asyncio.TimeoutError:
            return None  # no tick yet, no refusal: subscribed, prices will come

    def _cancel(self, sub: Subscription) -> None:
        self.subs.pop(sub.symbol, None)
        self.by_con_id.pop(sub.contract.conId, None)
        if self.ib.isConnected():
            self.ib.cancelMktData(sub.contract)
            if sub.bars is not None:
                self.ib.cancelRealTimeBars(sub.bars)

    def _tick(self, sub: Subscription, t: Ticker) -> None:
        if sub.outcome is not None and not sub.outcome.done():
            sub.outcome.set_result(None)
        delayed = sub.delayed or getattr(t, "marketDataType", 1) in (3, 4)
        tick = Tick(symbol=sub.symbol, source=Broker.IB, bid=_num(t.bid), ask=_num(t.ask), last=_num(t.last),
                    bid_size=_num(t.bidSize), ask_size=_num(t.askSize), last_size=_num(t.lastSize), delayed=delayed)
        asyncio.ensure_future(self.nc.publish(subjects.md_tick(sub.symbol), encode(tick)))

    def _bar(self, sub: Subscription, bars: RealTimeBarList, has_new: bool) -> None:
        if not has_new or not bars:
            return
        b = bars[-1]
        bar = Bar(symbol=sub.symbol, ts=int(b.time.timestamp() * 1e9), interval_s=5, open=b.open_, high=b.high,
                  low=b.low, close=b.close, volume=float(b.volume), wap=float(b.wap), count=int(b.count))
        asyncio.ensure_future(self.nc.publish(subjects.md_bar(sub.symbol), encode(bar)))

    async def restore(self) -> None:
        """After a reconnect or a farm coming back: subscribe everything again."""
        for sub in list(self.subs.values()):
            await self._start(sub)
        if self.subs:
            log.info("market_data_restored", symbols=len(self.subs))
