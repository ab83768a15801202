"""The latest price per canonical symbol, as the pricer keeps it in the ``janus_prices`` KV
bucket (a shared contract: the pricer writes it, the router reads it for its price checks),
and which of its prices to use. Pure."""

from __future__ import annotations

from enum import StrEnum

import msgspec

from .messages import Broker

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
