"""A living futures and options calendar: the contracts a TWS lists on a given day. Pure.

Contracts are generated from a date, so the simulator never trades a month that has expired
and always lists the ones a trader would look for: ES and NQ the next quarterly expiries
(third Friday of Mar/Jun/Sep/Dec), CL the next monthly ones (trading ends three business days
before the 25th of the month before delivery), and an AAPL option chain on the front monthly
expiry (third Friday). Holidays are not modelled: only weekends move a date.

A contract's conId is a function of the contract alone (root and month, or expiry, strike and
right), so it is the same on every day the contract is listed and across restarts, as IB's are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

MONTH_CODES = "FGHJKMNQUVXZ"  # IB/CME month letters, January first
QUARTERLY = (3, 6, 9, 12)


@dataclass(frozen=True)
class FutureRoot:
    root: str
    exchange: str
    multiplier: str
    min_tick: float
    base_con_id: int
    price: float  # where the front contract's price path starts
    step: float  # how much further out each later contract starts (carry)
    name: str
    monthly: bool = False


FUTURE_ROOTS: tuple[FutureRoot, ...] = (
    FutureRoot("ES", "CME", "50", 0.25, 495_000_000, 5600.00, 50.00, "E-mini S&P 500"),
    FutureRoot("NQ", "CME", "20", 0.25, 563_000_000, 19500.00, 150.00, "E-mini Nasdaq-100"),
    FutureRoot("CL", "NYMEX", "1000", 0.01, 174_000_000, 70.00, 0.30, "Light Sweet Crude Oil", monthly=True),
)

OPTION_BASE_CON_ID = 800_000_000


def third_friday(year: int, month: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(4 - first.weekday()) % 7 + 14)


def _business_days_before(day: date, count: int) -> date:
    while count:
        day -= timedelta(days=1)
        if day.weekday() < 5:
            count -= 1
    return day


def cl_last_trade(year: int, month: int) -> date:
    """NYMEX CL: three business days before the 25th of the month before delivery; if the
    25th is not a business day, three business days before the business day preceding it."""
    prev_year, prev_month = (year, month - 1) if month > 1 else (year - 1, 12)
    anchor = date(prev_year, prev_month, 25)
    if anchor.weekday() >= 5:
        anchor = _business_days_before(anchor, 1)
    return _business_days_before(anchor, 3)


def last_trade(root: FutureRoot, year: int, month: int) -> date:
    return cl_last_trade(year, month) if root.monthly else third_friday(year, month)


def local_symbol(root: str, year: int, month: int) -> str:
    """IB's local symbol for a future: root, month letter, last digit of the year (``ESZ6``)."""
    return f"{root}{MONTH_CODES[month - 1]}{year % 10}"


def future_con_id(root: FutureRoot, year: int, month: int) -> int:
    return root.base_con_id + year * 12 + month


def _months_from(year: int, month: int):
    while True:
        yield year, month
        year, month = (year, month + 1) if month < 12 else (year + 1, 1)


def live_months(root: FutureRoot, today: date, count: int) -> list[tuple[int, int]]:
    """The next ``count`` contract months whose last trade date is today or later."""
    out: list[tuple[int, int]] = []
    for year, month in _months_from(today.year, today.month):
        if not root.monthly and month not in QUARTERLY:
            continue
        if last_trade(root, year, month) >= today:
            out.append((year, month))
        if len(out) == count:
            return out
    raise AssertionError("unreachable")


def front_month(root: str, today: date, offset: int = 0) -> tuple[int, int]:
    """(year, month) of the front contract of ``root`` on ``today`` (``offset`` 1 = the next)."""
    spec = next(r for r in FUTURE_ROOTS if r.root == root)
    return live_months(spec, today, offset + 1)[offset]


def option_expiry(today: date, offset: int = 0) -> date:
    """The front monthly option expiry (third Friday) on ``today``; ``offset`` 1 = the next."""
    expiries = []
    for year, month in _months_from(today.year, today.month):
        expiry = third_friday(year, month)
        if expiry >= today:
            expiries.append(expiry)
        if len(expiries) > offset:
            return expiries[offset]
    raise AssertionError("unreachable")


def option_con_id(expiry: date, strike: float, right: str) -> int:
    day_key = (expiry.year - 2000) * 372 + (expiry.month - 1) * 31 + expiry.day
    return OPTION_BASE_CON_ID + day_key * 4000 + int(round(strike * 2)) * 2 + (right == "P")
