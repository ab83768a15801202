"""Pre-trade checks: the account's trading state and limits against one order. Pure.

:func:`assess` runs the checks in the order of :data:`CHECK_ORDER` and returns the first
refusal, with its own reason code and a sentence that gives the figures it compared; None
means the order may go. The router runs it after planning (so the symbol, the position and
the broker order are known) and before anything is published.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal

from janus_common import projections
from janus_common.config import RiskConfig
from janus_common.messages import (
    BrokerSide,
    LegRole,
    Broker,
    OrderIntent,
    OrderType,
    PlaceOrder,
    RegistryRecord,
    RejectReason,
    Side,
    TradingState,
)
from janus_common.prices import NS, Quote, mark
from janus_common.projections import RATE_WINDOW_NS
from janus_common.symbols import AssetClass

from .decide import Rejection

CHECK_ORDER = (
    RejectReason.ACCOUNT_HALTED,
    RejectReason.INVALID_QTY,
    RejectReason.INVALID_PRICE,
    RejectReason.FRACTIONAL_QTY,
    RejectReason.PRICE_NOT_ON_TICK,
    RejectReason.REDUCE_ONLY,
    RejectReason.RISK_MAX_QTY,
    RejectReason.NO_REFERENCE_PRICE,
    RejectReason.PRICE_OUT_OF_BAND,
    RejectReason.RISK_MAX_NOTIONAL,
    RejectReason.RISK_MAX_POSITION,
    RejectReason.RISK_MAX_OPEN_ORDERS,
    RejectReason.RATE_LIMITED,
)

# Which instruments each broker takes fractional quantities for, through Janus. IB: crypto
# only (fractional shares need a per-account permission and are not offered by the API for
# every order type). Webull: none (Janus places its orders with entrust_type QTY, whole shares;
# fractions would need AMOUNT orders). Futures and options are whole contracts everywhere.
FRACTIONS: dict[Broker, frozenset[AssetClass]] = {
    Broker.IB: frozenset({AssetClass.CRYPTO}),
    Broker.WEBULL: frozenset(),
}

# Float noise allowed at a limit: an order exactly at a limit passes whatever its binary rounding.
REL_TOL = 1e-9
TICK_TOL = Decimal("1e-9")


@dataclass(frozen=True)
class OrderFacts:
    """The order as the broker would get it."""

    account: str
    symbol: str
    asset_class: AssetClass
    broker: Broker
    side: Side
    order_type: OrderType
    qty: float
    limit_price: float | None = None
    stop_price: float | None = None
    min_tick: float | None = None  # None: unknown, not checked
    multiplier: float = 1.0


@dataclass(frozen=True)
class AccountFacts:
    """What the events say about the account now."""

    state: TradingState = TradingState.ACTIVE
    state_reason: str = ""
    position: float = 0.0  # broker-reported, plus fills not reported yet
    working_buys: float = 0.0  # in this symbol
    working_sells: float = 0.0
    open_orders: int = 0  # working orders of the account, every symbol
    routed_last_minute: int = 0


def num(x: float) -> str:
    """Figures in messages: up to 10 significant digits, thousands separated."""
    return f"{x:,.10g}"


def _over(value: float, limit: float) -> bool:
    return value > limit * (1 + REL_TOL)


def is_whole(qty: float) -> bool:
    return abs(qty - round(qty)) <= 1e-9


def tick_neighbours(price: float, tick: float) -> tuple[float, float] | None:
    """None when ``price`` is a multiple of ``tick`` (within TICK_TOL ticks), else the valid
    prices just below and above. Decimal from the shortest repr: 100.07 is 10007 cents."""
    p, t = Decimal(repr(price)), Decimal(repr(tick))
    ratio = p / t
    nearest = ratio.to_integral_value()
    if abs(ratio - nearest) <= TICK_TOL:
        return None
    below = ratio.to_integral_value(rounding="ROUND_FLOOR")
    return float(below * t), float((below + 1) * t)


def _prices(order: OrderFacts) -> list[tuple[str, float]]:
    return [(name, value) for name, value in (("limit price", order.limit_price),
                                              ("stop price", order.stop_price)) if value is not None]


def _reduces(order: OrderFacts, acct: AccountFacts) -> bool:
    """Whether the order only reduces the position (counting working orders against it)."""
    if order.side is Side.BUY:
        short = -(acct.position + acct.working_buys)
        return short > 0 and order.qty <= short * (1 + REL_TOL)
    long = acct.position - acct.working_sells
    return long > 0 and order.qty <= long * (1 + REL_TOL)


def assess(order: OrderFacts, acct: AccountFacts, quote: Quote | None, limits: RiskConfig,
           now_ns: int) -> Rejection | None:
    for check in _CHECKS:
        found = check(order, acct, quote, limits, now_ns)
        if found is not None:
            return found
    return None


def trading_gate(account: str, acct: AccountFacts) -> Rejection | None:
    """The state check alone: the router runs it before any look-up too."""
    if acct.state is TradingState.HALTED:
        why = f" ({acct.state_reason})" if acct.state_reason else ""
        return Rejection(RejectReason.ACCOUNT_HALTED,
                         f"account {account} is HALTED{why}: no new order passes until it is "
                         f"resumed (cancels still do)")
    return None


def _halted(order: OrderFacts, acct: AccountFacts, quote: Quote | None, limits: RiskConfig, now: int) -> Rejection | None:
    return trading_gate(order.account, acct)


def _qty(order: OrderFacts, acct: AccountFacts, quote: Quote | None, limits: RiskConfig, now: int) -> Rejection | None:
    if not (math.isfinite(order.qty) and order.qty > 0):
        return Rejection(RejectReason.INVALID_QTY, f"quantity must be a positive finite number, got {order.qty}")
    return None


def _price(order: OrderFacts, acct: AccountFacts, quote: Quote | None, limits: RiskConfig, now: int) -> Rejection | None:
    for name, value in _prices(order):
        if not (math.isfinite(value) and value > 0):
            return Rejection(RejectReason.INVALID_PRICE, f"{name} must be a positive finite number, got {value}")
    return None


def whole_contracts(symbol: str, asset_class: AssetClass, qty: float) -> Rejection | None:
    """Futures and options trade in whole contracts: known from the canonical symbol alone, so
    the router checks it before any look-up too."""
    if asset_class in (AssetClass.FUTURE, AssetClass.OPTION) and math.isfinite(qty) and not is_whole(qty):
        return Rejection(RejectReason.FRACTIONAL_QTY,
                         f"{symbol} is a {asset_class}: quantities are whole contracts, got {num(qty)}")
    return None


def _fraction(order: OrderFacts, acct: AccountFacts, quote: Quote | None, limits: RiskConfig, now: int) -> Rejection | None:
    if is_whole(order.qty):
        return None
    contracts = whole_contracts(order.symbol, order.asset_class, order.qty)
    if contracts is not None:
        return contracts
    if order.asset_class not in FRACTIONS[order.broker]:
        return Rejection(RejectReason.FRACTIONAL_QTY,
                         f"{order.broker} does not take fractional {order.asset_class} quantities, "
                         f"got {num(order.qty)}")
    return None


def _tick(order: OrderFacts, acct: AccountFacts, quote: Quote | None, limits: RiskConfig, now: int) -> Rejection | None:
    tick = order.min_tick
    if tick is None or not (math.isfinite(tick) and tick > 0):
        return None
    for name, value in _prices(order):
        off = tick_neighbours(value, tick)
        if off is not None:
            return Rejection(RejectReason.PRICE_NOT_ON_TICK,
                             f"{name} {num(value)} is not a multiple of the minimum tick {num(tick)} "
                             f"of {order.symbol} (nearest valid: {num(off[0])} or {num(off[1])})")
    return None


def _reduce_only(order: OrderFacts, acct: AccountFacts, quote: Quote | None, limits: RiskConfig, now: int) -> Rejection | None:
    if acct.state is not TradingState.REDUCING or _reduces(order, acct):
        return None
    return Rejection(RejectReason.REDUCE_ONLY,
                     f"account {order.account} is REDUCING{f' ({acct.state_reason})' if acct.state_reason else ''}: "
                     f"only orders that reduce the position pass, and this {order.side} of {num(order.qty)} "
                     f"{order.symbol} does not (position {num(acct.position)}, working buys "
                     f"{num(acct.working_buys)}, working sells {num(acct.working_sells)})")


def _max_qty(order: OrderFacts, acct: AccountFacts, quote: Quote | None, limits: RiskConfig, now: int) -> Rejection | None:
    if order.qty > limits.max_order_qty:
        return Rejection(RejectReason.RISK_MAX_QTY,
                         f"quantity {num(order.qty)} exceeds the limit of {num(limits.max_order_qty)} "
                         f"per order of account {order.account}")
    return None


def reference(quote: Quote | None, limits: RiskConfig, now_ns: int) -> tuple[float, float, str] | None:
    """(price, age in seconds, kind) of the freshest usable price, None when none is fresh."""
    found = mark(quote, now_ns, int(limits.reference_max_age_s * NS))
    if found is None or found.stale or not (math.isfinite(found.price) and found.price > 0):
        return None
    return found.price, max(now_ns - found.ts, 0) / NS, str(found.kind)


def _no_reference(order: OrderFacts, acct: AccountFacts, quote: Quote | None, limits: RiskConfig, now: int) -> Rejection | None:
    if not limits.require_reference_price or reference(quote, limits, now) is not None:
        return None
    found = mark(quote, now, int(limits.reference_max_age_s * NS))
    newest = (f"the newest is {num(max(now - found.ts, 0) / NS)} s old" if found is not None
              else "there is none at all")
    return Rejection(RejectReason.NO_REFERENCE_PRICE,
                     f"no price of {order.symbol} newer than {num(limits.reference_max_age_s)} s to check "
                     f"this order against ({newest}); nothing was sent to the broker")


def _band(order: OrderFacts, acct: AccountFacts, quote: Quote | None, limits: RiskConfig, now: int) -> Rejection | None:
    ref = reference(quote, limits, now)
    if ref is None:
        return None
    price, age, kind = ref
    for name, value in _prices(order):
        off_pct = abs(value - price) / price * 100
        if _over(off_pct, limits.price_band_pct):
            return Rejection(RejectReason.PRICE_OUT_OF_BAND,
                             f"{name} {num(value)} is {off_pct:.6g} % from the reference price {num(price)} "
                             f"of {order.symbol} ({kind}, {age:.1f} s old); the band is "
                             f"{num(limits.price_band_pct)} %")
    return None


def notional_basis(order: OrderFacts, quote: Quote | None, limits: RiskConfig,
                   now_ns: int) -> tuple[float, str] | None:
    """The price the notional is computed with, and what it is."""
    if order.limit_price is not None:
        return order.limit_price, "limit price"
    if order.stop_price is not None:
        return order.stop_price, "stop price"
    ref = reference(quote, limits, now_ns)
    return (ref[0], "reference price") if ref is not None else None


def _notional(order: OrderFacts, acct: AccountFacts, quote: Quote | None, limits: RiskConfig, now: int) -> Rejection | None:
    basis = notional_basis(order, quote, limits, now)
    if basis is None:
        return None
    price, what = basis
    notional = order.qty * price * order.multiplier
    if _over(notional, limits.max_order_notional):
        return Rejection(RejectReason.RISK_MAX_NOTIONAL,
                         f"notional {num(notional)} ({num(order.qty)} x {what} {num(price)} x multiplier "
                         f"{num(order.multiplier)}) exceeds the limit of {num(limits.max_order_notional)} "
                         f"per order of account {order.account}")
    return None


def reach(order: OrderFacts, acct: AccountFacts) -> tuple[float, float]:
    """(position before, position after) counting this side's working orders."""
    if order.side is Side.BUY:
        start = acct.position + acct.working_buys
        return start, start + order.qty
    start = acct.position - acct.working_sells
    return start, start - order.qty


def _position(order: OrderFacts, acct: AccountFacts, quote: Quote | None, limits: RiskConfig, now: int) -> Rejection | None:
    start, end = reach(order, acct)
    # An order that brings the position closer to flat always passes, even above the limit.
    if _over(abs(end), limits.max_position) and abs(end) > abs(start):
        working = acct.working_buys if order.side is Side.BUY else acct.working_sells
        return Rejection(RejectReason.RISK_MAX_POSITION,
                         f"this {order.side} of {num(order.qty)} would take the position in {order.symbol} to "
                         f"{num(end)} (position {num(acct.position)}, working {order.side.lower()}s "
                         f"{num(working)}); the limit is {num(limits.max_position)} for account {order.account}")
    return None


def _open_orders(order: OrderFacts, acct: AccountFacts, quote: Quote | None, limits: RiskConfig, now: int) -> Rejection | None:
    if acct.open_orders >= limits.max_open_orders:
        return Rejection(RejectReason.RISK_MAX_OPEN_ORDERS,
                         f"account {order.account} has {acct.open_orders} working orders; the limit is "
                         f"{limits.max_open_orders}")
    return None


def _rate(order: OrderFacts, acct: AccountFacts, quote: Quote | None, limits: RiskConfig, now: int) -> Rejection | None:
    if acct.routed_last_minute >= limits.max_orders_per_minute:
        return Rejection(RejectReason.RATE_LIMITED,
                         f"account {order.account} routed {acct.routed_last_minute} orders in the last "
                         f"{RATE_WINDOW_NS // NS} s; the limit is {limits.max_orders_per_minute} per minute")
    return None


_CHECKS = (_halted, _qty, _price, _fraction, _tick, _reduce_only, _max_qty, _no_reference, _band,
           _notional, _position, _open_orders, _rate)


def account_facts(ledger: projections.Ledger, account: str, symbol: str, now_ns: int) -> AccountFacts:
    """The account as the folded events show it, for one symbol."""
    change = ledger.trading.get(account)
    buys, sells = projections.in_flight(ledger, account, symbol)
    return AccountFacts(state=projections.trading_state(ledger, account),
                        state_reason=change.reason if change is not None else "",
                        position=projections.broker_position(ledger, account, symbol),
                        working_buys=buys, working_sells=sells,
                        open_orders=projections.open_order_count(ledger, account),
                        routed_last_minute=projections.routed_since(ledger, account, now_ns - RATE_WINDOW_NS))


def order_facts(intent: OrderIntent, record: RegistryRecord, broker: Broker, order: PlaceOrder) -> OrderFacts:
    """The order as planned for the broker (its type and prices after any fallback)."""
    ib = record.ib
    return OrderFacts(account=intent.account, symbol=record.symbol, asset_class=record.asset_class,
                      broker=broker, side=intent.side, order_type=order.order_type, qty=intent.qty,
                      limit_price=order.limit_price, stop_price=order.stop_price,
                      min_tick=ib.min_tick if ib is not None else None,
                      multiplier=(ib.multiplier or 1.0) if ib is not None else 1.0)


def without_order(acct: AccountFacts, view: projections.OrderView) -> AccountFacts:
    """The account's figures without one of its working orders: a modification replaces it."""
    buys, sells = projections.working_of(view)
    return replace(acct, working_buys=max(acct.working_buys - buys, 0.0),
                   working_sells=max(acct.working_sells - sells, 0.0),
                   open_orders=max(acct.open_orders - (0 if view.terminal else 1), 0), routed_last_minute=0)


def exits(orders: Iterable[PlaceOrder], record: RegistryRecord, quote: Quote | None, limits: RiskConfig,
          now_ns: int) -> Rejection | None:
    """A bracket's exit prices: on the tick grid and inside the price band, like any price."""
    ib = record.ib
    for order in orders:
        if order.role is LegRole.ENTRY:
            continue
        facts = OrderFacts(account=order.account, symbol=record.symbol, asset_class=record.asset_class,
                           broker=order.broker, side=Side.BUY if order.side is BrokerSide.BUY else Side.SELL,
                           order_type=order.order_type, qty=order.qty, limit_price=order.limit_price,
                           stop_price=order.stop_price, min_tick=ib.min_tick if ib is not None else None)
        found = _tick(facts, AccountFacts(), quote, limits, now_ns) or _band(facts, AccountFacts(), quote, limits, now_ns)
        if found is not None:
            return Rejection(found.reason, f"{order.role}: {found.message}")
    return None

