"""One-cancels-the-other (OCO) groups: the shape of a ``new_orders`` request, and what a group holds.

Webull places an OCO group in one ``place_order`` call: every ``new_orders`` entry carries
``combo_type: "OCO"``. The members exit (or enter) one position in different ways — typically a
take-profit LIMIT SELL and a stop-loss STOP_LOSS SELL for the whole long — so at most one of them
may ever trade: once one fills, also partially, Webull cancels the others. That is why the group
promises the position (or the cash) only once: what it holds is its largest member, not the sum.

Pure functions; the engine (engine.py) owns the orders and applies them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any, TypeVar

from janus_webull_sim.errors import BadRequest
from janus_webull_sim.orders import CLIENT_ORDER_ID, NewOrder, Order, parse_new_order

OCO = "OCO"
# Webull documents OCO as a pair (a take-profit and a stop-loss); a larger group is refused
# rather than guessed at, so the simulator is never more permissive than Webull.
MIN_MEMBERS = 2
MAX_MEMBERS = 2
INVALID_COMBO = "INVALID_COMBO_ORDER"

Amount = TypeVar("Amount", int, Decimal)


def parse_placement(new_orders: Any, client_combo_order_id: Any) -> tuple[list[NewOrder], str | None]:
    """The orders one ``place_order`` call asks for: one NORMAL order, or one OCO group.

    Every entry is checked on its own first (as a single order is), then the group as a whole.
    """
    if not isinstance(new_orders, list) or not new_orders:
        raise BadRequest("new_orders must be a list with one NORMAL order or an OCO group")
    if len(new_orders) > MAX_MEMBERS:
        # Bounded before parsing: a request of a million entries costs nothing.
        raise BadRequest(f"new_orders holds at most {MAX_MEMBERS} orders (an OCO group)", error_code=INVALID_COMBO)
    reqs = [parse_new_order(entry) for entry in new_orders]
    combos = {r.combo_type for r in reqs}
    if len(combos) > 1:
        raise BadRequest(f"one call places one kind of order; combo types {', '.join(sorted(combos))} are mixed",
                         error_code=INVALID_COMBO)
    if combos == {"NORMAL"}:
        if len(reqs) != 1:
            raise BadRequest("new_orders must be a list with one NORMAL order or an OCO group")
        if client_combo_order_id not in (None, ""):
            raise BadRequest("client_combo_order_id is for combo orders only", error_code=INVALID_COMBO)
        return reqs, None
    check_group(reqs)
    return reqs, parse_combo_id(client_combo_order_id)


def parse_combo_id(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not CLIENT_ORDER_ID.match(value):
        raise BadRequest("client_combo_order_id must be 1-32 letters or digits")
    return value


def check_group(reqs: list[NewOrder]) -> None:
    """Refuse a group whose members could not be alternatives for one and the same position."""
    if not MIN_MEMBERS <= len(reqs) <= MAX_MEMBERS:
        raise BadRequest(f"an OCO group has {MIN_MEMBERS} orders, not {len(reqs)}", error_code=INVALID_COMBO)
    coids = [r.client_order_id for r in reqs]
    if len(set(coids)) != len(coids):
        raise BadRequest("every order of an OCO group needs its own client_order_id",
                         error_code="DUPLICATE_CLIENT_ORDER_ID")
    for key in ("symbol", "side", "quantity", "time_in_force"):
        values = [getattr(r, key) for r in reqs]
        if any(v != values[0] for v in values):
            raise BadRequest(f"the orders of an OCO group share one {key}; got {', '.join(map(str, values))}",
                             error_code=INVALID_COMBO)
    if any(r.order_type == "MARKET" for r in reqs):
        # A market order trades at once: it would cancel its group before anything could wait.
        raise BadRequest("a MARKET order cannot be a member of an OCO group", error_code=INVALID_COMBO)


def held(orders: Iterable[Order], amount: Callable[[Order], Amount], zero: Amount) -> Amount:
    """What open orders promise together: a NORMAL order its own amount, an OCO group only its
    largest member's (at most one member can trade)."""
    total = zero
    groups: dict[str, Amount] = {}
    for order in orders:
        value = amount(order)
        if order.combo_order_id is None:
            total += value
        else:
            groups[order.combo_order_id] = max(groups.get(order.combo_order_id, zero), value)
    return total + sum(groups.values(), zero)


def siblings_to_cancel(filled: Order, orders: Iterable[Order]) -> list[Order]:
    """The open members of ``filled``'s group other than itself: Webull cancels them on a fill."""
    if filled.combo_order_id is None:
        return []
    return [o for o in orders if o is not filled and o.is_open and o.account_id == filled.account_id
            and o.combo_order_id == filled.combo_order_id]
