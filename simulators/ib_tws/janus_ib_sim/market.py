"""Seeded, deterministic price paths that respect each contract's tick size. Pure."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from .catalogue import Spec


def to_tick(price: float, tick: float) -> float:
    return round(round(price / tick) * tick, 10)


@dataclass(frozen=True)
class Quote:
    bid: float
    ask: float
    last: float
    bid_size: float
    ask_size: float
    last_size: float
    volume: float
    high: float
    low: float
    open: float
    close: float  # previous close


def first_quote(spec: Spec) -> Quote:
    last = to_tick(spec.price, spec.min_tick)
    return Quote(bid=to_tick(last - spec.min_tick, spec.min_tick), ask=to_tick(last + spec.min_tick, spec.min_tick),
                 last=last, bid_size=spec.lot, ask_size=spec.lot, last_size=1.0, volume=0.0,
                 high=last, low=last, open=last, close=last)


def step(spec: Spec, quote: Quote, rng: random.Random) -> Quote:
    """One move of the walk: last moves -2..+2 ticks, the touch one tick either side, sizes
    seeded (sometimes smaller than a lot, which is what produces partial fills)."""
    tick = spec.min_tick
    last = max(tick, to_tick(quote.last + rng.choice((-2, -1, 0, 0, 1, 2)) * tick, tick))
    size = lambda: float(max(1, int(spec.lot * rng.choice((0.2, 0.5, 1.0, 1.0, 2.0)))))  # noqa: E731
    traded = size()
    return replace(quote, bid=to_tick(last - tick, tick), ask=to_tick(last + tick, tick), last=last,
                   bid_size=size(), ask_size=size(), last_size=traded, volume=quote.volume + traded,
                   high=max(quote.high, last), low=min(quote.low, last))


def set_price(spec: Spec, quote: Quote, price: float) -> Quote:
    """A price forced by the control interface (still on the tick grid)."""
    last = to_tick(price, spec.min_tick)
    return replace(quote, bid=to_tick(last - spec.min_tick, spec.min_tick),
                   ask=to_tick(last + spec.min_tick, spec.min_tick), last=last,
                   high=max(quote.high, last), low=min(quote.low, last))
