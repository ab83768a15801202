"""A bracket's exits at Webull, managed by Janus: Webull has no native bracket here, so the
gateway holds the exits until the entry fills and then places them in ONE place_order call as a
one-cancels-the-other group (``combo_type: OCO``). Two separate SELLs for the whole position
would be refused (the second exceeds the available long), and the group is what keeps both
from ever filling; the gateway also cancels the siblings itself when one fills (a safety net).

Pure helpers here; :class:`~janus_webull_gateway.orders.OrderDesk` does the calls."""

from __future__ import annotations

from collections.abc import Iterable

from janus_common.messages import PlaceOrder, order_key

__all__ = ["members", "missing", "prior_key", "siblings"]


def prior_key(order: PlaceOrder) -> str:
    """The leg this one waits for: a bracket exit's entry, else the leg before it."""
    return order_key(order.intent_id, order.parent_leg if order.parent_leg is not None else order.leg - 1)


def siblings(routed: Iterable[PlaceOrder], order: PlaceOrder) -> list[PlaceOrder]:
    """The other members of an order's one-cancels-the-other group."""
    return [o for o in routed if o.oca_group == order.oca_group and o.intent_id == order.intent_id
            and o.order_key != order.order_key]


def members(routed: Iterable[PlaceOrder], order: PlaceOrder) -> list[PlaceOrder]:
    """The whole group, in leg order."""
    return sorted([order, *siblings(routed, order)], key=lambda o: o.leg)


def missing(routed: Iterable[PlaceOrder], order: PlaceOrder) -> set[int]:
    """Exit legs of the group whose route message has not arrived yet."""
    return set(order.exit_legs) - {o.leg for o in members(routed, order)} - {order.leg}
