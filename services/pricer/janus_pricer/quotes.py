"""The price cache entry per canonical symbol and how ticks and bars fold into it. Pure.

Every field keeps its own time, and a tick or bar only replaces a field that is not newer
than itself: replaying the MARKET stream over a cache restored from KV (or receiving live
ticks while the replay runs) never turns a price back. For equal times the one applied last
wins, so a burst stamped within one clock tick ends on the last price sent.
"""

from __future__ import annotations

import math

import msgspec

from janus_common.messages import Bar, Tick
from janus_common.prices import NS, QUOTES, Mark, PriceKind, Quote, mark

__all__ = ["NS", "QUOTES", "Mark", "PriceKind", "Quote", "mark", "merge_bar", "merge_quotes", "merge_tick"]


def _usable(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _newer(ts: int, field_ts: int | None) -> bool:
    return field_ts is None or ts >= field_ts


def merge_tick(quote: Quote | None, tick: Tick) -> Quote:
    """The cache entry after ``tick``. Fields the tick lacks (or that are NaN) are kept."""
    ts = tick.ts
    if quote is None:
        quote = Quote(symbol=tick.symbol, source=tick.source, delayed=tick.delayed)
    changes: dict[str, object] = {}
    if _usable(tick.last) and _newer(ts, quote.last_ts):
        changes["last"], changes["last_ts"] = tick.last, ts
    if _usable(tick.bid) and _newer(ts, quote.bid_ts):
        changes["bid"], changes["bid_ts"] = tick.bid, ts
    if _usable(tick.ask) and _newer(ts, quote.ask_ts):
        changes["ask"], changes["ask_ts"] = tick.ask, ts
    if not changes:
        return quote
    if ts >= quote.ts:
        changes.update(ts=ts, source=tick.source, delayed=tick.delayed)
    return msgspec.structs.replace(quote, **changes)


def from_future(data: Tick | Bar, now: int, max_skew_ns: int) -> bool:
    """Stamped later than the clock allows. Merges keep the newest stamp, so one such tick
    would outrank every truthful one until the clock caught up: the price would freeze."""
    return data.ts > now + max_skew_ns


# A bar's close is timed at the bar's end, after its (checked) start: up to a bar's length later.
BAR_SLACK_NS = 60 * NS


def quote_from_future(quote: Quote, now: int, max_skew_ns: int) -> bool:
    """A cached entry that holds a field from the future (what a pricer that still took such
    ticks may have left in KV)."""
    ticks = (quote.last_ts, quote.bid_ts, quote.ask_ts)
    return any(ts is not None and ts > now + max_skew_ns for ts in ticks) or (
        quote.close_ts is not None and quote.close_ts > now + max_skew_ns + BAR_SLACK_NS)


def merge_bar(quote: Quote | None, bar: Bar) -> Quote:
    """The cache entry after ``bar``: its close, timed at the bar's end."""
    end = bar.ts + bar.interval_s * NS
    if quote is None:
        quote = Quote(symbol=bar.symbol, source=bar.source)
    if not _usable(bar.close) or not _newer(end, quote.close_ts):
        return quote
    changes: dict[str, object] = {"close": bar.close, "close_ts": end}
    if end >= quote.ts:
        changes.update(ts=end, source=bar.source)
    return msgspec.structs.replace(quote, **changes)


def merge_quotes(a: Quote | None, b: Quote) -> Quote:
    """Field by field, the newer of two cache entries (KV restore meets MARKET replay)."""
    if a is None:
        return b
    out = a
    for field in ("last", "bid", "ask", "close"):
        value, ts = getattr(b, field), getattr(b, f"{field}_ts")
        if value is not None and ts is not None and _newer(ts, getattr(out, f"{field}_ts")):
            out = msgspec.structs.replace(out, **{field: value, f"{field}_ts": ts})
    if b.ts >= a.ts and b.ts > 0:  # an entry that never got a price carries no provenance
        out = msgspec.structs.replace(out, ts=b.ts, source=b.source, delayed=b.delayed)
    return out
