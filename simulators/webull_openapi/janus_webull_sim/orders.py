"""The order model and the validation of ``new_orders`` entries (``modify_orders``: replace.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from janus_webull_sim.errors import BadRequest
from janus_webull_sim.prices import fmt_cents, to_cents
from janus_webull_sim.trailing import TRAILING_FIELDS, Trail, parse_trail

SIDES = ("BUY", "SELL", "SHORT")
TRAILING = "TRAILING_STOP_LOSS"
ORDER_TYPES = ("MARKET", "LIMIT", "STOP_LOSS", "STOP_LOSS_LIMIT", TRAILING)
NEEDS_LIMIT = ("LIMIT", "STOP_LOSS_LIMIT")
NEEDS_STOP = ("STOP_LOSS", "STOP_LOSS_LIMIT")
STOP_TYPES = (*NEEDS_STOP, TRAILING)  # orders that wait for a stop to trigger
TIFS = ("DAY", "GTC")
COMBO_TYPES = ("NORMAL", "OCO")  # OCO groups: oco.py
OPEN_STATUSES = ("SUBMITTED", "PARTIAL_FILLED")
CLIENT_ORDER_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
# Bounds before any arithmetic: "1e999999" is a finite Decimal whose int() would not end.
MAX_QUANTITY = 10_000_000
MAX_PRICE_CENTS = 100_000_000  # 1,000,000.00 USD a share
MAX_NUMBER_TEXT = 40


def iso_ms(epoch_ms: int) -> str:
    dt = datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


@dataclass
class Order:
    order_id: str
    client_order_id: str
    account_id: str
    symbol: str
    instrument_id: str
    side: str
    order_type: str
    time_in_force: str
    quantity: int
    limit_cents: int | None
    stop_cents: int | None
    place_time_ms: int
    status: str = "SUBMITTED"
    filled_quantity: int = 0
    filled_cost_cents: int = 0  # sum of qty x price over fills, for the average price
    filled_time_ms: int | None = None
    triggered: bool = False  # a stop order whose stop was reached
    reject_reason: str = ""
    combo_type: str = "NORMAL"
    # An OCO member: the group's id (the first member's order id, so it is unique without a
    # counter of its own) and the client's name for the group, if it gave one.
    combo_order_id: str | None = None
    client_combo_order_id: str | None = None
    entrust_type: str = "QTY"
    support_trading_session: str = "CORE"
    # TRAILING_STOP_LOSS only: the trail, and the best last price since placement it hangs from
    # (stop_cents is the current stop).
    trailing_type: str | None = None
    trailing_step: Decimal | None = None
    trail_reference_cents: int | None = None

    @property
    def trail(self) -> Trail | None:
        if self.trailing_type is None or self.trailing_step is None:
            return None
        return Trail(self.trailing_type, self.trailing_step)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled_quantity

    def avg_price(self) -> str:
        if not self.filled_quantity:
            return "0.00"
        avg = Decimal(self.filled_cost_cents) / self.filled_quantity / 100
        return str(avg.quantize(Decimal("0.0001")))

    def to_json(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "client_order_id": self.client_order_id,
            "combo_type": self.combo_type,
            "combo_order_id": self.combo_order_id or "",
            "client_combo_order_id": self.client_combo_order_id or "",
            "symbol": self.symbol,
            "instrument_id": self.instrument_id,
            "instrument_type": "EQUITY",
            "market": "US",
            "category": "US_STOCK",
            "currency": "USD",
            "side": self.side,
            "status": self.status,
            "order_type": self.order_type,
            "time_in_force": self.time_in_force,
            "entrust_type": self.entrust_type,
            "support_trading_session": self.support_trading_session,
            "quantity": str(self.quantity),
            "filled_quantity": str(self.filled_quantity),
            "filled_price": self.avg_price(),
            "limit_price": fmt_cents(self.limit_cents) if self.limit_cents is not None else "",
            "stop_price": fmt_cents(self.stop_cents) if self.stop_cents is not None else "",
            "trailing_type": self.trailing_type or "",
            "trailing_stop_step": trail.step_text() if (trail := self.trail) is not None else "",
            "place_time": iso_ms(self.place_time_ms),
            "place_time_at": self.place_time_ms,
            "filled_time": iso_ms(self.filled_time_ms) if self.filled_time_ms else "",
            "filled_time_at": self.filled_time_ms or 0,
            "reject_reason": self.reject_reason,
        }

    def group_json(self) -> dict[str, Any]:
        """The shape of /trading/orders/get: one group per client order id."""
        group = {"client_order_id": self.client_order_id, "combo_type": self.combo_type, "orders": [self.to_json()]}
        if self.combo_order_id is not None:
            group |= {"combo_order_id": self.combo_order_id, "client_combo_order_id": self.client_combo_order_id or ""}
        return group


@dataclass(frozen=True)
class NewOrder:
    client_order_id: str
    symbol: str
    side: str
    order_type: str
    time_in_force: str
    quantity: int
    limit_cents: int | None
    stop_cents: int | None
    entrust_type: str
    support_trading_session: str
    trail: Trail | None = None
    combo_type: str = "NORMAL"


def str_field(entry: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    value = entry.get(key)
    if value is None or value == "":
        if required:
            raise BadRequest(f"{key} is required")
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{key} must be a string")
    return value


def parse_quantity(value: Any, key: str = "quantity") -> int:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise BadRequest(f"{key} must be a number or a numeric string")
    if isinstance(value, str) and len(value) > MAX_NUMBER_TEXT:
        raise BadRequest(f"{key} is not a number of at most {MAX_NUMBER_TEXT} characters")
    try:
        d = Decimal(str(value))
    except InvalidOperation as exc:
        raise BadRequest(f"{key} is not a number: {value!r}") from exc
    if not d.is_finite() or d <= 0 or d > MAX_QUANTITY or d != d.to_integral_value():
        raise BadRequest(f"{key} must be a whole number of shares from 1 to {MAX_QUANTITY}",
                         error_code="INVALID_QUANTITY")
    return int(d)


def parse_price(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise BadRequest(f"{key} must be a number or a numeric string")
    if isinstance(value, str) and len(value) > MAX_NUMBER_TEXT:
        raise BadRequest(f"{key} is not a number of at most {MAX_NUMBER_TEXT} characters")
    try:
        cents = to_cents(value)
    except (ValueError, InvalidOperation) as exc:
        raise BadRequest(f"{key}: {exc}", error_code="INVALID_PRICE") from exc
    if cents <= 0 or cents > MAX_PRICE_CENTS:
        raise BadRequest(f"{key} must be above 0 and at most {fmt_cents(MAX_PRICE_CENTS)}", error_code="INVALID_PRICE")
    return cents


def _prices(entry: dict[str, Any], order_type: str) -> tuple[int | None, int | None]:
    limit = stop = None
    if order_type == TRAILING:
        # Webull: no limit_price or stop_price on a trailing stop; its stop follows the price.
        for key in ("limit_price", "stop_price"):
            if entry.get(key) not in (None, ""):
                raise BadRequest(f"{key} must not be given for {TRAILING}")
        return None, None
    if order_type in NEEDS_LIMIT:
        if entry.get("limit_price") in (None, ""):
            raise BadRequest(f"limit_price is required for {order_type}")
        limit = parse_price(entry["limit_price"], "limit_price")
    if order_type in NEEDS_STOP:
        if entry.get("stop_price") in (None, ""):
            raise BadRequest(f"stop_price is required for {order_type}")
        stop = parse_price(entry["stop_price"], "stop_price")
    return limit, stop


def parse_new_order(entry: Any) -> NewOrder:
    if not isinstance(entry, dict):
        raise BadRequest("each new_orders entry must be an object")
    combo = entry.get("combo_type", "NORMAL")
    if combo not in COMBO_TYPES:
        raise BadRequest(f"combo_type {combo!r} is not supported", error_code="UNSUPPORTED_COMBO_TYPE")
    coid = str_field(entry, "client_order_id")
    if not CLIENT_ORDER_ID.match(coid):
        raise BadRequest("client_order_id must be 1-32 letters or digits")
    symbol = str_field(entry, "symbol")
    if str_field(entry, "instrument_type") != "EQUITY":
        raise BadRequest("only instrument_type EQUITY is supported", error_code="UNSUPPORTED_INSTRUMENT_TYPE")
    if str_field(entry, "market") != "US":
        raise BadRequest("only market US is supported", error_code="UNSUPPORTED_MARKET")
    side = str_field(entry, "side")
    if side not in SIDES:
        raise BadRequest(f"side must be one of {', '.join(SIDES)}")
    order_type = str_field(entry, "order_type")
    if order_type not in ORDER_TYPES:
        raise BadRequest(f"order_type {order_type!r} is not supported", error_code="UNSUPPORTED_ORDER_TYPE")
    tif = str_field(entry, "time_in_force")
    if tif not in TIFS:
        raise BadRequest(f"time_in_force must be one of {', '.join(TIFS)}")
    if "quantity" not in entry:
        raise BadRequest("quantity is required")
    qty = parse_quantity(entry["quantity"])
    entrust = entry.get("entrust_type", "QTY")
    if entrust != "QTY":
        raise BadRequest("only entrust_type QTY is supported", error_code="UNSUPPORTED_ENTRUST_TYPE")
    session = entry.get("support_trading_session", "CORE")
    if not isinstance(session, str):
        raise BadRequest("support_trading_session must be a string")
    limit, stop = _prices(entry, order_type)
    trail = None
    if order_type == TRAILING:
        trail = parse_trail(entry)
    elif any(entry.get(key) not in (None, "") for key in TRAILING_FIELDS):
        raise BadRequest(f"trailing_type and trailing_stop_step are for {TRAILING} orders only")
    return NewOrder(coid, symbol, side, order_type, tif, qty, limit, stop, entrust, session, trail, combo)
