"""Turns what IB says about one order into Janus events, each exactly once. Pure.

IB repeats itself: the same orderStatus twice, executions again on every reconnect, warnings
that look like errors. The tracker remembers what it already published for the order (the
state is rebuilt from EVENTS after a restart) and emits only what is new.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from janus_common.messages import (
    Broker,
    BrokerSide,
    OrderBrokerRejected,
    OrderCancelled,
    OrderGatewayRefused,
    OrderEvent,
    OrderFilled,
    OrderHeld,
    OrderState,
    OrderStatusChanged,
    OrderSubmitted,
    split_order_key,
)

from .codes import CodeClass, classify
from .mapping import IB_STATES


@dataclass(frozen=True)
class OrderTrack:
    order_key: str
    account: str
    symbol: str = ""
    side: BrokerSide = BrokerSide.BUY
    submitted: bool = False
    status: OrderState | None = None
    filled: float = 0.0
    fill_ids: frozenset[str] = frozenset()
    rejected: bool = False
    held: bool = False
    holds: int = 0  # hold episodes so far: each one is its own event
    updates: int = 0  # status events published so far: numbers each one's Nats-Msg-Id

    @property
    def intent_id(self) -> str:
        return split_order_key(self.order_key)[0]

    @property
    def leg(self) -> int:
        return split_order_key(self.order_key)[1]

    @property
    def finished(self) -> bool:
        return self.rejected or (self.status is not None and self.status.terminal)


def _base(t: OrderTrack) -> dict:
    return {"account": t.account, "intent_id": t.intent_id, "broker": Broker.IB, "leg": t.leg}


Emitted = tuple[OrderTrack, list[tuple[str, OrderEvent]]]  # (msg id, event) pairs


def on_status(t: OrderTrack, ib_status: str, filled: float, remaining: float, avg_price: float,
              order_id: int, perm_id: int) -> Emitted:
    events: list[tuple[str, OrderEvent]] = []
    state = IB_STATES.get(ib_status)
    if state is None or t.rejected:
        return t, events
    if not t.submitted and perm_id and state is not OrderState.PENDING and not t.finished:
        events.append((f"sub:{t.order_key}", OrderSubmitted(**_base(t), broker_order_id=str(order_id),
                                                           perm_id=str(perm_id))))
        t = replace(t, submitted=True)
    if t.status is not None and t.status.terminal:
        return t, events  # a late or repeated status never reopens a finished order
    if state is OrderState.PENDING:
        return t, events
    filled = max(filled, t.filled)  # a stale status never takes fills back
    if state is OrderState.SUBMITTED and filled > 0:
        state = OrderState.PARTIALLY_FILLED
    if t.held and state is OrderState.PRE_SUBMITTED:
        state = OrderState.HELD
    if (state, filled) == (t.status, t.filled):
        return t, events  # IB said the same thing again
    events.append((f"st:{t.order_key}:{t.updates + 1}", OrderStatusChanged(
        **_base(t), broker_order_id=str(order_id), status=state, filled=filled, remaining=remaining,
        avg_fill_price=avg_price or None, broker_status=ib_status)))
    if state is OrderState.CANCELLED:
        events.append((f"cxl:{t.order_key}", OrderCancelled(**_base(t), filled=filled, reason=ib_status)))
    held = t.held and state in (OrderState.HELD, OrderState.PRE_SUBMITTED)
    return replace(t, status=state, filled=filled, held=held, updates=t.updates + 1), events


def on_fill(t: OrderTrack, exec_id: str, qty: float, price: float, side: str, commission: float | None,
            currency: str | None, order_id: int) -> Emitted:
    if exec_id in t.fill_ids:
        return t, []
    event = OrderFilled(**_base(t), fill_id=exec_id, symbol=t.symbol,
                        side=BrokerSide.BUY if side in ("BOT", "BUY") else BrokerSide.SELL, qty=qty, price=price,
                        commission=commission, commission_currency=currency, broker_order_id=str(order_id))
    return replace(t, fill_ids=t.fill_ids | {exec_id}), [(f"fill:{exec_id}", event)]


def on_error(t: OrderTrack, code: int, text: str) -> Emitted:
    """404 = held for a locate (not a rejection); an error before IB acknowledged the order is a
    rejection; warnings and confirmations are nothing to report."""
    if t.finished:
        return t, []  # nothing IB says about a finished order changes it
    kind = classify(code)
    if kind is CodeClass.HELD:
        if t.held:
            return t, []
        return replace(t, held=True, holds=t.holds + 1), [
            (f"held:{t.order_key}:{t.holds + 1}", OrderHeld(**_base(t), code=str(code), text=text))]
    if kind is not CodeClass.ORDER:
        return t, []
    if t.submitted and t.status not in (None, OrderState.PENDING):
        return t, []  # a warning about a live order (e.g. a refused modification): it still works
    return replace(t, rejected=True), [(f"rej:{t.order_key}", OrderBrokerRejected(**_base(t), code=str(code),
                                                                                 text=text))]


def replay(t: OrderTrack, event: OrderEvent) -> OrderTrack:
    """Rebuild a track from events already published (after a restart)."""
    if isinstance(event, OrderSubmitted):
        return replace(t, submitted=True)
    if isinstance(event, OrderStatusChanged):
        return replace(t, status=event.status, filled=event.filled, submitted=True, updates=t.updates + 1)
    if isinstance(event, OrderFilled):
        return replace(t, fill_ids=t.fill_ids | {event.fill_id}, symbol=event.symbol or t.symbol)
    if isinstance(event, (OrderBrokerRejected, OrderGatewayRefused)):
        return replace(t, rejected=True)
    if isinstance(event, OrderHeld):
        return replace(t, held=True, holds=t.holds + 1)
    if isinstance(event, OrderCancelled):
        return replace(t, status=OrderState.CANCELLED)
    return t
