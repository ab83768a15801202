"""Seeded price paths on the 0.01 grid; prices are integer cents so no rounding can creep in."""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

CENT = Decimal("0.01")
MAX_PRICE = Decimal(10) ** 9


def to_cents(value: str | Decimal | int | float) -> int:
    """Parse a price; raise ValueError for one off the 0.01 grid or not a number."""
    d = Decimal(str(value))
    if not d.is_finite():
        raise ValueError(f"not a finite number: {str(value)[:40]!r}")
    # Before any arithmetic (abs() included): 1e999999999 overflows the context, 1e999999 would
    # never end. The exponent alone bounds it without computing.
    if d.adjusted() > MAX_PRICE.adjusted() or abs(d) > MAX_PRICE:
        raise ValueError(f"{str(value)[:40]} is out of range")
    cents = d * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"{value} is not on the 0.01 tick grid")
    return int(cents)


def fmt_cents(cents: int) -> str:
    return str((Decimal(cents) / 100).quantize(CENT))


@dataclass
class Quote:
    last: int
    bid: int
    ask: int
    volume: int


class PricePath:
    """A random walk per symbol: the same seed and symbol always give the same path."""

    def __init__(self, symbol: str, start_cents: int, seed: int, volatility_ticks: float):
        self._rng = random.Random(f"{seed}:{symbol}")
        self._vol = volatility_ticks
        self.last = start_cents
        self.volume = 0

    def step(self) -> None:
        move = round(self._rng.gauss(0.0, self._vol)) if self._vol > 0 else 0
        self.last = max(1, self.last + move)
        self.volume += self._rng.randint(100, 5000)

    def set(self, cents: int) -> None:
        self.last = max(1, cents)

    def quote(self) -> Quote:
        # One tick either side of the last trade: a market order pays the spread.
        return Quote(self.last, max(1, self.last - 1), self.last + 1, self.volume)
