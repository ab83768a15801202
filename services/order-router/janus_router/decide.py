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


def validate(intent: OrderIntent) -> Rejection | None:
    """Semantic checks the schema cannot express."""
    if not (math.isfinite(intent.qty) and intent.qty > 0):
        return Rejection(RejectReason.INVALID_QTY, f"quantity must be a positive number, got {intent.qty}")
    t = intent.order_type
    needs_limit = t in (OrderType.LIMIT, OrderType.STOP_LIMIT)
    needs_stop = t in (OrderType.STOP, OrderType.STOP_LIMIT)
    if needs_limit and intent.limit_price is None:
        return Rejection(RejectReason.MISSING_LIMIT_PRICE, f"a {t} order needs a limit_price")
    if needs_stop and intent.stop_price is None:
        return Rejection(RejectReason.MISSING_STOP_PRICE, f"a {t} order needs a stop_price")
    for name, value, needed in (("limit_price", intent.limit_price, needs_limit),
                                ("stop_price", intent.stop_price, needs_stop)):
        if value is not None and not needed:
            return Rejection(RejectReason.INVALID_PRICE, f"a {t} order takes no {name} (got {value})")
        if value is not None and not _positive(value):
            return Rejection(RejectReason.INVALID_PRICE, f"{name} must be a positive number, got {value}")
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
    """The broker's type: the intent's own, else the account's configured fallback, else refuse."""
    wanted = intent.order_type
    if wanted in caps.order_types:
        return wanted
    fallback = rules.fallback.get(wanted)
    if fallback is not None and fallback in caps.order_types:
        return fallback
    return Rejection(RejectReason.ORDER_TYPE_UNSUPPORTED,
                     f"{rules.broker} does not take {wanted} orders and account {rules.account} "
                     f"has no fallback configured for it")


def _prices(order_type: OrderType, intent: OrderIntent) -> tuple[float | None, float | None]:
    limit = intent.limit_price if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None
    stop = intent.stop_price if order_type in (OrderType.STOP, OrderType.STOP_LIMIT) else None
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
    if intent.tif not in caps.tifs:
        return Rejection(RejectReason.TIF_UNSUPPORTED, f"{rules.broker} does not take time in force {intent.tif}")
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
    limit, stop = _prices(order_type, intent)
    orders = tuple(
        PlaceOrder(intent_id=intent.intent_id, leg=i, account=intent.account, broker=rules.broker,
                   symbol=record.symbol, side=side, order_type=order_type, qty=qty, limit_price=limit,
                   stop_price=stop, tif=intent.tif,
                   ib=fields if isinstance(fields, IbContract) else None,
                   webull=fields if isinstance(fields, WebullInstrument) else None)
        for i, (side, qty) in enumerate(effect.legs)
    )
    return Route(effect.decision, orders)
