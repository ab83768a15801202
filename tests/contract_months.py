"""Contract months for tests, derived from today's date through the IB simulator's own calendar
(``janus_ib_sim.expiries``), so no test names a month that expires under it.

    front("ES")          -> Month for the front quarterly ES contract today
    front("ES", 1)       -> the next one
    front("ES").canonical == "ES.2612" (on 2026-12-03), .yyyymm == "202612", .con_id, .local_symbol
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone

from janus_ib_sim import expiries


def today() -> date:
    return datetime.now(timezone.utc).date()


@dataclass(frozen=True)
class Month:
    root: str
    year: int
    month: int

    @property
    def yyyymm(self) -> str:
        return f"{self.year}{self.month:02d}"

    @property
    def canonical(self) -> str:
        return f"{self.root}.{self.year % 100:02d}{self.month:02d}"

    @property
    def local_symbol(self) -> str:
        return expiries.local_symbol(self.root, self.year, self.month)

    @property
    def last_trade_date(self) -> str:
        return expiries.last_trade(_root(self.root), self.year, self.month).strftime("%Y%m%d")

    @property
    def con_id(self) -> int:
        return expiries.future_con_id(_root(self.root), self.year, self.month)


def _root(root: str) -> expiries.FutureRoot:
    return next(r for r in expiries.FUTURE_ROOTS if r.root == root)


def front(root: str, offset: int = 0, on: date | None = None) -> Month:
    """The live contract ``offset`` places after the front one of ``root`` on ``on`` (today)."""
    year, month = expiries.front_month(root, on or today(), offset)
    return Month(root, year, month)


def last_year(root: str, on: date | None = None) -> Month:
    """The same month a year before the front contract: expired, so no TWS lists it."""
    current = front(root, 0, on)
    return Month(root, current.year - 1, current.month)


def option_expiry(offset: int = 0, on: date | None = None) -> str:
    """YYYYMMDD of the front monthly option expiry (``offset`` 1 = the next)."""
    return expiries.option_expiry(on or today(), offset).strftime("%Y%m%d")


def option_symbol(root: str, right: str, strike: str, on: date | None = None) -> str:
    """A canonical option symbol on the front monthly expiry (``NQ.YYMMDD.C.15000``)."""
    return f"{root}.{option_expiry(0, on)[2:]}.{right}.{strike}"
