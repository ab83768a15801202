"""Historical bars (reqHistoricalData) from a contract's seeded price path. Pure.

Each bar's move is drawn from a generator seeded by (conId, bar size, bar start), and the path
is walked backwards from the current price: the same bar has the same shape on every request,
and the newest bar closes at the price the contract quotes now. Requests are checked the way
IB's historical data service checks them, with its codes and wording.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import history_hours as hours
from .catalogue import Spec
from .market import Quote, to_tick

HMDS = "Historical Market Data Service error message:"
DAY, WEEK, MONTH = 86_400, 7 * 86_400, 30 * 86_400

BAR_SIZES: dict[str, int] = {
    "1 secs": 1, "5 secs": 5, "10 secs": 10, "15 secs": 15, "30 secs": 30, "1 min": 60, "2 mins": 120,
    "3 mins": 180, "5 mins": 300, "10 mins": 600, "15 mins": 900, "20 mins": 1200, "30 mins": 1800,
    "1 hour": 3600, "2 hours": 7200, "3 hours": 10_800, "4 hours": 14_400, "8 hours": 28_800,
    "1 day": DAY, "1 week": WEEK, "1W": WEEK, "1 month": MONTH, "1M": MONTH,
}
LEGAL = ("1 secs, 5 secs, 10 secs, 15 secs, 30 secs, 1 min, 2 mins, 3 mins, 5 mins, 10 mins, 15 mins, "
         "20 mins, 30 mins, 1 hour, 2 hours, 3 hours, 4 hours, 8 hours, 1 day, 1W, 1M")
UNIT_SECONDS = {"S": 1, "D": DAY, "W": WEEK, "M": MONTH, "Y": 365 * DAY}
# IB's step-size table: a duration up to the first figure takes bars of at least the second.
STEPS = ((1800, 1), (3600, 5), (14_400, 10), (28_800, 30), (DAY, 60), (2 * DAY, 120), (WEEK, 180),
         (MONTH, 1800), (365 * DAY, DAY))
MAX_BARS = 100_000  # more than IB returns in one answer
MAX_SPAN = 50 * 365 * DAY  # further back than any contract's data goes
WHAT = {"TRADES": "Trades", "MIDPOINT": "Midpoint", "BID": "Bid", "ASK": "Ask", "BID_ASK": "BidAsk"}
DAILY_VOL = {"STK": 0.015, "OPT": 0.04, "FUT": 0.01, "CASH": 0.005}


class HistoryError(ValueError):
    def __init__(self, code: int, text: str) -> None:
        self.code, self.text = code, text
        super().__init__(f"{code}: {text}")


@dataclass(frozen=True)
class Request:
    end: float  # epoch seconds
    duration: tuple[int, str]  # (count, unit)
    bar: int  # seconds (DAY, WEEK, MONTH for the calendar sizes)
    what: str
    use_rth: bool
    format_date: int


@dataclass(frozen=True)
class Bar:
    date: str
    open: float
    high: float
    low: float
    close: float
    volume: float
    wap: float
    count: int


def parse_end(text: str, now: float) -> float:
    """IB's endDateTime: "" = now; ``YYYYMMDD HH:MM:SS [zone]``, ``YYYYMMDD-HH:MM:SS`` (UTC),
    ``YYYYMMDD`` (the end of that day). A time after now means now."""
    text = text.strip()
    if not text:
        return now
    m = re.fullmatch(r"(\d{8})(?:[ -](\d\d:\d\d:\d\d))?(?: (\S+))?", text)
    if not m or (m.group(3) and not m.group(2)):
        raise HistoryError(321, f"Error validating request.-'bS' : cause - Invalid end date/time {text[:40]!r}")
    day, clock, zone = m.groups()
    try:
        tz = timezone.utc if text[8:9] == "-" or zone in ("UTC", "GMT") else ZoneInfo(zone or hours.TZ_NAME)
        stamp = datetime.strptime(f"{day} {clock or '23:59:59'}", "%Y%m%d %H:%M:%S").replace(tzinfo=tz)
    except (ValueError, ZoneInfoNotFoundError) as exc:
        raise HistoryError(321, f"Error validating request.-'bS' : cause - Invalid end date/time {text[:40]!r}") \
            from exc
    if stamp.timestamp() < now - MAX_SPAN:
        raise HistoryError(162, f"{HMDS}HMDS query returned no data: nothing before {text[:40]}")
    return min(stamp.timestamp(), now)


def parse(spec: Spec, end: str, duration: str, bar_size: str, what: str, use_rth: bool, format_date: int,
          now: float) -> Request:
    """A request as IB validates it: bar size, duration, and whether the first fits the second."""
    bar = BAR_SIZES.get(bar_size.strip())
    if bar is None:
        raise HistoryError(321, "Error validating request.-'bS' : cause - Historical data bar size setting is "
                                f"invalid. Legal ones are: {LEGAL}")
    m = re.fullmatch(r"(\d{1,6}) ([SDWMY])", duration.strip())
    if not m or int(m.group(1)) <= 0:
        raise HistoryError(321, "Error validating request.-'bS' : cause - Historical data duration format is "
                                f"invalid: {duration[:40]!r}. Use an integer and a unit: S, D, W, M or Y")
    count, unit = int(m.group(1)), m.group(2)
    if what not in WHAT or (what == "TRADES" and spec.sec_type == "CASH"):
        raise HistoryError(162, f"{HMDS}No historical market data for {spec.symbol}/{spec.sec_type}@"
                                f"{spec.exchange} {WHAT.get(what, what[:20])} {bar if bar < DAY else 0}")
    span = count * UNIT_SECONDS[unit]
    if (unit == "S" and span > DAY) or span > MAX_SPAN:
        raise HistoryError(162, f"{HMDS}Time length exceed max.")
    smallest = next((b for limit, b in STEPS if span <= limit), DAY)
    if bar < smallest:
        raise HistoryError(162, f"{HMDS}Time length exceed max.")
    return Request(parse_end(end, now), (count, unit), bar, what, use_rth, format_date)


def _window_start(req: Request, sessions: list[hours.Session]) -> float:
    count, unit = req.duration
    if unit == "D":  # IB's days are trading days: the last N sessions
        return sessions[count - 1].start if len(sessions) >= count else sessions[-1].start if sessions else req.end
    return req.end - count * UNIT_SECONDS[unit]


def _sessions(req: Request, sec_type: str) -> list[hours.Session]:
    h = hours.hours(sec_type, req.use_rth)
    count, unit = req.duration
    horizon = req.end - (count * UNIT_SECONDS[unit] * 1.5 + 4 * DAY if unit != "D" else 0)
    out: list[hours.Session] = []
    for s in hours.sessions_before(req.end, h):
        if (unit == "D" and len(out) >= count) or (unit != "D" and s.end <= horizon):
            break
        out.append(s)
    return out


def bar_starts(req: Request, sec_type: str) -> list[tuple[float, str]]:
    """(start, IB date text) of every bar the request covers, oldest first."""
    sessions = _sessions(req, sec_type)
    start = _window_start(req, sessions)
    out: list[tuple[float, str]] = []
    if req.bar >= DAY:  # whole sessions only: one begun before the window is not in it
        chosen = [s for s in reversed(sessions) if s.start >= start]
        seen: set[object] = set()
        for s in chosen:
            key: object = s.day
            if req.bar == WEEK:
                key = s.day.isocalendar()[:2]
            elif req.bar == MONTH:
                key = (s.day.year, s.day.month)
            if key not in seen:
                seen.add(key)
                out.append((s.start, s.day.strftime("%Y%m%d")))
        return out
    for s in reversed(sessions):
        origin = hours.local_midnight(s.start)
        t = s.start
        while t < min(s.end, req.end):
            if t >= start:
                out.append((t, _intraday(t, req.format_date)))
            if len(out) > MAX_BARS:
                raise HistoryError(162, f"{HMDS}Time length exceed max.")
            t = origin + (math.floor((t - origin) / req.bar) + 1) * req.bar
    return out


def _intraday(ts: float, format_date: int) -> str:
    if format_date == 2:
        return str(int(ts))
    return datetime.fromtimestamp(ts, hours.NEW_YORK).strftime("%Y%m%d %H:%M:%S ") + hours.TZ_NAME


def _scale(bar: int) -> float:
    return math.sqrt(min(bar, DAY) / 23_400) if bar < DAY else math.sqrt(bar / DAY * 5 / 7)


def path(spec: Spec, req: Request, starts: list[tuple[float, str]], anchor: float) -> list[Bar]:
    """TRADES bars ending at ``anchor``, walked backwards; one seeded generator per bar."""
    tick = spec.min_tick
    sigma = DAILY_VOL.get(spec.sec_type, 0.015) * _scale(req.bar)
    bars: list[Bar] = []
    close = anchor
    for start, text in reversed(starts):
        rng = random.Random(f"{spec.con_id}:{req.bar}:{int(start)}")
        opened = close * math.exp(-rng.gauss(0.0, sigma))
        o, c = max(tick, to_tick(opened, tick)), max(tick, to_tick(close, tick))
        h = max(o, c, to_tick(max(o, c) * (1 + abs(rng.gauss(0.0, sigma / 2))), tick))
        lo = min(o, c, max(tick, to_tick(min(o, c) * (1 - abs(rng.gauss(0.0, sigma / 2))), tick)))
        count = max(1, int(spec.lot * rng.uniform(0.5, 3.0) * max(1.0, min(req.bar, DAY) / 60)))
        volume = float(count * max(1, int(spec.lot * rng.uniform(0.2, 1.0))))
        bars.append(Bar(text, o, h, lo, c, volume, round((h + lo + c) / 3, 8), count))
        close = opened
    bars.reverse()
    return bars


def _shift(b: Bar, by: float) -> Bar:
    return Bar(b.date, round(b.open + by, 10), round(b.high + by, 10), round(b.low + by, 10),
               round(b.close + by, 10), -1.0, -1.0, -1)


def bars(spec: Spec, req: Request, quote: Quote) -> list[Bar]:
    """The request's bars for ``whatToShow``; quotes sit where the current touch sits around
    the last trade. Raises 162 (no data) when the window holds no session, as IB does."""
    starts = bar_starts(req, spec.sec_type)
    if not starts:
        raise HistoryError(162, f"{HMDS}HMDS query returned no data: {spec.local_symbol}@{spec.exchange} "
                                f"{WHAT[req.what]}")
    trades = path(spec, req, starts, quote.last)
    if req.what == "TRADES":
        return trades
    bid = [_shift(b, round(quote.bid - quote.last, 10)) for b in trades]
    ask = [_shift(b, round(quote.ask - quote.last, 10)) for b in trades]
    if req.what == "BID":
        return bid
    if req.what == "ASK":
        return ask
    if req.what == "MIDPOINT":
        return [_shift(b, round((quote.bid + quote.ask) / 2 - quote.last, 10)) for b in trades]
    # BID_ASK: time-average bid, highest ask, lowest bid, time-average ask (IB's definition)
    return [Bar(b.date, b.close, a.high, b.low, a.close, -1.0, -1.0, -1) for b, a in zip(bid, ask)]


def head_timestamp(spec: Spec, now: float) -> float:
    """The earliest data IB has: a contract's listing (a year before its expiry), a stock's or a
    pair's twenty years back."""
    if spec.last_trade_date:
        expiry = datetime.strptime(spec.last_trade_date, "%Y%m%d").replace(tzinfo=timezone.utc).timestamp()
        return min(now, expiry - 365 * DAY)
    first = datetime.fromtimestamp(now - 20 * 365 * DAY, hours.NEW_YORK).date()
    opened = hours.session_on(first, hours.hours(spec.sec_type, True))
    while opened is None:  # a weekend: the next Monday
        first += timedelta(days=1)
        opened = hours.session_on(first, hours.hours(spec.sec_type, True))
    return opened.start


def current_bar(req: Request, sec_type: str, now: float) -> tuple[float, str] | None:
    """(start, IB date text) of the bar ``now`` falls in, for live updates (keepUpToDate);
    None outside the contract's hours (nothing trades, nothing is sent)."""
    session = next(hours.sessions_before(now, hours.hours(sec_type, req.use_rth)))
    if now >= session.end:
        return None
    window = (2, "D") if req.bar <= DAY else (1, "Y")
    starts = bar_starts(Request(now, window, req.bar, req.what, req.use_rth, req.format_date), sec_type)
    return starts[-1] if starts else None


def advance(bar: Bar | None, date: str, quote: Quote, what: str) -> Bar:
    """The live bar after one more look at the quote: the same bar moved on, or (``bar`` None
    or of another date) a new one opening where the last closed."""
    lo, hi, close = {"TRADES": (quote.last,) * 3, "BID": (quote.bid,) * 3, "ASK": (quote.ask,) * 3,
                     "BID_ASK": (quote.bid, quote.ask, quote.ask)}.get(what, ((quote.bid + quote.ask) / 2,) * 3)
    trades = what == "TRADES"
    if bar is None or bar.date != date:
        opened = bar.close if bar is not None else close
        return Bar(date, opened, max(opened, hi, close), min(opened, lo, close), close,
                   quote.last_size if trades else -1.0, close if trades else -1.0, 1 if trades else -1)
    return Bar(date, bar.open, max(bar.high, hi, close), min(bar.low, lo, close), close,
               bar.volume + quote.last_size if trades else -1.0,
               round((bar.wap * bar.volume + close * quote.last_size) / (bar.volume + quote.last_size), 8)
               if trades and bar.volume + quote.last_size > 0 else bar.wap, bar.count + 1 if trades else -1)
