"""The paper broker's matching engine: an account that Janus keeps itself. Pure, no IO.

Prices are the IB market-data quotes (``janus_pricer.quotes.Quote``, merged from MARKET ticks).
Which side of the quote decides what, chosen to be no kinder than a real exchange:

- a MARKET BUY fills at the ask, a SELL at the bid (the last trade only when that side is absent);
- a LIMIT BUY is marketable when the ask is at or below the limit and fills at that ask (a price
  improvement, as a marketable limit gets); a SELL when the bid is at or above it, at the bid;
- a STOP triggers on the last trade (BUY: last >= stop; SELL: last <= stop), on the ask / bid
  when no trade is known; a triggered STOP is then a MARKET order, a STOP_LIMIT a LIMIT order;
- an order fills whole, at one price (no depth is modelled); IOC fills now or is cancelled;
  a DAY order still working at the New York close (16:00) is cancelled.

Money: a cash account for longs (a BUY is paid in full from cash) and Reg T for shorts (150 % of
the short's value is held: the proceeds plus half again). ``buying_power = cash − 1.5 × short
value − what working opening orders reserve``; an order whose opening part costs more than the
buying power is refused at placement and cancelled if, at its fill price, it no longer fits.
Closing a position is never refused. No commissions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

import msgspec
from immutables import Map

from janus_common.messages import BrokerSide, OrderType, PlaceOrder, Tif
from janus_pricer.quotes import Quote

EPS = 1e-9
SHORT_MARGIN = 1.5  # Reg T initial requirement on a short, proceeds included
NEW_YORK = ZoneInfo("America/New_York")
CLOSE = time(16, 0)
STOPS = (OrderType.STOP, OrderType.STOP_LIMIT)


class Refusal(StrEnum):
    """Why the paper broker refused or ended an order. Stable codes, like a broker's."""

    NO_PRICE = "NO_PRICE"  # no quote at all for the symbol
    STALE_PRICE = "STALE_PRICE"  # a quote, but older than the freshness bound
    INSUFFICIENT_BUYING_POWER = "INSUFFICIENT_BUYING_POWER"
    IOC_NOT_MARKETABLE = "IOC_NOT_MARKETABLE"
    DAY_EXPIRED = "DAY_EXPIRED"
    CANCELLED_BY_CLIENT = "CANCELLED_BY_CLIENT"


class Holding(msgspec.Struct, frozen=True):
    qty: float  # signed: negative is short
    avg_cost: float


class Working(msgspec.Struct, frozen=True):
    order: PlaceOrder
    placed_ts: int
    triggered: bool = False  # a STOP / STOP_LIMIT whose stop was reached


class Book(msgspec.Struct, frozen=True):
    cash: float
    holdings: Map[str, Holding] = msgspec.field(default_factory=Map)  # persistent: O(log n) updates
    working: Map[str, Working] = msgspec.field(default_factory=Map)
    known: frozenset[str] = frozenset()  # every order key ever accepted or refused: placed once


# --- what the engine reports (the adapter turns these into broker-neutral reports) ----------


class Accepted(msgspec.Struct, frozen=True):
    order_key: str
    waits_for_stop: bool = False  # a STOP / STOP_LIMIT not triggered yet


class Triggered(msgspec.Struct, frozen=True):
    order_key: str


class Filled(msgspec.Struct, frozen=True):
    order_key: str
    symbol: str
    side: BrokerSide
    qty: float
    price: float


class Ended(msgspec.Struct, frozen=True):
    """Cancelled after it was accepted (by the client, IOC, the close, buying power)."""

    order_key: str
    kind: Refusal
    text: str


class Refused(msgspec.Struct, frozen=True):
    """Never accepted: the order does not exist at the paper broker."""

    order_key: str
    kind: Refusal
    text: str


Outcome = Accepted | Triggered | Filled | Ended | Refused
Step = tuple[Book, list[Outcome]]


# --- prices -------------------------------------------------------------------------------


def _ok(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0


def _fresh(value: float | None, ts: int | None, now: int, max_age_ns: int) -> float | None:
    return value if _ok(value) and ts is not None and now - ts <= max_age_ns else None


def touch(quote: Quote | None, side: BrokerSide, now: int, max_age_ns: int) -> float | None:
    """The price an order on ``side`` trades at now: ask for a BUY, bid for a SELL, else last."""
    if quote is None:
        return None
    if side is BrokerSide.BUY:
        near = _fresh(quote.ask, quote.ask_ts, now, max_age_ns)
    else:
        near = _fresh(quote.bid, quote.bid_ts, now, max_age_ns)
    return near if near is not None else _fresh(quote.last, quote.last_ts, now, max_age_ns)


def trigger_price(quote: Quote | None, side: BrokerSide, now: int, max_age_ns: int) -> float | None:
    """What a stop is compared with: the last trade, else the side's touch."""
    if quote is None:
        return None
    last = _fresh(quote.last, quote.last_ts, now, max_age_ns)
    return last if last is not None else touch(quote, side, now, max_age_ns)


def mark(holding: Holding, quote: Quote | None) -> float:
    """Value per unit: last, else mid, else what the position cost (never zero for lack of data)."""
    if quote is not None:
        if quote.last is not None and _ok(quote.last):
            return quote.last
        if quote.bid is not None and quote.ask is not None and _ok(quote.bid) and _ok(quote.ask):
            return (quote.bid + quote.ask) / 2
    return holding.avg_cost


# --- money --------------------------------------------------------------------------------


def _is_buy(side: BrokerSide) -> bool:
    return side is BrokerSide.BUY


def opening_qty(position: float, side: BrokerSide, qty: float) -> float:
    """The part of an order that opens or adds exposure (the rest closes the position)."""
    closable = max(-position, 0.0) if _is_buy(side) else max(position, 0.0)
    return max(qty - closable, 0.0)


def _cost(side: BrokerSide, qty: float, price: float) -> float:
    return qty * price * (1.0 if _is_buy(side) else SHORT_MARGIN - 1.0)


def _position(book: Book, symbol: str) -> float:
    h = book.holdings.get(symbol)
    return h.qty if h is not None else 0.0


def _resting_price(w: Working) -> float:
    o = w.order
    return float(o.limit_price if o.limit_price is not None else o.stop_price or 0.0)


def reserved(book: Book, *, without: str | None = None) -> float:
    total = 0.0
    for key, w in book.working.items():
        if key != without:
            o = w.order
            total += _cost(o.side, opening_qty(_position(book, o.symbol), o.side, o.qty), _resting_price(w))
    return total


def short_requirement(book: Book, quotes: Mapping[str, Quote]) -> float:
    return sum(SHORT_MARGIN * -h.qty * mark(h, quotes.get(s)) for s, h in book.holdings.items() if h.qty < 0)


def buying_power(book: Book, quotes: Mapping[str, Quote], *, without: str | None = None) -> float:
    return book.cash - short_requirement(book, quotes) - reserved(book, without=without)


def net_liquidation(book: Book, quotes: Mapping[str, Quote]) -> float:
    return book.cash + sum(h.qty * mark(h, quotes.get(s)) for s, h in book.holdings.items())


def with_fill(book: Book, symbol: str, side: BrokerSide, qty: float, price: float) -> Book:
    """Cash and the position after a fill (also how a restart rebuilds the book from EVENTS)."""
    signed = qty if _is_buy(side) else -qty
    old = book.holdings.get(symbol, Holding(0.0, 0.0))
    new_qty = old.qty + signed
    if abs(new_qty) < EPS:
        holdings = book.holdings.delete(symbol) if symbol in book.holdings else book.holdings
    else:
        if old.qty == 0 or (old.qty > 0) != (signed > 0):
            # Opening, reducing or crossing zero: a reduction keeps its cost, a crossing starts anew.
            avg = old.avg_cost if (old.qty > 0) == (new_qty > 0) and old.qty != 0 else price
        else:
            avg = (old.qty * old.avg_cost + signed * price) / new_qty
        holdings = book.holdings.set(symbol, Holding(new_qty, avg))
    return msgspec.structs.replace(book, cash=book.cash - signed * price, holdings=holdings)


# --- orders -------------------------------------------------------------------------------


def _limit_ok(side: BrokerSide, price: float, limit: float) -> bool:
    return price <= limit + EPS if _is_buy(side) else price >= limit - EPS


def _stop_reached(side: BrokerSide, price: float, stop: float) -> bool:
    return price >= stop - EPS if _is_buy(side) else price <= stop + EPS


def _executable(w: Working, quote: Quote | None, now: int, max_age_ns: int) -> tuple[bool, float | None]:
    """(triggered now, fill price or None) for a working order against the quote."""
    o = w.order
    triggered = w.triggered
    if o.order_type in STOPS and not triggered:
        level = trigger_price(quote, o.side, now, max_age_ns)
        triggered = level is not None and _stop_reached(o.side, level, float(o.stop_price or 0.0))
        if not triggered:
            return False, None
    price = touch(quote, o.side, now, max_age_ns)
    if price is None:
        return triggered, None
    if o.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and not _limit_ok(o.side, price, float(o.limit_price or 0.0)):
        return triggered, None
    return triggered, price


def _remove(book: Book, key: str) -> Book:
    return msgspec.structs.replace(book, working=book.working.delete(key))


def _try_fill(book: Book, key: str, quotes: Mapping[str, Quote], now: int, max_age_ns: int) -> Step:
    w = book.working[key]
    o = w.order
    triggered, price = _executable(w, quotes.get(o.symbol), now, max_age_ns)
    out: list[Outcome] = []
    if triggered and not w.triggered:
        w = msgspec.structs.replace(w, triggered=True)
        book = msgspec.structs.replace(book, working=book.working.set(key, w))
        out.append(Triggered(key))
    if price is None:
        return book, out
    cost = _cost(o.side, opening_qty(_position(book, o.symbol), o.side, o.qty), price)
    available = buying_power(book, quotes, without=key)
    if cost > 0 and cost > available + EPS:  # closing is never refused, even in a deficit
        return _remove(book, key), [*out, Ended(key, Refusal.INSUFFICIENT_BUYING_POWER,
                                                f"at {price:g} the order needs {cost:.2f}, buying power is {available:.2f}")]
    book = with_fill(_remove(book, key), o.symbol, o.side, o.qty, price)
    return book, [*out, Filled(key, o.symbol, o.side, o.qty, price)]


def place(book: Book, order: PlaceOrder, quotes: Mapping[str, Quote], now: int, max_age_ns: int) -> Step:
    """A new order: refused, or accepted and then filled at once when it can be."""
    key = order.order_key
    if key in book.known:
        return book, []  # the same order again (a redelivery): placed once
    book = msgspec.structs.replace(book, known=book.known | {key})
    quote = quotes.get(order.symbol)
    if order.order_type is OrderType.MARKET:
        price = touch(quote, order.side, now, max_age_ns)
        if price is None:
            kind = Refusal.NO_PRICE if quote is None else Refusal.STALE_PRICE
            return book, [Refused(key, kind, f"no {'fresh ' if quote else ''}market price for {order.symbol}: "
                                             f"a market order is not filled blind")]
        estimate = price
    else:
        estimate = float(order.limit_price if order.limit_price is not None else order.stop_price or 0.0)
    cost = _cost(order.side, opening_qty(_position(book, order.symbol), order.side, order.qty), estimate)
    available = buying_power(book, quotes)
    if cost > 0 and cost > available + EPS:
        return book, [Refused(key, Refusal.INSUFFICIENT_BUYING_POWER,
                              f"the order needs {cost:.2f}, buying power is {available:.2f}")]
    book = msgspec.structs.replace(book, working=book.working.set(key, Working(order, now)))
    book, out = _try_fill(book, key, quotes, now, max_age_ns)
    out = [Accepted(key, order.order_type in STOPS), *out]
    if key in book.working and order.tif is Tif.IOC:
        book = _remove(book, key)
        out.append(Ended(key, Refusal.IOC_NOT_MARKETABLE, "immediate-or-cancel: not executable now"))
    return book, out


def on_quote(book: Book, symbol: str, quotes: Mapping[str, Quote], now: int, max_age_ns: int) -> Step:
    """A new quote for ``symbol``: every working order in it that the quote reaches, oldest first."""
    out: list[Outcome] = []
    keys = sorted((k for k, w in book.working.items() if w.order.symbol == symbol),
                  key=lambda k: (book.working[k].placed_ts, k))
    for key in keys:
        if key in book.working:
            book, step = _try_fill(book, key, quotes, now, max_age_ns)
            out.extend(step)
    return book, out


def cancel(book: Book, order_key: str) -> Step:
    if order_key not in book.working:
        return book, []  # finished or unknown: nothing to cancel
    return _remove(book, order_key), [Ended(order_key, Refusal.CANCELLED_BY_CLIENT, "cancelled on request")]


def session_close(ts_ns: int) -> int:
    """The first New York 16:00 at or after ``ts_ns`` (weekends and holidays are not skipped:
    an order is never kept longer than a real DAY order)."""
    t = datetime.fromtimestamp(ts_ns / 1e9, NEW_YORK)
    close = datetime.combine(t.date(), CLOSE, NEW_YORK)
    if t >= close:
        close = datetime.combine(t.date() + timedelta(days=1), CLOSE, NEW_YORK)
    return int(close.timestamp()) * 1_000_000_000


def expire(book: Book, now: int) -> Step:
    out: list[Outcome] = []
    for key, w in sorted(book.working.items()):
        if w.order.tif is Tif.DAY and now >= session_close(w.placed_ts):
            book = _remove(book, key)
            out.append(Ended(key, Refusal.DAY_EXPIRED, "a DAY order ends at the close"))
    return book, out
