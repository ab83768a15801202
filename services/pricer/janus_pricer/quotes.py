"""The price cache entry per canonical symbol and how ticks and bars fold into it. Pure.

Every field keeps its own time, and a tick or bar only replaces a field that is not newer
than itself: replaying the MARKET stream over a cache restored from KV (or receiving live
ticks while the replay runs) never turns a price back. For equal times the one applied last
wins, so a burst stamped within one clock tick ends on the last price sent.
"""

from __future__ import annotations

import math
from enum import StrEnum

import msgspec

from janus_common.messages import Bar, Broker, Tick

NS = 1_000_000_000


class PriceKind(StrEnum):
    """Which field of the cache a valuation used (the issue's "tick type")."""

    LAST = "LAST"
    MID = "MID"
    BAR_CLOSE = "BAR_CLOSE"


class Quote(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Last/bid/ask/bar close of one symbol, each with its time, and where they came from.

    Stored as MessagePack in the ``janus_prices`` KV bucket under the canonical symbol."""

    symbol: str
    source: Broker  # the broker whose data made the newest update
    delayed: bool = False
    ts: int = 0  # newest update of any field, ns since the epoch
    last: float | None = None
    last_ts: int | None = None
    bid: float | None = None
    bid_ts: int | None = None
    ask: float | None = None
    ask_ts: int | None = None
    close: float | None = None
    close_ts: int | None = None  # end of the bar the close belongs to


class Mark(msgspec.Struct, frozen=True, kw_only=True):
    """The one price a position is valued with, and its provenance."""

    price: float
    ts: int
    kind: PriceKind
    source: Broker
    delayed: bool
    stale: bool


QUOTES = msgspec.msgpack.Decoder(Quote)


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


def mark(quote: Quote | None, now: int, stale_after_ns: int) -> Mark | None:
    """The price to value with: last, else mid, else bar close — the first of those that is
    fresh; when every one is stale, the newest of them, marked stale. None without a price."""
    if quote is None:
        return None
    candidates: list[tuple[float, int, PriceKind]] = []
    if quote.last is not None and quote.last_ts is not None:
        candidates.append((quote.last, quote.last_ts, PriceKind.LAST))
    if quote.bid is not None and quote.ask is not None and quote.bid_ts is not None \
            and quote.ask_ts is not None:
        candidates.append(((quote.bid + quote.ask) / 2, min(quote.bid_ts, quote.ask_ts),
                           PriceKind.MID))
    if quote.close is not None and quote.close_ts is not None:
        candidates.append((quote.close, quote.close_ts, PriceKind.BAR_CLOSE))
    if not candidates:
        return None
    fresh = [c for c in candidates if now - c[1] <= stale_after_ns]
    price, ts, kind = fresh[0] if fresh else max(candidates, key=lambda c: c[1])
    return Mark(price=price, ts=ts, kind=kind, source=quote.source, delayed=quote.delayed,
                stale=not fresh)
