"""Market data and valuations."""

from __future__ import annotations

import msgspec

from .base import Broker, Id, Message, Symbol, new_id, now_ns

__all__ = [
    "AccountValuation",
    "Bar",
    "MarketData",
    "PositionValuation",
    "Tick",
    "Valuation",
]


# --- janus.md.tick.{symbol}, janus.md.bar.{symbol} --------------------------------------


class Tick(Message, frozen=True, kw_only=True, omit_defaults=True):
    symbol: Symbol
    ts: int = msgspec.field(default_factory=now_ns)
    source: Broker = Broker.IB
    bid: float | None = None
    ask: float | None = None
    last: float | None = None
    bid_size: float | None = None
    ask_size: float | None = None
    last_size: float | None = None
    delayed: bool = False


class Bar(Message, frozen=True, kw_only=True):
    symbol: Symbol
    ts: int  # bar start, ns since the epoch
    interval_s: int = 5
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0
    wap: float | None = None
    count: int | None = None
    source: Broker = Broker.IB


MarketData = Tick | Bar

# --- janus.val.{account} ----------------------------------------------------------------


class PositionValuation(msgspec.Struct, frozen=True, kw_only=True):
    symbol: Symbol
    qty: float
    avg_cost: float
    multiplier: float = 1.0
    price: float | None = None
    price_ts: int | None = None
    price_source: Broker | None = None
    market_value: float | None = None
    unrealized_pnl: float | None = None
    derived: bool = False  # priced with another broker's data
    stale: bool = False


class AccountValuation(Message, frozen=True, kw_only=True):
    event_id: Id = msgspec.field(default_factory=new_id)
    ts: int = msgspec.field(default_factory=now_ns)
    account: Id
    broker: Broker
    positions: list[PositionValuation]
    market_value: float = 0.0
    unrealized_pnl: float = 0.0


Valuation = AccountValuation
