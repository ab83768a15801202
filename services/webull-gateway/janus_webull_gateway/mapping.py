"""Janus ↔ Webull vocabulary. Pure.

client_order_id: Webull takes 1–32 letters or digits, unique per account. Janus intent ids are
32 lowercase hex characters, so an order key that already fits (leg 0 of a Janus intent) is its
own client_order_id: reversible by reading it. Any other key (leg 1 ``…#1``, a client's own id
with ``-``, a longer id) becomes ``"J" + 31 hex chars of sha256(key)``: deterministic, so a
redelivered or restarted order maps to the same id and the broker check finds it; the reverse
(client_order_id → key) is the gateway's tracks, rebuilt from EVENTS (OrderRouted carries the key,
OrderSubmitted carries the client_order_id). The uppercase ``J`` keeps hashed ids apart from
Janus's lowercase hex ids.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from janus_common.messages import ModifyOrder, OrderState, OrderType, PlaceOrder, RejectReason
from janus_gateway.adapter import OrderRefused

_ALNUM = re.compile(r"^[A-Za-z0-9]{1,32}$")

WEBULL_ORDER_TYPES = {
    OrderType.MARKET: "MARKET",
    OrderType.LIMIT: "LIMIT",
    OrderType.STOP: "STOP_LOSS",
    OrderType.STOP_LIMIT: "STOP_LOSS_LIMIT",
    OrderType.TRAILING_STOP: "TRAILING_STOP_LOSS",
}

WEBULL_STATES = {
    "SUBMITTED": OrderState.SUBMITTED,
    "PARTIAL_FILLED": OrderState.PARTIALLY_FILLED,
    "FILLED": OrderState.FILLED,
    "CANCELLED": OrderState.CANCELLED,
    "FAILED": OrderState.REJECTED,
}


class RouteError(OrderRefused):
    """A route message Webull cannot take as it is: refused by the gateway, never sent."""

    @property
    def code(self) -> str:
        return str(self.reason)

    @property
    def text(self) -> str:
        return self.detail


def client_order_id(key: str) -> str:
    if _ALNUM.match(key):
        return key
    return "J" + hashlib.sha256(key.encode()).hexdigest()[:31]


def _price(value: float | None, name: str) -> str:
    if value is None:
        reason = RejectReason.MISSING_LIMIT_PRICE if name.startswith("limit") else RejectReason.MISSING_STOP_PRICE
        raise RouteError(reason, f"{name} is required for this order type")
    return f"{Decimal(str(value)):f}"


def _qty(value: float) -> str:
    if value <= 0 or value != int(value):
        raise RouteError(RejectReason.INVALID_QTY, f"Webull equities take a positive whole quantity, not {value}")
    return str(int(value))


def new_order(order: PlaceOrder, coid: str) -> dict[str, Any]:
    """The ``new_orders`` entry of place_order (v3) for a route message."""
    kind = WEBULL_ORDER_TYPES.get(order.order_type)
    if kind is None:
        raise RouteError(RejectReason.ORDER_TYPE_UNSUPPORTED, f"Webull has no {order.order_type} order")
    if str(order.tif) not in ("DAY", "GTC"):
        raise RouteError(RejectReason.TIF_UNSUPPORTED, f"Webull takes DAY or GTC, not {order.tif}")
    inst = order.webull
    body: dict[str, Any] = {
        # A bracket's exits go as one group: one fills, Webull cancels the other.
        "combo_type": "OCO" if order.oca_group else "NORMAL", "client_order_id": coid, "symbol": inst.symbol if inst else order.symbol,
        "instrument_type": "EQUITY", "market": inst.market if inst else "US", "side": str(order.side),
        "order_type": kind, "quantity": _qty(order.qty), "time_in_force": str(order.tif), "entrust_type": "QTY",
        "support_trading_session": "CORE",
    }
    if order.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        body["limit_price"] = _price(order.limit_price, "limit_price")
    if order.order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
        body["stop_price"] = _price(order.stop_price, "stop_price")
    if order.order_type is OrderType.TRAILING_STOP:
        body.update(_trailing(order.trail_amount, order.trail_percent))
    if order.outside_rth:
        raise RouteError(RejectReason.OUTSIDE_RTH_UNSUPPORTED, "Webull orders here trade the core session only")
    return body


def _trailing(amount: float | None, percent: float | None) -> dict[str, str]:
    """Webull trails by an amount or a percentage (``trailing_type``) of ``trailing_stop_step``."""
    if amount is not None:
        return {"trailing_type": "AMOUNT", "trailing_stop_step": _price(amount, "trail_amount")}
    if percent is not None:
        # Webull writes a percentage as a fraction: 0.05 is 5 %.
        return {"trailing_type": "PERCENTAGE", "trailing_stop_step": _price(round(percent / 100, 10), "trail_percent")}
    raise RouteError(RejectReason.MISSING_TRAIL, "a trailing stop needs trail_amount or trail_percent")


def replace_order(command: ModifyOrder, coid: str) -> dict[str, Any]:
    """The ``modify_orders`` entry of replace_order for a modification: the order's figures as
    they are to be (Webull keeps what is not sent)."""
    body: dict[str, Any] = {"client_order_id": coid, "quantity": _qty(command.qty)}
    if command.limit_price is not None:
        body["limit_price"] = _price(command.limit_price, "limit_price")
    if command.stop_price is not None:
        body["stop_price"] = _price(command.stop_price, "stop_price")
    if command.trail_amount is not None:
        body["trailing_stop_step"] = _price(command.trail_amount, "trail_amount")
    return body


def _num(value: Any) -> float:
    try:
        return float(Decimal(str(value))) if value not in (None, "") else 0.0
    except (InvalidOperation, ValueError):
        return 0.0


@dataclass(frozen=True)
class Observation:
    """What Webull said about one order at one moment: a stream event or a REST order view.
    ``filled`` and ``avg_price`` are cumulative in both."""

    client_order_id: str
    order_id: str
    status: str
    filled: float = 0.0
    avg_price: float = 0.0
    qty: float = 0.0
    last_qty: float = 0.0
    last_price: float = 0.0
    reason: str = ""
    symbol: str = ""
    side: str = ""
    source: str = ""


def from_event(payload: dict[str, Any]) -> Observation | None:
    coid = payload.get("client_order_id")
    if not isinstance(coid, str) or not coid:
        return None
    return Observation(
        client_order_id=coid, order_id=str(payload.get("order_id") or ""),
        status=str(payload.get("order_status") or ""), filled=_num(payload.get("filled_qty")),
        avg_price=_num(payload.get("filled_price")), qty=_num(payload.get("qty")),
        last_qty=_num(payload.get("last_filled_qty")), last_price=_num(payload.get("last_filled_price")),
        reason=str(payload.get("reason") or ""), symbol=str(payload.get("symbol") or ""),
        side=str(payload.get("side") or ""), source="stream")


def from_detail(order: dict[str, Any], coid: str | None = None) -> Observation | None:
    coid = coid or order.get("client_order_id")
    if not isinstance(coid, str) or not coid:
        return None
    return Observation(
        client_order_id=coid, order_id=str(order.get("order_id") or ""), status=str(order.get("status") or ""),
        filled=_num(order.get("filled_quantity")), avg_price=_num(order.get("filled_price")),
        qty=_num(order.get("quantity")), reason=str(order.get("reject_reason") or ""),
        symbol=str(order.get("symbol") or ""), side=str(order.get("side") or ""), source="poll")


def from_group(group: dict[str, Any]) -> list[Observation]:
    """A /trading/orders/get or open-orders group: {client_order_id, orders: [...]}."""
    out = []
    for order in group.get("orders") or []:
        obs = from_detail(order, group.get("client_order_id"))
        if obs is not None:
            out.append(obs)
    return out
