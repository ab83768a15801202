"""The router's decisions, as pure functions: validation, SELL/SHORT position effect, order
type mapping, and the broker orders an intent becomes. No IO; exhaustively property-tested."""

from __future__ import annotations

import math
from dataclasses import dataclass

from janus_common.messages import (
    BrokerSide,
    IbContract,
    OrderIntent,
    OrderType,
    PlaceOrder,
    PositionDecision,
    PositionEffect,
    RegistryRecord,
    RejectReason,
    Side,
    WebullInstrument,
)
from janus_common.messages import Broker
from janus_common.symbols import AssetClass

from janus_common.capabilities import PRICED_BY, TRAILING, BracketStyle, describe
from janus_common.messages import EXIT_LEGS, LegRole, Tif

from .rules import AccountRules, BrokerCaps


@dataclass(frozen=True)
class Rejection:
    reason: RejectReason
    message: str


@dataclass(frozen=True)
class Effect:
    decision: PositionDecision
    legs: tuple[tuple[BrokerSide, float], ...]


@dataclass(frozen=True)
class Route:
    decision: PositionDecision
    orders: tuple[PlaceOrder, ...]


def _positive(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0


_LIMIT_FIELDS = ("limit_price", "stop_price", "limit_offset")
_TRAIL_FIELDS = ("trail_amount", "trail_percent")
_BRACKET_ENTRIES = frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT})
_ON_CLOSE = frozenset({OrderType.MARKET_ON_CLOSE, OrderType.LIMIT_ON_CLOSE})


def validate(intent: OrderIntent, now_ns: int | None = None) -> Rejection | None:
    """Semantic checks the schema cannot express: every price the type needs and none it
    ignores, trailing distances, GTD expiry, and a bracket's exits on the right sides."""
    if not (math.isfinite(intent.qty) and intent.qty > 0):
        return Rejection(RejectReason.INVALID_QTY, f"quantity must be a positive number, got {intent.qty}")
    t = intent.order_type
    priced_by = PRICED_BY[t]
    if "limit_price" in priced_by and intent.limit_price is None:
        return Rejection(RejectReason.MISSING_LIMIT_PRICE, f"a {t} order needs a limit_price")
    if "stop_price" in priced_by and intent.stop_price is None:
        return Rejection(RejectReason.MISSING_STOP_PRICE, f"a {t} order needs a stop_price")
    if "limit_offset" in priced_by and intent.limit_offset is None:
        return Rejection(RejectReason.MISSING_LIMIT_PRICE,
                         f"a {t} order needs a limit_offset (how far beyond the stop its limit sits)")
    for name in _LIMIT_FIELDS:
        value = getattr(intent, name)
        if value is not None and name not in priced_by:
            return Rejection(RejectReason.INVALID_PRICE, f"a {t} order takes no {name} (got {value})")
        if value is None:
            continue
        ok = math.isfinite(value) and value >= 0 if name == "limit_offset" else _positive(value)
        if not ok:
            return Rejection(RejectReason.INVALID_PRICE, f"{name} must be a positive number, got {value}")
    return _trail(intent) or _expiry(intent, now_ns) or _bracket(intent)


def _trail(intent: OrderIntent) -> Rejection | None:
    t = intent.order_type
    given = [name for name in _TRAIL_FIELDS if getattr(intent, name) is not None]
    if t not in TRAILING:
        if given:
            return Rejection(RejectReason.INVALID_PRICE, f"a {t} order takes no {given[0]}")
        return None
    if len(given) != 1:
        return Rejection(RejectReason.MISSING_TRAIL, f"a {t} order needs one of trail_amount or trail_percent "
                                                     f"(got {'both' if given else 'neither'})")
    amount, pct = intent.trail_amount, intent.trail_percent
    if amount is not None and not _positive(amount):
        return Rejection(RejectReason.INVALID_PRICE, f"trail_amount must be a positive number, got {amount}")
    if pct is not None and not (_positive(pct) and pct < 100):
        return Rejection(RejectReason.INVALID_PRICE, f"trail_percent must be above 0 and below 100, got {pct}")
    return None


def _expiry(intent: OrderIntent, now_ns: int | None) -> Rejection | None:
    if intent.tif is Tif.GTD:
        if intent.expire_at is None:
            return Rejection(RejectReason.INVALID_EXPIRY, "a GTD order needs expire_at (when it expires)")
        if now_ns is not None and intent.expire_at <= now_ns:
            return Rejection(RejectReason.INVALID_EXPIRY, f"expire_at is {(now_ns - intent.expire_at) / 1e9:.1f} s "
                                                          f"in the past")
    elif intent.expire_at is not None:
        return Rejection(RejectReason.INVALID_EXPIRY, f"expire_at is for GTD orders, not {intent.tif}")
    if intent.tif is Tif.OPG and intent.order_type not in (OrderType.MARKET, OrderType.LIMIT):
        return Rejection(RejectReason.TIF_UNSUPPORTED, f"OPG (at the opening) takes MARKET or LIMIT orders, "
                                                       f"not {intent.order_type}")
    if intent.order_type in _ON_CLOSE and intent.tif is not Tif.DAY:
        return Rejection(RejectReason.TIF_UNSUPPORTED, f"a {intent.order_type} order is a DAY order, not {intent.tif}")
    return None


def _bracket(intent: OrderIntent) -> Rejection | None:
    if not intent.bracket:
        return None
    if intent.order_type not in _BRACKET_ENTRIES:
        return Rejection(RejectReason.INVALID_BRACKET, f"a bracket's entry is MARKET, LIMIT, STOP or STOP_LIMIT, "
                                                       f"not {intent.order_type}")
    for name in ("take_profit", "stop_loss"):
        value = getattr(intent, name)
        if value is not None and not _positive(value):
            return Rejection(RejectReason.INVALID_PRICE, f"{name} must be a positive number, got {value}")
    tp, sl = intent.take_profit, intent.stop_loss
    buying = intent.side is Side.BUY
    entry = intent.limit_price if intent.limit_price is not None else intent.stop_price
    checks = [("take_profit", tp, "above" if buying else "below"), ("stop_loss", sl, "below" if buying else "above")]
    for name, value, where in checks:
        if value is None or entry is None:
            continue
        if (value <= entry) if where == "above" else (value >= entry):
            return Rejection(RejectReason.INVALID_BRACKET, f"the {name} of a {intent.side} bracket must be {where} "
                                                           f"its entry price {entry:g}, got {value:g}")
    if tp is not None and sl is not None and ((tp <= sl) if buying else (tp >= sl)):
        return Rejection(RejectReason.INVALID_BRACKET, f"the take_profit {tp:g} of a {intent.side} bracket must be "
                                                       f"{'above' if buying else 'below'} its stop_loss {sl:g}")
    return None


def position_effect(
    side: Side,
    qty: float,
    broker_position: float,
    in_flight_buys: float,
    in_flight_sells: float,
    rules: AccountRules,
    caps: BrokerCaps,
    locate_ref: str | None,
) -> Effect | Rejection:
    """SELL vs SHORT (DESIGN.md "SELL / SHORT"). Working sells count against the long so two
    quick SELLs cannot both close it; working buys are not counted until they fill."""
    if side is Side.BUY:
        projected = broker_position + in_flight_buys
        in_flight = in_flight_buys
        if projected >= 0:
            effect = PositionEffect.OPEN_LONG if projected == 0 else PositionEffect.ADD_LONG
        elif qty <= -projected:
            effect = PositionEffect.CLOSE_SHORT
        else:
            effect = PositionEffect.CLOSE_SHORT_OPEN_LONG
        return Effect(_decision(broker_position, in_flight, projected, rules, effect), ((BrokerSide.BUY, qty),))

    projected = broker_position - in_flight_sells
    in_flight = -in_flight_sells
    if projected > 0 and qty <= projected:
        return Effect(_decision(broker_position, in_flight, projected, rules, PositionEffect.CLOSE_LONG),
                      ((BrokerSide.SELL, qty),))
    if projected > 0:
        effect = PositionEffect.CLOSE_LONG_OPEN_SHORT
    elif projected == 0:
        effect = PositionEffect.OPEN_SHORT
    else:
        effect = PositionEffect.ADD_SHORT
    short_qty = qty - max(projected, 0.0)
    if not rules.allow_short:
        return Rejection(RejectReason.SHORT_NOT_ALLOWED,
                         f"this SELL of {qty:g} would leave account {rules.account} short "
                         f"{short_qty:g} (position {broker_position:g}, working sells {in_flight_sells:g}) "
                         f"and the account does not allow short selling")
    if rules.locate_required and not locate_ref:
        return Rejection(RejectReason.LOCATE_REQUIRED,
                         f"account {rules.account} needs a locate reference (locate_ref) to sell short")
    decision = _decision(broker_position, in_flight, projected, rules, effect)
    if not caps.explicit_short:
        return Effect(decision, ((BrokerSide.SELL, qty),))
    if effect is PositionEffect.CLOSE_LONG_OPEN_SHORT:
        return Effect(decision, ((BrokerSide.SELL, projected), (BrokerSide.SHORT, short_qty)))
    return Effect(decision, ((BrokerSide.SHORT, qty),))


def _decision(position: float, in_flight: float, projected: float, rules: AccountRules,
              effect: PositionEffect) -> PositionDecision:
    return PositionDecision(broker_position=position, in_flight=in_flight, projected_position=projected,
                            allow_short=rules.allow_short, locate_required=rules.locate_required,
                            effect=effect)


def order_type_for(intent: OrderIntent, rules: AccountRules, caps: BrokerCaps) -> OrderType | Rejection:
    """The broker's type: the intent's own, else the account's configured fallback, else refuse
    (naming what the account takes instead)."""
    wanted = intent.order_type
    if wanted in caps.order_types:
        return wanted
    fallback = rules.fallback.get(wanted)
    if fallback is not None and fallback in caps.order_types:
        return fallback
    return Rejection(RejectReason.ORDER_TYPE_UNSUPPORTED,
                     f"account {rules.account} ({rules.broker}) does not take {wanted} orders and has no "
                     f"fallback configured for it; it takes {describe(caps.order_types)}")


def surface(intent: OrderIntent, rules: AccountRules, caps: BrokerCaps) -> Rejection | None:
    """What the broker (and the account) can express beyond the order type: tif, trailing by
    percent, outside regular hours, brackets."""
    if intent.tif not in caps.tifs:
        return Rejection(RejectReason.TIF_UNSUPPORTED,
                         f"account {rules.account} ({rules.broker}) does not take time in force {intent.tif}; "
                         f"it takes {describe(caps.tifs)}")
    if intent.trail_percent is not None and not caps.trail_percent:
        return Rejection(RejectReason.ORDER_TYPE_UNSUPPORTED,
                         f"{rules.broker} trails by amount only: give trail_amount instead of trail_percent")
    if intent.outside_rth and not caps.outside_rth:
        return Rejection(RejectReason.OUTSIDE_RTH_UNSUPPORTED,
                         f"account {rules.account} ({rules.broker}) trades regular hours only")
    if intent.bracket and caps.brackets is BracketStyle.NONE:
        return Rejection(RejectReason.BRACKET_UNSUPPORTED,
                         f"account {rules.account} ({rules.broker}) takes no brackets: send the entry, then "
                         f"its exits as orders of their own")
    return None


def _prices(order_type: OrderType, intent: OrderIntent) -> tuple[float | None, float | None]:
    priced_by = PRICED_BY[order_type]
    limit = intent.limit_price if "limit_price" in priced_by else None
    stop = intent.stop_price if "stop_price" in priced_by else None
    return limit, stop


def broker_fields(record: RegistryRecord, broker: Broker) -> IbContract | WebullInstrument | None | Rejection:
    if broker is Broker.PAPER:
        # The paper book needs only the canonical symbol (IB market data prices it), and values
        # positions one unit per share: equities only.
        if record.asset_class is AssetClass.EQUITY:
            return None
        return Rejection(RejectReason.UNKNOWN_SYMBOL, f"{record.symbol}: paper accounts trade equities only")
    if broker is Broker.IB:
        if record.ib is None:
            return Rejection(RejectReason.UNKNOWN_SYMBOL, f"{record.symbol} has no IB contract in the registry")
        return record.ib
    if record.webull is not None:
        return record.webull
    if record.asset_class == AssetClass.EQUITY:
        return WebullInstrument(symbol=record.symbol)  # Webull trades equities by ticker
    return Rejection(RejectReason.UNKNOWN_SYMBOL, f"{record.symbol} is not tradable on Webull")


def plan_route(
    intent: OrderIntent,
    record: RegistryRecord,
    rules: AccountRules,
    caps: BrokerCaps,
    *,
    broker_position: float,
    in_flight_buys: float,
    in_flight_sells: float,
) -> Route | Rejection:
    """Everything after validation and resolution: the broker orders this intent becomes."""
    refused = surface(intent, rules, caps)
    if refused is not None:
        return refused
    order_type = order_type_for(intent, rules, caps)
    if isinstance(order_type, Rejection):
        return order_type
    fields = broker_fields(record, rules.broker)
    if isinstance(fields, Rejection):
        return fields
    effect = position_effect(intent.side, intent.qty, broker_position, in_flight_buys, in_flight_sells,
                             rules, caps, intent.locate_ref)
    if isinstance(effect, Rejection):
        return effect
    if intent.bracket and len(effect.legs) > 1:
        return Rejection(RejectReason.INVALID_BRACKET,
                         f"this SELL would close the long and open a short ({effect.decision.effect}): a bracket's "
                         f"entry is one order; close the position first")
    limit, stop = _prices(order_type, intent)
    exits = _exit_legs(intent)
    common = dict(intent_id=intent.intent_id, account=intent.account, broker=rules.broker, symbol=record.symbol,
                  tif=intent.tif, outside_rth=intent.outside_rth, exit_legs=tuple(leg for _, leg, _ in exits),
                  ib=fields if isinstance(fields, IbContract) else None,
                  webull=fields if isinstance(fields, WebullInstrument) else None)
    orders = [
        PlaceOrder(leg=i, side=side, order_type=order_type, qty=qty, limit_price=limit, stop_price=stop,
                   trail_amount=intent.trail_amount, trail_percent=intent.trail_percent,
                   limit_offset=intent.limit_offset, expire_at=intent.expire_at, **common)  # type: ignore[arg-type]
        for i, (side, qty) in enumerate(effect.legs)
    ]
    exit_side = BrokerSide.SELL if intent.side is Side.BUY else BrokerSide.BUY
    exit_tif = intent.tif if intent.tif in (Tif.DAY, Tif.GTC, Tif.GTD) else Tif.DAY
    for role, leg, price in exits:
        kind = OrderType.LIMIT if role is LegRole.TAKE_PROFIT else OrderType.STOP
        orders.append(PlaceOrder(**{**common, "tif": exit_tif}, leg=leg, side=exit_side, order_type=kind,  # type: ignore[arg-type]
                                 qty=intent.qty, role=role, parent_leg=0, oca_group=intent.intent_id,
                                 limit_price=price if kind is OrderType.LIMIT else None,
                                 stop_price=price if kind is OrderType.STOP else None,
                                 expire_at=intent.expire_at if exit_tif is Tif.GTD else None))
    return Route(effect.decision, tuple(orders))


def _exit_legs(intent: OrderIntent) -> list[tuple[LegRole, int, float]]:
    found = [(LegRole.TAKE_PROFIT, intent.take_profit), (LegRole.STOP_LOSS, intent.stop_loss)]
    return [(role, EXIT_LEGS[role], price) for role, price in found if price is not None]
