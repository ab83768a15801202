"""A modification of a working order, decided: which broker orders change, to what, or why not.
Pure; the router's shell runs the same pre-trade checks on the figures it returns as on a new
order (janus_router.risk)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import msgspec

from janus_common import projections
from janus_common.capabilities import PRICED_BY, BrokerCaps
from janus_common.messages import (
    EXIT_LEGS,
    LegRole,
    ModifyIntent,
    ModifyOrder,
    OrderType,
    PlaceOrder,
    RejectReason,
)

from .decide import Rejection

__all__ = ["ModifyPlan", "plan_modify"]


@dataclass(frozen=True)
class ModifyPlan:
    orders: tuple[ModifyOrder, ...]
    after: tuple[PlaceOrder, ...]  # the broker orders as they would be: what the risk checks see
    before: tuple[PlaceOrder, ...]


def _targets(modify: ModifyIntent, view: projections.OrderView) -> list[int]:
    if modify.role is LegRole.ENTRY:
        return [o.leg for o in view.routed if o.role is LegRole.ENTRY]
    leg = EXIT_LEGS[modify.role]
    return [leg] if any(o.leg == leg for o in view.routed) else []


def _allowed(order: PlaceOrder, modify: ModifyIntent) -> Rejection | None:
    priced_by = PRICED_BY[order.order_type]
    for name in ("limit_price", "stop_price"):
        value = getattr(modify, name)
        if value is None:
            continue
        if name not in priced_by:
            return Rejection(RejectReason.INVALID_PRICE, f"a {order.order_type} order has no {name} to change")
        if not (math.isfinite(value) and value > 0):
            return Rejection(RejectReason.INVALID_PRICE, f"{name} must be a positive number, got {value}")
    amount = modify.trail_amount
    if amount is not None:
        if order.order_type not in (OrderType.TRAILING_STOP, OrderType.TRAILING_STOP_LIMIT) or order.trail_amount is None:
            return Rejection(RejectReason.INVALID_PRICE, "only a trailing stop placed with a trail_amount can change it")
        if not (math.isfinite(amount) and amount > 0):
            return Rejection(RejectReason.INVALID_PRICE, f"trail_amount must be a positive number, got {amount}")
    return None


def plan_modify(modify: ModifyIntent, view: projections.OrderView | None, caps: BrokerCaps) -> ModifyPlan | Rejection:
    if view is None:
        return Rejection(RejectReason.UNKNOWN_INTENT, f"no order for intent {modify.intent_id} on account {modify.account}")
    if view.rejected is not None:
        return Rejection(RejectReason.ORDER_FINISHED, f"the order for intent {modify.intent_id} was rejected "
                                                      f"({view.rejected}): there is nothing to modify")
    if not caps.modify:
        return Rejection(RejectReason.MODIFY_UNSUPPORTED, f"{view.broker} orders cannot be modified in place: "
                                                          f"cancel and send a new order")
    if modify.qty is None and modify.limit_price is None and modify.stop_price is None and modify.trail_amount is None:
        return Rejection(RejectReason.NOTHING_TO_MODIFY, "give a new qty, limit_price, stop_price or trail_amount")
    legs = _targets(modify, view)
    if not legs:
        return Rejection(RejectReason.NOTHING_TO_MODIFY, f"the order for intent {modify.intent_id} has no "
                                                         f"{modify.role} leg")
    working = [leg for leg in view.legs if leg.leg in legs and not leg.status.terminal]
    if not working:
        return Rejection(RejectReason.ORDER_FINISHED, f"the order for intent {modify.intent_id} is already "
                                                      f"{view.status}")
    if modify.qty is not None:
        refused = _qty_refusal(modify, view, working)
        if refused is not None:
            return refused
    before, after, orders = [], [], []
    for leg in working:
        now = projections.current(view, leg.leg)
        assert now is not None  # _targets found it routed
        refused = _allowed(now, modify)
        if refused is not None:
            return refused
        changes = {name: getattr(modify, name) for name in ("qty", "limit_price", "stop_price", "trail_amount")
                   if getattr(modify, name) is not None}
        new = msgspec.structs.replace(now, **changes)
        before.append(now)
        after.append(new)
        orders.append(ModifyOrder(intent_id=modify.intent_id, leg=leg.leg, account=modify.account, broker=now.broker,
                                  modify_id=modify.modify_id, qty=new.qty, limit_price=new.limit_price,
                                  stop_price=new.stop_price, trail_amount=new.trail_amount))
    return ModifyPlan(tuple(orders), tuple(after), tuple(before))


def _qty_refusal(modify: ModifyIntent, view: projections.OrderView,
                 working: list[projections.LegView]) -> Rejection | None:
    qty = modify.qty
    assert qty is not None
    if not (math.isfinite(qty) and qty > 0):
        return Rejection(RejectReason.INVALID_QTY, f"quantity must be a positive number, got {qty}")
    if len(working) > 1 or any(o.leg == 1 for o in view.routed):
        return Rejection(RejectReason.MODIFY_UNSUPPORTED, "this SELL was split into a closing and an opening order: "
                                                          "its prices can change, its quantity cannot")
    if modify.role is LegRole.ENTRY and any(o.exit_legs for o in view.routed):
        return Rejection(RejectReason.MODIFY_UNSUPPORTED, "a bracket's entry keeps its quantity (its exits are sized "
                                                          "to it): cancel and send a new bracket")
    leg = working[0]
    if qty <= leg.filled:
        return Rejection(RejectReason.INVALID_QTY, f"{leg.filled:g} are already filled: the new quantity must be "
                                                   f"above that, got {qty:g}")
    return None
