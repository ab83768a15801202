"""The trading-hours clock and IB's date/time fields. Pure: every function takes ``now``.

The simulator's session is not tied to New York's wall clock: it opens when the simulator
starts and lasts ``length`` seconds (6.5 h by default), then stays closed for ``gap`` seconds
(the rest of a day) before the next one opens — so tests and CI trade at any hour, and an
operator (or a test) closes and opens sessions when it wants an auction or an expiry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

OPEN, CLOSED = "open", "closed"
DEFAULT_LENGTH = 6.5 * 3600
DEFAULT_GAP = 24 * 3600 - DEFAULT_LENGTH
# TWS reads a goodTillDate without a zone in its own (login) zone; the simulated TWS is in New York.
TWS_ZONE = "US/Eastern"

# Types IB lets trade outside regular hours (for US stocks): others get warning 2109.
OUTSIDE_RTH_TYPES = ("LMT", "STP LMT")


@dataclass(frozen=True)
class Hours:
    phase: str
    since: float  # when the current phase began (epoch seconds)
    until: float  # when it ends by itself
    length: float = DEFAULT_LENGTH
    gap: float = DEFAULT_GAP

    @property
    def is_open(self) -> bool:
        return self.phase == OPEN


def start(now: float, length: float = DEFAULT_LENGTH, gap: float = DEFAULT_GAP) -> Hours:
    """A session that opens now."""
    if not (length > 0 and gap >= 0):
        raise ValueError(f"session length {length!r} must be positive and the gap {gap!r} not negative")
    return Hours(OPEN, now, now + length, length, gap)


def close(h: Hours, now: float) -> Hours:
    return Hours(CLOSED, now, now + h.gap, h.length, h.gap)


def open_(h: Hours, now: float) -> Hours:
    return replace(h, phase=OPEN, since=now, until=now + h.length)


def due(h: Hours, now: float) -> bool:
    """The phase has run its course: the caller closes (or opens) the session."""
    return now >= h.until


def may_trade(h: Hours, outside_rth: bool) -> bool:
    """Orders trigger and fill in the session; outside it only those flagged outsideRth."""
    return h.is_open or outside_rth


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="seconds")


_STAMP = re.compile(r"^(\d{8})([ -])(\d{2}):(\d{2}):(\d{2})(?: +(\S+))?$")


def parse_ib_time(text: str) -> float:
    """IB's date/time field → epoch seconds: ``YYYYMMDD HH:MM:SS[ zone]`` (no zone = TWS's own),
    or ``YYYYMMDD-HH:MM:SS`` in UTC. ValueError for anything else."""
    m = _STAMP.match(text.strip())
    if m is None:
        raise ValueError(f"not an IB date/time: {text[:40]!r}")
    day, sep, hh, mm, ss, zone = m.groups()
    if sep == "-" and zone:
        raise ValueError("the UTC form YYYYMMDD-HH:MM:SS takes no zone")
    name = "UTC" if sep == "-" else (zone or TWS_ZONE)
    try:
        tz = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: names like "../x"
        raise ValueError(f"unknown time zone {name[:40]!r}") from exc
    try:
        return datetime(int(day[:4]), int(day[4:6]), int(day[6:]), int(hh), int(mm), int(ss), tzinfo=tz).timestamp()
    except OverflowError as exc:  # year 1 in a zone west of UTC
        raise ValueError(f"date/time out of range: {text[:40]!r}") from exc


def good_till(text: str, now: float) -> float:
    """A GTD order's expiry; ValueError (with IB's wording) when unreadable or not in the future."""
    if not text.strip():
        raise ValueError("Invalid GTD: a GTD order needs goodTillDate")
    try:
        when = parse_ib_time(text)
    except ValueError as exc:
        raise ValueError("The date, time, or time-zone entered is invalid. The correct format is yyyymmdd "
                         "hh:mm:ss xx/xxxx where yyyymmdd and xx/xxxx are optional. E.g.: 20031126 15:59:00 "
                         "US/Eastern  Note that there is a space between the date and time, and between the "
                         "time and time-zone.  You can also provide yyyymmddd-hh:mm:ss time is in UTC.") from exc
    if when <= now:
        raise ValueError(f"Invalid GTD: the good-till date/time {text[:40]} is in the past")
    return when
