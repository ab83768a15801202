"""Janus ↔ IB vocabulary. Pure: no ib_async objects, only the fields they are built from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Required, TypedDict

from ib_async import OrderStatus

from janus_common.messages import BrokerSide, IbContract, LegRole, OrderState, OrderType, PlaceOrder, Tif
from janus_common.symbols import (
    AssetClass,
    Equity,
    Future,
    Option,
    Right,
    SymbolError,
    format_symbol,
    parse,
)

IB_ORDER_TYPES = {OrderType.MARKET: "MKT", OrderType.LIMIT: "LMT", OrderType.STOP: "STP",
                  OrderType.STOP_LIMIT: "STP LMT", OrderType.TRAILING_STOP: "TRAIL",
                  OrderType.TRAILING_STOP_LIMIT: "TRAIL LIMIT", OrderType.MARKET_ON_CLOSE: "MOC",
                  OrderType.LIMIT_ON_CLOSE: "LOC"}
IB_TIF = {Tif.DAY: "DAY", Tif.GTC: "GTC", Tif.IOC: "IOC", Tif.FOK: "FOK", Tif.GTD: "GTD", Tif.OPG: "OPG"}
OCA_CANCEL_WITH_BLOCK = 1  # IB's ocaType 1: one fills, the others are cancelled

# IB status words → Janus states. ValidationError is ib_async's word for "IB warned about a live
# order"; the error code that came with it decides (404 = held), so it maps to nothing here.
IB_STATES = {
    OrderStatus.PendingSubmit: OrderState.PENDING, OrderStatus.ApiPending: OrderState.PENDING,
    OrderStatus.PreSubmitted: OrderState.PRE_SUBMITTED, OrderStatus.Submitted: OrderState.SUBMITTED,
    OrderStatus.ApiUpdate: OrderState.SUBMITTED, OrderStatus.Filled: OrderState.FILLED,
    OrderStatus.Cancelled: OrderState.CANCELLED, OrderStatus.ApiCancelled: OrderState.CANCELLED,
    OrderStatus.Inactive: OrderState.REJECTED, OrderStatus.PendingCancel: OrderState.SUBMITTED,
}


@dataclass(frozen=True)
class IbOrderFields:
    action: str
    total_quantity: float
    order_type: str
    lmt_price: float | None
    aux_price: float | None
    tif: str
    order_ref: str
    account: str
    trailing_percent: float | None = None
    lmt_price_offset: float | None = None
    good_till_date: str = ""
    outside_rth: bool = False
    oca_group: str = ""
    oca_type: int = 0
    transmit: bool = True


class IbContractFields(TypedDict, total=False):
    """The keyword arguments of ib_async's Contract that :func:`contract_fields` sets."""

    secType: Required[str]
    symbol: Required[str]
    exchange: Required[str]
    currency: Required[str]
    conId: int
    primaryExchange: str
    lastTradeDateOrContractMonth: str
    multiplier: str
    tradingClass: str
    localSymbol: str
    strike: float
    right: str


def contract_fields(c: IbContract) -> IbContractFields:
    """Keyword arguments for ib_async's Contract. With a conId IB needs nothing else, but the
    exchange is still required to route; SMART unless the registry says otherwise."""
    fields: IbContractFields = {"secType": c.sec_type, "symbol": c.symbol, "exchange": c.exchange or "SMART",
                                 "currency": c.currency or "USD"}
    if c.con_id:
        fields["conId"] = c.con_id
    if c.primary_exchange:
        fields["primaryExchange"] = c.primary_exchange
    month = c.last_trade_date or c.contract_month
    if month:
        fields["lastTradeDateOrContractMonth"] = month
    if c.multiplier:
        fields["multiplier"] = f"{c.multiplier:g}"
    if c.trading_class:
        fields["tradingClass"] = c.trading_class
    if c.local_symbol:
        fields["localSymbol"] = c.local_symbol
    if c.strike:
        fields["strike"] = c.strike
    if c.right:
        fields["right"] = c.right
    return fields


def good_till(expire_at_ns: int) -> str:
    """IB's goodTillDate in UTC: ``YYYYMMDD-HH:MM:SS``."""
    return datetime.fromtimestamp(expire_at_ns / 1e9, tz=timezone.utc).strftime("%Y%m%d-%H:%M:%S")


def transmits(order: PlaceOrder) -> bool:
    """A native bracket goes to IB as one group: the entry and the first exit are held in TWS
    (transmit off) and the last exit transmits the whole group."""
    if not order.exit_legs:
        return True
    return order.role is not LegRole.ENTRY and order.leg == max(order.exit_legs)


def order_fields(order: PlaceOrder, account_number: str) -> IbOrderFields:
    """IB takes one SELL whatever the position: SHORT only exists for brokers that need it.
    auxPrice is the stop price of a stop, the trailing amount of a trailing stop."""
    action = "BUY" if order.side is BrokerSide.BUY else "SELL"
    trailing = order.order_type in (OrderType.TRAILING_STOP, OrderType.TRAILING_STOP_LIMIT)
    return IbOrderFields(action=action, total_quantity=order.qty, order_type=IB_ORDER_TYPES[order.order_type],
                         lmt_price=order.limit_price, aux_price=order.trail_amount if trailing else order.stop_price,
                         tif=IB_TIF[order.tif], order_ref=order.order_key, account=account_number,
                         trailing_percent=order.trail_percent if trailing else None,
                         lmt_price_offset=order.limit_offset if order.order_type is OrderType.TRAILING_STOP_LIMIT
                         else None,
                         good_till_date=good_till(order.expire_at) if order.expire_at is not None else "",
                         outside_rth=order.outside_rth,
                         oca_group=f"janus-{order.oca_group}" if order.oca_group else "",
                         oca_type=OCA_CANCEL_WITH_BLOCK if order.oca_group else 0, transmit=transmits(order))


def ib_symbol(symbol: str) -> str:
    """Class shares: Janus writes BRK.B, IB writes BRK B."""
    return symbol.replace(".", " ")


def canonical_from_ib(sec_type: str, symbol: str, last_trade: str, right: str = "", strike: float = 0.0) -> tuple[str, AssetClass] | None:
    """The canonical symbol of an IB contract (positions, look-ups). None when there is none."""
    try:
        if sec_type == "STK":
            root, _, share = symbol.partition(" ")
            return format_symbol(Equity(root, share or None)), AssetClass.EQUITY
        if sec_type == "FUT" and len(last_trade) >= 6:
            return format_symbol(Future(symbol, int(last_trade[:4]), int(last_trade[4:6]))), AssetClass.FUTURE
        if sec_type in ("OPT", "FOP") and len(last_trade) >= 8 and right[:1] in ("C", "P"):
            expiry = date(int(last_trade[:4]), int(last_trade[4:6]), int(last_trade[6:8]))
            text = format_symbol(Option(symbol, expiry, Right(right[:1]), Decimal(str(strike))))
            return text, AssetClass.OPTION
    except (SymbolError, ValueError):
        return None
    return None


@dataclass(frozen=True)
class LookupQuery:
    """What to ask reqContractDetails for, from a canonical symbol and the default filter."""

    sec_type: str
    symbol: str
    exchange: str
    currency: str
    last_trade: str = ""
    primary_exchange: str = ""
    strike: float = 0.0
    right: str = ""
    fallback_exchange: str | None = None  # futures: GLOBEX when CME finds nothing


def lookup_query(symbol: str, asset_class: AssetClass, exchange: str | None, currency: str) -> LookupQuery:
    parsed = parse(symbol, asset_class)
    if isinstance(parsed, Equity):
        return LookupQuery("STK", ib_symbol(symbol), "SMART", currency,
                           primary_exchange=exchange if exchange and exchange != "SMART" else "")
    if isinstance(parsed, Future):
        return LookupQuery("FUT", parsed.root, exchange or "CME", currency or "USD",
                           last_trade=parsed.contract_month, fallback_exchange="GLOBEX" if not exchange else None)
    if isinstance(parsed, Option):
        return LookupQuery("OPT", parsed.root, exchange or "SMART", currency or "USD",
                           last_trade=parsed.expiry.strftime("%Y%m%d"), strike=float(parsed.strike),
                           right=parsed.right.value)
    raise SymbolError(symbol, "an equity, future or option for an IB look-up")
