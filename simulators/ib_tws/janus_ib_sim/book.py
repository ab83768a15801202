"""Orders, matching and accounts — the exchange and the broker's books. Pure functions over
small dataclasses; the server owns the instances and does the IO."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from . import margin
from .catalogue import Spec
from .margin import multiplier
from .market import Quote

ORDER_TYPES = ("MKT", "LMT", "STP", "STP LMT", "TRAIL", "TRAIL LIMIT", "MOC", "LOC")
TIFS = ("DAY", "GTC", "IOC", "FOK", "GTD", "OPG", "")
STOPS = ("STP", "STP LMT", "TRAIL", "TRAIL LIMIT")
LIMITS = ("LMT", "STP LMT", "LOC")  # types whose lmtPrice is a limit the client sets


@dataclass
class SimOrder:
    order_id: int
    client_id: int
    perm_id: int
    account: str
    spec: Spec
    action: str  # BUY | SELL
    qty: float
    order_type: str
    lmt: float | None
    aux: float | None
    tif: str  # DAY | GTC | IOC | FOK | GTD | OPG
    order_ref: str
    filled: float = 0.0
    avg_price: float = 0.0
    last_fill_price: float = 0.0
    status: str = "PreSubmitted"
    triggered: bool = False
    why_held: str = ""
    completed_time: str = ""
    # Fields of the order types, tifs and groups beyond the basic ones (names as ib_async's Order).
    oca_group: str = ""
    oca_type: int = 0
    parent_id: int = 0  # orderId of the parent, same client
    outside_rth: bool = False
    good_till: str = ""  # goodTillDate as given; expires_at is when it means
    expires_at: float | None = None
    trail_stop: float | None = None  # a trailing stop's current stop (trailStopPrice)
    trail_given: float | None = None  # the trailStopPrice the client sent (a modify that resends it keeps the stop)
    trailing_pct: float | None = None
    lmt_offset: float | None = None
    auctioned: bool = False  # an OPG order that has been through an opening auction

    @property
    def remaining(self) -> float:
        return max(self.qty - self.filled, 0.0)

    @property
    def done(self) -> bool:
        return self.status in ("Filled", "Cancelled", "Inactive", "ApiCancelled")

    @property
    def is_stop(self) -> bool:
        return self.order_type in STOPS

    @property
    def at_auction(self) -> bool:
        """Trades only in an auction (the close for MOC/LOC, the open for OPG)."""
        return self.order_type in ("MOC", "LOC") or self.tif == "OPG"


class OrderError(ValueError):
    """An order IB would refuse, with IB's code."""

    def __init__(self, code: int, text: str) -> None:
        self.code = code
        self.text = text
        super().__init__(f"{code}: {text}")


# A float price with more than 2**53 ticks cannot sit on the tick grid (nor be carried as a
# whole number of ticks); no listed contract trades near such prices.
MAX_TICKS = float(2**53)
# Larger than any order a TWS takes; beyond it sizes lose integer precision as floats.
MAX_QTY = 1e9
BAD_SIZE = "Error validating request.-'bS' : cause - The order size does not conform to market rule."


def _on_tick(price: float, tick: float) -> bool:
    if not math.isfinite(price) or price <= 0 or price / tick >= MAX_TICKS:
        return False
    steps = price / tick
    return abs(steps - round(steps)) < 1e-6


def used_prices(order_type: str, lmt: float | None, aux: float | None) -> tuple[float | None, float | None]:
    """(limit, stop) as the order type uses them; a price the type ignores is not kept."""
    return (lmt if order_type in LIMITS else None, aux if order_type in STOPS else None)


def validate(spec: Spec, action: str, qty: float, order_type: str, lmt: float | None, aux: float | None,
             tif: str) -> None:
    """IB's refusals of an order's own fields, as IB codes. Every float is checked for being
    finite and in range here, before anything is stored, so no later arithmetic can overflow."""
    if action not in ("BUY", "SELL", "SSHORT"):
        raise OrderError(321, f"Error validating request:-'bW' : cause - Invalid side {action[:20]!r}")
    if qty == 0:
        raise OrderError(434, "The order size cannot be zero.")
    if not math.isfinite(qty) or qty < 0 or qty > MAX_QTY:
        raise OrderError(321, BAD_SIZE)
    if spec.sec_type in ("FUT", "OPT") and qty != int(qty):
        raise OrderError(321, BAD_SIZE)
    if order_type not in ORDER_TYPES:
        raise OrderError(387, f"Unsupported order type {order_type[:20]!r} for this exchange and security type.")
    if tif not in TIFS:
        raise OrderError(321, f"Error validating request:-'bO' : cause - Invalid time in force {tif[:20]!r}")
    if order_type in LIMITS and lmt is None:
        raise OrderError(321, "Error validating request:-'bP' : cause - Missing limit price")
    if order_type in ("STP", "STP LMT") and aux is None:
        raise OrderError(321, "Error validating request:-'bQ' : cause - Missing stop price (auxPrice)")
    if any(p is not None and not math.isfinite(p) for p in (lmt, aux)):
        raise OrderError(110, "The price does not conform to the minimum price variation for this contract.")
    for price in used_prices(order_type, lmt, aux):  # a trailing amount sits on the tick grid too
        if price is not None and not _on_tick(price, spec.min_tick):
            raise OrderError(110, "The price does not conform to the minimum price variation for this "
                                  f"contract (tick {spec.min_tick:g}).")


def triggered(order: SimOrder, quote: Quote) -> bool:
    """A stop wakes up when the last trade reaches it: at or above for a buy, at or below for a sell."""
    if not order.is_stop or order.triggered:
        return order.triggered or not order.is_stop
    stop = order.trail_stop if order.order_type in ("TRAIL", "TRAIL LIMIT") else order.aux
    if stop is None:
        return False
    return quote.last >= stop if order.action == "BUY" else quote.last <= stop


def executable(order: SimOrder, quote: Quote) -> tuple[float, float] | None:
    """(qty, price) this order can trade against the touch now, or None. A market or triggered
    stop takes the touch; a limit trades only when marketable, at the touch (never worse)."""
    if order.done or order.remaining <= 0 or order.at_auction or not triggered(order, quote):
        return None
    buying = order.action == "BUY"
    price = quote.ask if buying else quote.bid
    size = quote.ask_size if buying else quote.bid_size
    limit = order.lmt if order.order_type in ("LMT", "STP LMT", "TRAIL LIMIT") else None
    if order.order_type == "TRAIL LIMIT" and limit is None:
        return None  # its limit is set when it triggers
    if limit is not None and (price > limit if buying else price < limit):
        return None
    qty = min(order.remaining, size)
    return (qty, price) if qty > 0 else None


def consume(quote: Quote, action: str, qty: float) -> Quote:
    """What a fill takes from the touch, so two orders cannot both take the same size."""
    if action == "BUY":
        return replace(quote, ask_size=max(quote.ask_size - qty, 0.0))
    return replace(quote, bid_size=max(quote.bid_size - qty, 0.0))


def fill(order: SimOrder, qty: float, price: float) -> SimOrder:
    filled = order.filled + qty
    avg = (order.avg_price * order.filled + price * qty) / filled
    status = "Filled" if filled >= order.qty - 1e-9 else "Submitted"
    return replace(order, filled=filled, avg_price=avg, last_fill_price=price, status=status, triggered=True)


FX_RATE = 0.2e-4  # IB's tiered IDEALPRO commission: 0.2 basis points of the trade value …
FX_MINIMUM = 2.0  # … and at least USD 2.00 an order


def fx_value_usd(spec: Spec, qty: float, price: float) -> float:
    """A pair's trade value in USD: base amount × price when USD is the quote currency, the
    base amount itself when USD is the base (USD.JPY)."""
    return abs(qty) if spec.symbol == "USD" else abs(qty) * price


def commission(spec: Spec, qty: float, *, price: float | None = None) -> float:
    if spec.sec_type == "CASH":
        value = fx_value_usd(spec, qty, spec.price if price is None else price)
        return round(max(FX_MINIMUM, FX_RATE * value), 2)
    if spec.sec_type == "FUT":
        return round(2.25 * qty, 2)
    if spec.sec_type == "OPT":
        return round(max(1.0, 0.65 * qty), 2)
    return round(max(1.0, 0.005 * qty), 2)


@dataclass(frozen=True)
class Holding:
    qty: float = 0.0
    avg_cost: float = 0.0  # per unit, times the multiplier (IB's convention)
    realized: float = 0.0


def apply_fill(h: Holding, spec: Spec, action: str, qty: float, price: float) -> Holding:
    """Average cost on opening, realized P&L on closing, both in IB's multiplied units."""
    signed = qty if action == "BUY" else -qty
    cost = price * multiplier(spec)
    if h.qty == 0 or (h.qty > 0) == (signed > 0):
        new_qty = h.qty + signed
        avg = (abs(h.qty) * h.avg_cost + abs(signed) * cost) / abs(new_qty)
        return Holding(new_qty, avg, h.realized)
    closing = min(abs(signed), abs(h.qty))
    pnl = closing * (cost - h.avg_cost) * (1 if h.qty > 0 else -1)
    new_qty = h.qty + signed
    if abs(new_qty) < 1e-12:
        return Holding(0.0, 0.0, h.realized + pnl)
    if (new_qty > 0) == (h.qty > 0):
        return Holding(new_qty, h.avg_cost, h.realized + pnl)
    return Holding(new_qty, cost, h.realized + pnl)  # crossed zero: the rest opened at this price


@dataclass
class Account:
    number: str
    cash: float = 1_000_000.0
    holdings: dict[int, Holding] = field(default_factory=dict)

    @property
    def quantities(self) -> dict[int, float]:
        return {c: h.qty for c, h in self.holdings.items() if h.qty}

    def values(self, marks: dict[int, float], specs: dict[int, Spec]) -> dict[str, float]:
        return margin.values(self.cash, self.quantities, marks, specs)
