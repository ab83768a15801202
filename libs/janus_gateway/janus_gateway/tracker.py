"""The one tracker core: what a broker says about one order (broker-neutral reports) → Janus
events, each exactly once. Pure: ``apply(track, report) -> (track, [(local msg id, event)])``.

Brokers repeat themselves (the same status twice, executions again on every reconnect, two
sources — a stream and polling — saying the same thing) and say stale things (a late status
after a newer one). The track remembers what was already published for the order, so only what
is new becomes an event; after a restart the track is rebuilt from the published events
(:func:`replay`), so nothing is published twice. Every event gets a deterministic local id (the
emitter makes it the ``Nats-Msg-Id``), so a republish after a crash is dropped by JetStream.

One apply per report type and one replay per event type (``functools.singledispatch``).
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec
from msgspec.structs import replace

from janus_common.messages import (
    ID_MAX,
    clip,
    Broker,
    BrokerSide,
    GatewayOrderEvent,
    OrderBrokerRejected,
    OrderCancelled,
    OrderEvent,
    OrderFilled,
    OrderGatewayRefused,
    OrderHeld,
    OrderModified,
    OrderState,
    OrderStatusChanged,
    OrderSubmitted,
    split_order_key,
)

from .adapter import ErrorKind, ErrorReport, FillReport, OrderStatusReport

__all__ = ["Emitted", "Track", "apply", "replay"]


class Track(msgspec.Struct, frozen=True):
    # A msgspec Struct, not a dataclass: dataclasses.replace inspects the fields on every call
    # (~20 µs), which was half of a gateway's rebuild from a long history.
    order_key: str
    account: str
    broker: Broker
    symbol: str = ""
    side: BrokerSide = BrokerSide.BUY
    qty: float = 0.0
    client_order_id: str = ""
    submitted: bool = False
    broker_order_id: str = ""
    status: OrderState | None = None
    status_filled: float = 0.0  # ``filled`` of the last status published
    filled: float = 0.0  # sum of the fills published
    notional: float = 0.0  # sum of qty × price of the fills published
    fill_ids: frozenset[str] = frozenset()
    rejected: bool = False
    held: bool = False
    holds: int = 0  # hold episodes so far: each one is its own event
    updates: int = 0  # status events published so far: numbers each one's msg id
    modifies: frozenset[str] = frozenset()  # modify ids answered (taken or refused): never applied twice

    @property
    def intent_id(self) -> str:
        return split_order_key(self.order_key)[0]

    @property
    def leg(self) -> int:
        return split_order_key(self.order_key)[1]

    @property
    def finished(self) -> bool:
        return self.rejected or (self.status is not None and self.status.terminal)


Emitted = tuple[Track, list[tuple[str, OrderEvent]]]


def _base(t: Track) -> dict[str, Any]:
    return {"account": t.account, "intent_id": t.intent_id, "broker": t.broker, "leg": t.leg}


def _fmt(qty: float) -> str:
    return f"{qty:g}"


@functools.singledispatch
def apply(report: Any, t: Track) -> Emitted:
    """Fold one report about the track's order; returns the new track and what to publish."""
    return t, []


@apply.register
def _(report: OrderStatusReport, t: Track) -> Emitted:
    events: list[tuple[str, OrderEvent]] = []
    if t.finished:
        return t, events  # nothing said about a finished order changes it (late fills aside)
    state = report.status
    if not t.submitted and report.acknowledged and state is not OrderState.PENDING:
        events.append((f"sub:{t.order_key}", OrderSubmitted(
            **_base(t), broker_order_id=report.broker_order_id, perm_id=report.perm_id,
            client_order_id=report.client_order_id or t.client_order_id or None)))
        t = replace(t, submitted=True, broker_order_id=report.broker_order_id)
    order_id = t.broker_order_id or report.broker_order_id
    if report.fills_from_status and report.filled > t.filled:
        t, fill = _derived_fill(t, report, order_id)
        events.append(fill)
    if state is OrderState.PENDING:
        return t, events
    filled = max(report.filled, t.status_filled)  # a stale status never takes fills back
    if state is OrderState.SUBMITTED and filled > 0:
        state = OrderState.PARTIALLY_FILLED
    if t.held and state is OrderState.PRE_SUBMITTED:
        state = OrderState.HELD
    if (state, filled) == (t.status, t.status_filled):
        return t, events  # said again (or stale)
    total = report.qty or t.qty
    remaining = report.remaining if report.remaining is not None else (
        0.0 if state is OrderState.CANCELLED else max(total - filled, 0.0))
    events.append((f"st:{t.order_key}:{t.updates + 1}", OrderStatusChanged(
        **_base(t), broker_order_id=order_id or None, status=state, filled=filled, remaining=remaining,
        avg_fill_price=report.avg_fill_price or None, broker_status=report.broker_status or None)))
    if state is OrderState.CANCELLED:
        events.append((f"cxl:{t.order_key}", OrderCancelled(**_base(t), filled=filled, reason=clip(report.reason or "") or None)))
    held = t.held and state in (OrderState.HELD, OrderState.PRE_SUBMITTED)
    return replace(t, status=state, status_filled=filled, held=held, updates=t.updates + 1), events


def _derived_fill(t: Track, report: OrderStatusReport, order_id: str) -> tuple[Track, tuple[str, OrderEvent]]:
    qty = report.filled - t.filled
    if report.last_fill_price and abs(report.last_fill_qty - qty) < 1e-9:
        price = report.last_fill_price
    else:
        # Missed reports in between: the cumulative average tells what the missing part cost.
        price = (report.filled * (report.avg_fill_price or 0.0) - t.notional) / qty
    price = round(price, 4)
    fill_id = f"{order_id}:{_fmt(report.filled)}"
    event = OrderFilled(**_base(t), fill_id=fill_id, symbol=t.symbol, side=t.side, qty=qty, price=price,
                        broker_order_id=order_id or None)
    t = replace(t, filled=report.filled, notional=t.notional + qty * price, fill_ids=t.fill_ids | {fill_id})
    return t, (f"fill:{t.order_key}:{fill_id}", event)


@apply.register
def _(report: FillReport, t: Track) -> Emitted:
    if report.fill_id in t.fill_ids:
        return t, []
    event = OrderFilled(**_base(t), fill_id=report.fill_id, symbol=t.symbol or report.symbol,
                        side=report.side or t.side, qty=report.qty, price=report.price,
                        commission=report.commission, commission_currency=report.commission_currency,
                        broker_order_id=report.broker_order_id or t.broker_order_id or None)
    t = replace(t, fill_ids=t.fill_ids | {report.fill_id}, filled=t.filled + report.qty,
                notional=t.notional + report.qty * report.price)
    return t, [(f"fill:{t.order_key}:{report.fill_id}", event)]


@apply.register
def _(report: ErrorReport, t: Track) -> Emitted:
    if t.finished or report.kind is ErrorKind.INFORMATIONAL or report.kind is ErrorKind.WARNING:
        return t, []
    if report.kind is ErrorKind.HELD:
        if t.held:
            return t, []
        return replace(t, held=True, holds=t.holds + 1), [
            (f"held:{t.order_key}:{t.holds + 1}", OrderHeld(**_base(t), code=clip(report.code, ID_MAX), text=clip(report.text)))]
    if report.kind is ErrorKind.ERROR and t.submitted and t.status not in (None, OrderState.PENDING):
        return t, []  # about a live order (e.g. a refused modification): it still works
    return replace(t, rejected=True, status=OrderState.REJECTED), [(f"rej:{t.order_key}", OrderBrokerRejected(
        **_base(t), code=clip(report.code or "REJECTED", ID_MAX), text=clip(report.text or report.code)))]


# --- rebuilding a track from what was already published ---------------------------------------


@functools.singledispatch
def replay(event: GatewayOrderEvent, t: Track) -> Track:
    """Fold an event already published (after a restart) into its track."""
    return t


@replay.register
def _(event: OrderSubmitted, t: Track) -> Track:
    return replace(t, submitted=True, broker_order_id=event.broker_order_id,
                   client_order_id=event.client_order_id or t.client_order_id)


@replay.register
def _(event: OrderStatusChanged, t: Track) -> Track:
    held = t.held and event.status in (OrderState.HELD, OrderState.PRE_SUBMITTED)  # as apply left it
    return replace(t, status=event.status, status_filled=event.filled, submitted=True, updates=t.updates + 1,
                   held=held, broker_order_id=t.broker_order_id or event.broker_order_id or "")


@replay.register
def _(event: OrderFilled, t: Track) -> Track:
    return replace(t, fill_ids=t.fill_ids | {event.fill_id}, filled=t.filled + event.qty,
                   notional=t.notional + event.qty * event.price, symbol=t.symbol or event.symbol)


def _rejected(event: GatewayOrderEvent, t: Track) -> Track:
    return replace(t, rejected=True, status=OrderState.REJECTED)


replay.register(OrderBrokerRejected, _rejected)
replay.register(OrderGatewayRefused, _rejected)


@replay.register
def _(event: OrderHeld, t: Track) -> Track:
    return replace(t, held=True, holds=t.holds + 1)


@replay.register
def _(event: OrderModified, t: Track) -> Track:
    return replace(t, qty=event.qty, modifies=t.modifies | {event.modify_id})


@replay.register
def _(event: OrderCancelled, t: Track) -> Track:
    return replace(t, status=OrderState.CANCELLED)
