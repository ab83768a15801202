"""Trading sessions by kind of contract, the way IB's historical data sees them. Pure.

Times are New York's (IB reports US contracts in US/Eastern). Holidays are not modelled, as in
``expiries``: only weekends have no session. A session belongs to its trading day and may start
the evening before it (futures, forex).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")
TZ_NAME = "US/Eastern"  # how IB names it in bar times and contract details


@dataclass(frozen=True)
class Hours:
    open: time
    close: time
    overnight: bool = False  # opens the evening before its trading day


STOCK_RTH = Hours(time(9, 30), time(16, 0))
STOCK_ALL = Hours(time(4, 0), time(20, 0))
FUTURE_RTH = Hours(time(9, 30), time(16, 15))
FUTURE_ALL = Hours(time(18, 0), time(17, 0), overnight=True)
FOREX = Hours(time(17, 15), time(17, 0), overnight=True)  # IDEALPRO has no separate "regular" hours


def hours(sec_type: str, use_rth: bool) -> Hours:
    if sec_type == "CASH":
        return FOREX
    if sec_type in ("FUT", "FOP"):
        return FUTURE_RTH if use_rth else FUTURE_ALL
    return STOCK_RTH if use_rth else STOCK_ALL


@dataclass(frozen=True)
class Session:
    day: date  # the trading day
    start: float  # epoch seconds
    end: float


def session_on(day: date, h: Hours) -> Session | None:
    if day.weekday() >= 5:
        return None
    opens_on = day - timedelta(days=1) if h.overnight else day
    start = datetime.combine(opens_on, h.open, NEW_YORK).timestamp()
    end = datetime.combine(day, h.close, NEW_YORK).timestamp()
    return Session(day, start, end)


def sessions_before(end: float, h: Hours) -> Iterator[Session]:
    """Sessions that started before ``end``, newest first (the current one included)."""
    day = datetime.fromtimestamp(end, NEW_YORK).date() + timedelta(days=1)
    while True:
        s = session_on(day, h)
        if s is not None and s.start < end:
            yield s
        day -= timedelta(days=1)


def local_midnight(ts: float) -> float:
    d = datetime.fromtimestamp(ts, NEW_YORK).date()
    return datetime.combine(d, time(0), NEW_YORK).timestamp()
