"""Positions for people: what ``janus positions`` / ``janus watch`` print and the web console
shows. Pure: broker snapshots, fills, valuations (and a clock for the age column) in, views and
text out.

The broker's positions are the truth of what is held; the pricer's valuation only prices them.
A valuation lags a fill (the pricer debounces, and it waits for the broker's snapshot), so the
positions are never taken from it alone: :func:`merge` starts from the latest
``PositionSnapshot`` of each account plus the fills recorded after it, and fills the valuation
columns from the valuation only where it agrees with that quantity. A position the valuation
has not caught up with is shown at once, marked ``unvalued``; it is never left out.

"Fills after the snapshot" is the router's own rule (``projections.Ledger.unreported``): stream
order decides. A broker that reports a position before the execution's fill event is stored
(e.g. an IB fill held back for its commission report) has that fill counted twice until the
account's next snapshot.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum

import msgspec

from janus_common.messages import (
    AccountValuation,
    Broker,
    BrokerSide,
    OrderFilled,
    PositionSnapshot,
    PositionValuation,
)

NS = 1_000_000_000
COLUMNS = ("ACCOUNT", "SYMBOL", "QTY", "AVG COST", "MULT", "PRICE", "MKT VALUE", "UNRL PNL",
           "SOURCE", "AGE", "FLAGS")
_RIGHT = {"QTY", "AVG COST", "MULT", "PRICE", "MKT VALUE", "UNRL PNL", "AGE"}
_EPS = 1e-9


class Valued(StrEnum):
    """How far a position's valuation columns can be trusted."""

    VALUED = "VALUED"  # the valuation prices exactly this quantity
    PENDING = "PENDING"  # the valuation has not caught up (older quantity, or none for the symbol)


class PositionView(PositionValuation, frozen=True, kw_only=True):
    """One position: the broker's quantity (plus fills since), and the valuation's columns
    where the valuation agrees with it (PositionValuation's own fields, so JSON keeps them)."""

    valued: Valued = Valued.VALUED


class AccountView(msgspec.Struct, frozen=True, kw_only=True):
    """An account's positions; its totals sum the valued positions (``complete``: all are)."""

    account: str
    broker: Broker | None
    positions: list[PositionView]
    market_value: float = 0.0
    unrealized_pnl: float = 0.0
    complete: bool = True
    valuation_ts: int | None = None  # when the valuation used was made; None: none exists


class _Held(msgspec.Struct, kw_only=True):
    qty: float
    avg_cost: float
    multiplier: float = 1.0


def _apply_fill(held: dict[str, _Held], fill: OrderFilled) -> None:
    """A fill the next snapshot will report: the quantity moves now, the average cost the way a
    broker computes it (it changes when the position grows, not when it shrinks)."""
    signed = fill.qty if fill.side is BrokerSide.BUY else -fill.qty
    pos = held.get(fill.symbol)
    if pos is None or abs(pos.qty) < _EPS:
        held[fill.symbol] = _Held(qty=signed, avg_cost=fill.price,
                                  multiplier=pos.multiplier if pos else 1.0)
        return
    new = pos.qty + signed
    if pos.qty * signed > 0:  # growing
        pos.avg_cost = (pos.qty * pos.avg_cost + signed * fill.price) / new
    elif new * pos.qty < 0:  # flipped through zero: the rest opened at this price
        pos.avg_cost = fill.price
    pos.qty = new


def _position(symbol: str, held: _Held, priced: PositionValuation | None) -> PositionView:
    if priced is not None and abs(priced.qty - held.qty) < _EPS:
        return PositionView(**{f: getattr(priced, f) for f in priced.__struct_fields__},
                            valued=Valued.VALUED)
    # The valuation is behind: its price (if any) is still the latest known, but its market
    # value and PnL are of another quantity, so they are not shown.
    return PositionView(symbol=symbol, qty=held.qty, avg_cost=held.avg_cost, multiplier=held.multiplier,
                        price=priced.price if priced else None, price_ts=priced.price_ts if priced else None,
                        price_source=priced.price_source if priced else None,
                        derived=priced.derived if priced else False, stale=priced.stale if priced else False,
                        valued=Valued.PENDING)


def _account(account: str, snapshot: PositionSnapshot | None, fills: Sequence[OrderFilled],
             valuation: AccountValuation | None) -> AccountView:
    held: dict[str, _Held] = {}
    if snapshot is not None:
        held = {p.symbol: _Held(qty=p.qty, avg_cost=p.avg_cost, multiplier=p.multiplier)
                for p in snapshot.positions}
    elif valuation is not None and not fills:
        # No broker snapshot to read (none yet, or not ours to read): the valuation is all we know.
        held = {p.symbol: _Held(qty=p.qty, avg_cost=p.avg_cost, multiplier=p.multiplier)
                for p in valuation.positions}
    for fill in fills:
        _apply_fill(held, fill)
    priced = {p.symbol: p for p in valuation.positions} if valuation else {}
    positions = [_position(symbol, h, priced.get(symbol))
                 for symbol, h in sorted(held.items()) if abs(h.qty) >= _EPS]
    valued = [p for p in positions if p.valued is Valued.VALUED]
    broker = (snapshot.broker if snapshot else valuation.broker if valuation
              else fills[0].broker if fills else None)
    return AccountView(account=account, broker=broker, positions=positions,
                       market_value=sum(p.market_value or 0.0 for p in valued),
                       unrealized_pnl=sum(p.unrealized_pnl or 0.0 for p in valued),
                       complete=len(valued) == len(positions),
                       valuation_ts=valuation.ts if valuation else None)


def merge(snapshots: Mapping[str, PositionSnapshot], fills: Mapping[str, Sequence[OrderFilled]],
          valuations: Iterable[AccountValuation]) -> list[AccountView]:
    """Every account that has a snapshot, fills or a valuation, sorted. ``fills``: per account,
    the fills recorded after its snapshot (all of them when it has none), oldest first."""
    by_account = {v.account: v for v in valuations}
    accounts = sorted(set(snapshots) | {a for a, f in fills.items() if f} | set(by_account))
    return [_account(a, snapshots.get(a), fills.get(a, ()), by_account.get(a)) for a in accounts]


def from_valuations(valuations: Iterable[AccountValuation]) -> list[AccountView]:
    """Views of valuations alone (nothing else known): every position as the pricer valued it."""
    return merge({}, {}, valuations)


def _num(value: float | None, places: int = 2) -> str:
    return "-" if value is None else f"{value:,.{places}f}"


def _qty(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.4f}".rstrip("0")


def age(price_ts: int | None, now_ns: int) -> str:
    if price_ts is None:
        return "-"
    seconds = max(0.0, (now_ns - price_ts) / NS)
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.0f}h"


def flags(p: PositionView) -> list[str]:
    out = []
    if p.valued is Valued.PENDING:
        out.append("unvalued")
    if p.price is None:
        out.append("no-price")
    if p.derived:
        out.append("derived")
    if p.stale:
        out.append("stale")
    return out


def _views(accounts: Iterable[AccountView | AccountValuation]) -> list[AccountView]:
    items = list(accounts)
    views = [a for a in items if isinstance(a, AccountView)]
    return sorted(views + from_valuations(a for a in items if isinstance(a, AccountValuation)),
                  key=lambda v: v.account)


def rows(accounts: Iterable[AccountView | AccountValuation], now_ns: int) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for v in _views(accounts):
        for p in v.positions:
            out.append((v.account, p.symbol, _qty(p.qty), _num(p.avg_cost), _qty(p.multiplier),
                        _num(p.price), _num(p.market_value), _num(p.unrealized_pnl),
                        str(p.price_source or "-"), age(p.price_ts, now_ns), ",".join(flags(p))))
        out.append((v.account, "TOTAL", "", "", "", "", _num(v.market_value),
                    _num(v.unrealized_pnl), str(v.broker or "-"), "", "" if v.complete else "partial"))
    return out


def render_table(accounts: Iterable[AccountView | AccountValuation], now_ns: int | None = None) -> str:
    """A fixed-width table, one line per position and a TOTAL line per account (``partial``
    when a position is not valued yet: the total leaves it out)."""
    now = time.time_ns() if now_ns is None else now_ns
    body = rows(accounts, now)
    if not body:
        return "no positions"
    widths = [max(len(COLUMNS[i]), *(len(r[i]) for r in body)) for i in range(len(COLUMNS))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if COLUMNS[i] in _RIGHT else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(COLUMNS), *(line(r) for r in body)])


def render_json(accounts: Iterable[AccountView | AccountValuation]) -> str:
    """The views as a JSON array (the ``--json`` form; a valuation's field names and more)."""
    return msgspec.json.encode(_views(accounts)).decode()
