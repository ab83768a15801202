"""Turns what Webull says about one order into Janus events, each exactly once. Pure.

Webull speaks about an order twice over: the gRPC trade-event stream (which can go silent or
drop) and REST (the place answer, order detail, open orders, polled as a fallback). Both carry
the order's CUMULATIVE filled quantity and average price, so the tracker merges them by
comparing with what it already published: a fill is the growth of the cumulative quantity
(fill_id ``{order_id}:{cumulative}``), a status is published when (state, filled) moves forward,
and anything stale or repeated says nothing. The state is rebuilt from EVENTS after a restart,
and every event carries a deterministic ``Nats-Msg-Id`` so a republish after a crash is dropped
by JetStream's duplicate window.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from janus_common.messages import (
    Broker,
    BrokerSide,
    OrderBrokerRejected,
    OrderCancelled,
    OrderEvent,
    OrderGatewayRefused,
    OrderFilled,
    OrderState,
    OrderStatusChanged,
    OrderSubmitted,
    split_order_key,
)

from .mapping import WEBULL_STATES, Observation


@dataclass(frozen=True)
class OrderTrack:
    order_key: str
    account: str
    client_order_id: str
    symbol: str = ""
    side: BrokerSide = BrokerSide.BUY
    qty: float = 0.0
    submitted: bool = False
    broker_order_id: str = ""
    status: OrderState | None = None
    status_filled: float = 0.0  # ``filled`` of the last status published
    filled: float = 0.0  # sum of the fills published
    notional: float = 0.0  # sum of qty × price of the fills published
    rejected: bool = False

    @property
    def intent_id(self) -> str:
        return split_order_key(self.order_key)[0]

    @property
    def leg(self) -> int:
        return split_order_key(self.order_key)[1]

    @property
    def finished(self) -> bool:
        return self.rejected or (self.status is not None and self.status.terminal)


Emitted = tuple[OrderTrack, list[tuple[str, OrderEvent]]]  # (msg id, event) pairs


def _base(t: OrderTrack) -> dict:
    return {"account": t.account, "intent_id": t.intent_id, "broker": Broker.WEBULL, "leg": t.leg}


def _fmt(qty: float) -> str:
    return f"{qty:g}"


def on_rejected(t: OrderTrack, code: str, text: str) -> Emitted:
    """Webull refused the order (400 on place, FAILED status, PLACE_FAILED event) — or Janus
    could not express it for Webull. Once per order, and never after it was accepted and worked."""
    if t.rejected or (t.status is not None and t.status is not OrderState.REJECTED and t.status.terminal):
        return t, []
    return replace(t, rejected=True, status=OrderState.REJECTED), [
        (f"rej:{t.order_key}", OrderBrokerRejected(**_base(t), code=code or "REJECTED", text=text or code))]


def observe(t: OrderTrack, obs: Observation) -> Emitted:
    state = WEBULL_STATES.get(obs.status)
    if state is None or t.finished:
        return t, []  # nothing said about a finished order changes it
    if state is OrderState.REJECTED:
        # A FAILED status carries Webull's sentence, not its code: the code is PLACE_FAILED.
        return on_rejected(t, "PLACE_FAILED", obs.reason or "Webull refused the order")
    events: list[tuple[str, OrderEvent]] = []
    if not t.submitted and obs.order_id:
        events.append((f"sub:{t.order_key}", OrderSubmitted(**_base(t), broker_order_id=obs.order_id,
                                                           client_order_id=t.client_order_id)))
        t = replace(t, submitted=True, broker_order_id=obs.order_id)
    order_id = t.broker_order_id or obs.order_id
    if obs.filled > t.filled:
        qty = obs.filled - t.filled
        if obs.last_price and abs(obs.last_qty - qty) < 1e-9:
            price = obs.last_price
        else:
            # Missed events in between: the cumulative average tells what the missing part cost.
            price = (obs.filled * obs.avg_price - t.notional) / qty
        price = round(price, 4)
        fill_id = f"{order_id}:{_fmt(obs.filled)}"
        events.append((f"fill:{t.order_key}:{_fmt(obs.filled)}", OrderFilled(
            **_base(t), fill_id=fill_id, symbol=t.symbol or obs.symbol, side=t.side, qty=qty, price=price,
            broker_order_id=order_id)))
        t = replace(t, filled=obs.filled, notional=t.notional + qty * price)
    if state is OrderState.SUBMITTED and obs.filled > 0:
        state = OrderState.PARTIALLY_FILLED
    if obs.filled < t.status_filled or (state, obs.filled) == (t.status, t.status_filled):
        return t, events  # stale (a late stream event after a poll) or repeated
    total = obs.qty or t.qty
    events.append((f"st:{t.order_key}:{state}:{_fmt(obs.filled)}", OrderStatusChanged(
        **_base(t), broker_order_id=order_id, status=state, filled=obs.filled,
        remaining=max(total - obs.filled, 0.0) if state is not OrderState.CANCELLED else 0.0,
        avg_fill_price=obs.avg_price or None, broker_status=obs.status)))
    if state is OrderState.CANCELLED:
        events.append((f"cxl:{t.order_key}", OrderCancelled(**_base(t), filled=obs.filled, reason=obs.reason or None)))
    return replace(t, status=state, status_filled=obs.filled), events


def replay(t: OrderTrack, event: OrderEvent) -> OrderTrack:
    """Rebuild a track from events already published (after a restart)."""
    if isinstance(event, OrderSubmitted):
        return replace(t, submitted=True, broker_order_id=event.broker_order_id,
                       client_order_id=event.client_order_id or t.client_order_id)
    if isinstance(event, OrderStatusChanged):
        return replace(t, status=event.status, status_filled=event.filled, submitted=True,
                       broker_order_id=t.broker_order_id or event.broker_order_id or "")
    if isinstance(event, OrderFilled):
        return replace(t, filled=t.filled + event.qty, notional=t.notional + event.qty * event.price,
                       symbol=event.symbol or t.symbol)
    if isinstance(event, (OrderBrokerRejected, OrderGatewayRefused)):
        return replace(t, rejected=True, status=OrderState.REJECTED)
    if isinstance(event, OrderCancelled):
        return replace(t, status=OrderState.CANCELLED)
    return t
