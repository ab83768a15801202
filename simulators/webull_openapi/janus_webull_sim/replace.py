"""Replace (modify) of a working order: POST /trading/orders/replace with ``modify_orders``.

Webull's rules: only an open order (SUBMITTED, PARTIAL_FILLED) of the account, named by its
``client_order_id``, can be modified; it keeps its client order id and order id. What may change:
``quantity`` (whole shares, above what is already filled), ``limit_price`` (LIMIT,
STOP_LOSS_LIMIT), ``stop_price`` (STOP_LOSS, STOP_LOSS_LIMIT), ``trailing_type`` /
``trailing_stop_step`` (TRAILING_STOP_LOSS) and ``time_in_force``. The order's identity (symbol,
side, order type, ...) may be sent — Webull's older replace wanted it sent — but only with the
original values. Every value is checked as on a new order, and a larger commitment against the
buying power. A refusal of an order that exists leaves it unchanged and pushes MODIFY_FAILED; a
success pushes MODIFY_SUCCESS with the new figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from janus_webull_sim.errors import BadRequest, OrderRejected, OrderStateError, SimError
from janus_webull_sim.orders import (
    NEEDS_LIMIT,
    NEEDS_STOP,
    TIFS,
    TRAILING,
    Order,
    parse_price,
    parse_quantity,
    str_field,
)
from janus_webull_sim.trailing import Trail, parse_kind, parse_step, stop_for, usable

if TYPE_CHECKING:
    from janus_webull_sim.engine import Engine

# Fields a modification may carry only with the order's own value.
FIXED_FIELDS = ("symbol", "side", "order_type", "instrument_type", "market", "combo_type", "entrust_type",
                "support_trading_session", "instrument_id")
CHANGEABLE = ("quantity", "limit_price", "stop_price", "time_in_force", "trailing_type", "trailing_stop_step")


@dataclass(frozen=True)
class Modification:
    quantity: int | None
    limit_cents: int | None
    stop_cents: int | None
    time_in_force: str | None
    trail: Trail | None


def _given(entry: dict[str, Any], key: str) -> bool:
    return entry.get(key) not in (None, "")


def _fixed_value(order: Order, key: str) -> str:
    value = order.to_json().get(key, "")
    return str(value)


def parse_modification(entry: dict[str, Any], order: Order) -> Modification:
    """The modification of ``order`` that ``entry`` asks for, or the Webull error refusing it."""
    for key in FIXED_FIELDS:
        if _given(entry, key) and entry[key] != _fixed_value(order, key):
            raise BadRequest(f"{key} of an order cannot be modified (it is {_fixed_value(order, key)})",
                             error_code="FIELD_NOT_MODIFIABLE")
    if not any(_given(entry, key) for key in CHANGEABLE):
        raise BadRequest(f"nothing to modify: give one of {', '.join(CHANGEABLE)}")
    qty = parse_quantity(entry["quantity"]) if _given(entry, "quantity") else None
    limit = parse_price(entry["limit_price"], "limit_price") if _given(entry, "limit_price") else None
    stop = parse_price(entry["stop_price"], "stop_price") if _given(entry, "stop_price") else None
    if limit is not None and order.order_type not in NEEDS_LIMIT:
        raise BadRequest(f"{order.order_type} has no limit_price")
    if stop is not None and order.order_type not in NEEDS_STOP:
        raise BadRequest(f"{order.order_type} has no stop_price" + (
            "; change its trailing_stop_step" if order.order_type == TRAILING else ""))
    tif = entry.get("time_in_force") if _given(entry, "time_in_force") else None
    if tif is not None and tif not in TIFS:
        raise BadRequest(f"time_in_force must be one of {', '.join(TIFS)}")
    trail = None
    if _given(entry, "trailing_type") or _given(entry, "trailing_stop_step"):
        if order.order_type != TRAILING:
            raise BadRequest(f"trailing_type and trailing_stop_step are for {TRAILING} orders only")
        current = order.trail
        assert current is not None  # a trailing order always has its trail
        kind = parse_kind(entry["trailing_type"]) if _given(entry, "trailing_type") else current.kind
        if kind != current.kind and not _given(entry, "trailing_stop_step"):
            # A step means dollars for one type and a fraction for the other: never carried over.
            raise BadRequest("a new trailing_type needs its trailing_stop_step")
        step = parse_step(kind, entry["trailing_stop_step"]) if _given(entry, "trailing_stop_step") else current.step
        trail = Trail(kind, step)
    if order.combo_order_id is not None:
        _check_oco_member(order, qty, tif)
    return Modification(qty, limit, stop, tif, trail)


def _check_oco_member(order: Order, quantity: int | None, tif: str | None) -> None:
    """An OCO member's prices may move; its quantity and time in force are the group's (one
    position, one life), so a change to them alone would break the group: refused."""
    for key, new, old in (("quantity", quantity, order.quantity), ("time_in_force", tif, order.time_in_force)):
        if new is not None and new != old:
            raise BadRequest(f"{key} of an OCO member cannot be modified (the group shares it: {old});"
                             " cancel and place the group anew", error_code="OCO_FIELD_NOT_MODIFIABLE")


def replace(engine: Engine, account_id: Any, modify_orders: Any) -> dict[str, str]:
    engine.account(account_id)
    if not isinstance(modify_orders, list) or len(modify_orders) != 1:
        raise BadRequest("modify_orders must be a list with one order")
    entry = modify_orders[0]
    if not isinstance(entry, dict):
        raise BadRequest("each modify_orders entry must be an object")
    coid = str_field(entry, "client_order_id")
    order = engine.order(account_id, coid)
    try:
        if not order.is_open:
            raise OrderStateError(f"order {order.client_order_id} is {order.status}; cannot modify",
                                  error_code="ORDER_CANNOT_BE_MODIFIED")
        mod = parse_modification(entry, order)
        stop = _new_stop(order, mod)
        _check_account(engine, order, mod, stop)
    except SimError:
        engine.emit(order, "MODIFY_FAILED")
        raise
    if mod.quantity is not None:
        order.quantity = mod.quantity
    if mod.limit_cents is not None:
        order.limit_cents = mod.limit_cents
    order.stop_cents = stop
    if mod.trail is not None:
        order.trailing_type, order.trailing_step = mod.trail.kind, mod.trail.step
    if mod.time_in_force is not None:
        order.time_in_force = mod.time_in_force
    engine.emit(order, "MODIFY_SUCCESS")
    return {"client_order_id": order.client_order_id, "order_id": order.order_id}


def _new_stop(order: Order, mod: Modification) -> int | None:
    if mod.stop_cents is not None:
        return mod.stop_cents
    if mod.trail is None or order.triggered:
        return order.stop_cents
    # A new step hangs from the same reference (the best price since placement).
    assert order.trail_reference_cents is not None
    stop = stop_for(mod.trail, order.trail_reference_cents, order.side)
    if not usable(stop):
        raise BadRequest(f"a trailing_stop_step of {mod.trail.step_text()} would put the stop at"
                         f" {stop / 100:.2f}", error_code="INVALID_TRAILING_STOP_STEP")
    return stop


def _check_account(engine: Engine, order: Order, mod: Modification, stop: int | None) -> None:
    if mod.quantity is not None and mod.quantity <= order.filled_quantity:
        raise OrderStateError(f"quantity must exceed the {order.filled_quantity} already filled",
                              error_code="INVALID_QUANTITY")
    acct = engine.accounts[order.account_id]
    if mod.quantity is not None and order.side == "SELL":
        available = max(0, acct.quantity(order.symbol)) - engine.sell_reserved(
            order.account_id, order.symbol, exclude=engine.group_of(order))  # a group holds the long once
        if mod.quantity - order.filled_quantity > available:
            raise OrderRejected("new SELL quantity exceeds the available long",
                                error_code="SELL_QUANTITY_EXCEEDS_POSITION")
    if order.side in ("BUY", "SHORT"):
        engine.check_buying_power(
            acct, order, mod.quantity if mod.quantity is not None else order.quantity,
            mod.limit_cents if mod.limit_cents is not None else order.limit_cents, stop)
