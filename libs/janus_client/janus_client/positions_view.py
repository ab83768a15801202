"""Valuations for people: the table ``janus positions`` / ``janus watch`` print, and JSON.
Pure: valuations (and a clock for the age column) in, text out."""

from __future__ import annotations

import time
from collections.abc import Iterable

import msgspec

from janus_common.messages import AccountValuation, PositionValuation

NS = 1_000_000_000
COLUMNS = ("ACCOUNT", "SYMBOL", "QTY", "AVG COST", "MULT", "PRICE", "MKT VALUE", "UNRL PNL",
           "SOURCE", "AGE", "FLAGS")
_RIGHT = {"QTY", "AVG COST", "MULT", "PRICE", "MKT VALUE", "UNRL PNL", "AGE"}


def _num(value: float | None, places: int = 2) -> str:
    return "-" if value is None else f"{value:,.{places}f}"


def _qty(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.4f}".rstrip("0")


def _age(price_ts: int | None, now_ns: int) -> str:
    if price_ts is None:
        return "-"
    seconds = max(0.0, (now_ns - price_ts) / NS)
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.0f}h"


def _flags(p: PositionValuation) -> str:
    flags = []
    if p.price is None:
        flags.append("no-price")
    if p.derived:
        flags.append("derived")
    if p.stale:
        flags.append("stale")
    return ",".join(flags)


def rows(valuations: Iterable[AccountValuation], now_ns: int) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for v in sorted(valuations, key=lambda v: v.account):
        for p in sorted(v.positions, key=lambda p: p.symbol):
            out.append((v.account, p.symbol, _qty(p.qty), _num(p.avg_cost), _qty(p.multiplier),
                        _num(p.price), _num(p.market_value), _num(p.unrealized_pnl),
                        str(p.price_source or "-"), _age(p.price_ts, now_ns), _flags(p)))
        out.append((v.account, "TOTAL", "", "", "", "", _num(v.market_value),
                    _num(v.unrealized_pnl), str(v.broker), "", ""))
    return out


def render_table(valuations: Iterable[AccountValuation], now_ns: int | None = None) -> str:
    """A fixed-width table, one line per position and a TOTAL line per account."""
    now = time.time_ns() if now_ns is None else now_ns
    body = rows(valuations, now)
    if not body:
        return "no positions"
    widths = [max(len(COLUMNS[i]), *(len(r[i]) for r in body)) for i in range(len(COLUMNS))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if COLUMNS[i] in _RIGHT else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(COLUMNS), *(line(r) for r in body)])


def render_json(valuations: Iterable[AccountValuation]) -> str:
    """The valuations as a JSON array (the ``--json`` form)."""
    return msgspec.json.encode(sorted(valuations, key=lambda v: v.account)).decode()
