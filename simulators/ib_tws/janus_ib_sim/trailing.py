"""Trailing stops (TRAIL, TRAIL LIMIT), the way IB runs them. Pure.

A SELL trail keeps its stop ``amount`` (or ``pct`` %) below the best last trade seen, moving only
up, and triggers when the last trade comes down to it; a BUY trail mirrors it above the lowest.
On trigger TRAIL becomes a market order and TRAIL LIMIT a limit ``offset`` beyond the stop
(below it for a SELL). Stops sit on the contract's tick grid, rounded away from the market so a
trail never ends up tighter than asked.
"""

from __future__ import annotations

import math

from .book import OrderError

TRAILING = ("TRAIL", "TRAIL LIMIT")
BAD_TICK = "The price does not conform to the minimum price variation for this contract."


def _ticks(value: float, tick: float) -> float:
    return value / tick


def to_tick(price: float, tick: float, *, down: bool) -> float:
    """``price`` on the tick grid, rounded down (or up); a float hair off a tick is that tick."""
    steps = _ticks(price, tick)
    near = round(steps)
    if abs(steps - near) < 1e-6:
        steps = near
    else:
        steps = math.floor(steps) if down else math.ceil(steps)
    return round(steps * tick, 10)


def on_tick(value: float, tick: float) -> bool:
    steps = _ticks(value, tick)
    return math.isfinite(steps) and abs(steps - round(steps)) < 1e-6


def validate(order_type: str, amount: float | None, pct: float | None, trail_stop: float | None,
             offset: float | None, tick: float) -> None:
    """IB's refusals of a trailing order's own fields."""
    if order_type not in TRAILING:
        return
    if amount is not None and pct is not None:
        raise OrderError(321, "Error validating request:-'bQ' : cause - Trailing amount and trailing percent "
                              "cannot both be specified")
    if amount is None and pct is None:
        raise OrderError(321, "Error validating request:-'bQ' : cause - Missing trailing amount or trailing "
                              "percent (auxPrice / trailingPercent)")
    if pct is not None and not (math.isfinite(pct) and 0 < pct < 100):
        raise OrderError(321, "Error validating request:-'bQ' : cause - The trailing percent must be between "
                              "0 and 100")
    if amount is not None and not (math.isfinite(amount) and amount > 0 and on_tick(amount, tick)):
        raise OrderError(110, BAD_TICK)
    if trail_stop is not None and not (math.isfinite(trail_stop) and trail_stop > 0 and on_tick(trail_stop, tick)):
        raise OrderError(110, BAD_TICK)
    if order_type == "TRAIL LIMIT":
        if offset is None:
            raise OrderError(321, "Error validating request:-'bP' : cause - Missing limit price offset "
                                  "(lmtPriceOffset) of a trailing stop limit order")
        if not (math.isfinite(offset) and offset >= 0 and on_tick(offset, tick)):
            raise OrderError(110, BAD_TICK)


def candidate(action: str, last: float, amount: float | None, pct: float | None, tick: float) -> float:
    """Where the stop would be for this last trade."""
    selling = action != "BUY"
    distance = amount if amount is not None else last * (pct or 0.0) / 100
    raw = last - distance if selling else last + distance
    return to_tick(max(raw, tick), tick, down=selling)


def initial(action: str, last: float, amount: float | None, pct: float | None, given: float | None,
            tick: float) -> float:
    """The first stop: ``trailStopPrice`` when given, else ``amount`` / ``pct`` from the last trade."""
    return given if given is not None else candidate(action, last, amount, pct, tick)


def follow(action: str, stop: float, last: float, amount: float | None, pct: float | None, tick: float) -> float:
    """The stop after this last trade: it only ever moves toward the market."""
    new = candidate(action, last, amount, pct, tick)
    return max(stop, new) if action != "BUY" else min(stop, new)


def hit(action: str, stop: float, last: float) -> bool:
    return last <= stop if action != "BUY" else last >= stop


def limit_at(action: str, stop: float, offset: float, tick: float) -> float:
    """The limit a triggered TRAIL LIMIT works at (never below one tick)."""
    price = stop - offset if action != "BUY" else stop + offset
    return to_tick(max(price, tick), tick, down=action != "BUY")
