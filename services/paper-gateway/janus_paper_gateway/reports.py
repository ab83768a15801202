"""STOP-GAP for the kernel's missing tracker core: a BrokerAdapter's reports folded into order
events, and the route desk's view of the adapter's orders (``janus_gateway.routes.OrderDesk``).

Issue 15 asks for ONE tracker core in the kernel that turns broker-neutral reports into events;
the kernel does not have it yet (the IB gateway keeps its own IB tracker). Nothing here is
paper-specific: it is written against ``janus_gateway.adapter`` only, to be replaced by the
kernel's core when it lands. The fold (:func:`fold`) is pure; :class:`ReportDesk` is its shell.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import structlog

from janus_common.messages import (
    Broker,
    BrokerSide,
    ExternalOrderSeen,
    GatewayOrderEvent,
    OrderBrokerRejected,
    OrderCancelled,
    OrderEvent,
    OrderFilled,
    OrderGatewayRefused,
    OrderHeld,
    OrderRouted,
    OrderState,
    OrderStatusChanged,
    OrderSubmitted,
    PlaceOrder,
    RejectReason,
    order_key,
    split_order_key,
)
from janus_gateway.adapter import (
    BrokerAdapter,
    ConnectionNotice,
    ErrorKind,
    ErrorReport,
    ExternalOrderReport,
    FillReport,
    OrderRefused,
    OrderStatusReport,
    Report,
)
from janus_gateway.emit import Emitter
from janus_gateway.routes import LegState

log = structlog.get_logger()


@dataclass(frozen=True)
class Track:
    order_key: str
    account: str
    broker: Broker
    symbol: str = ""
    side: BrokerSide = BrokerSide.BUY
    qty: float = 0.0
    submitted: bool = False
    status: OrderState | None = None
    broker_status: str | None = None
    filled: float = 0.0
    fill_ids: frozenset[str] = frozenset()
    finished: bool = False
    updates: int = 0  # status events so far: numbers each one's msg id
    holds: int = 0

    def base(self) -> dict[str, Any]:
        intent_id, leg = split_order_key(self.order_key)
        return {"account": self.account, "intent_id": intent_id, "broker": self.broker, "leg": leg}


Emitted = tuple[Track, list[tuple[str, OrderEvent]]]


def _status(t: Track, r: OrderStatusReport) -> Emitted:
    out: list[tuple[str, OrderEvent]] = []
    if t.finished or r.status is OrderState.PENDING:
        return t, out
    if not t.submitted and r.broker_order_id:
        out.append((f"sub:{t.order_key}", OrderSubmitted(**t.base(), broker_order_id=r.broker_order_id,
                                                          perm_id=r.perm_id, client_order_id=r.client_order_id)))
        t = replace(t, submitted=True)
    filled = max(r.filled, t.filled)  # a stale report never takes fills back
    if (r.status, filled, r.broker_status or None) == (t.status, t.filled, t.broker_status):
        return t, out  # said again
    remaining = r.remaining if r.remaining is not None else max(t.qty - filled, 0.0)
    out.append((f"st:{t.order_key}:{t.updates + 1}", OrderStatusChanged(
        **t.base(), broker_order_id=r.broker_order_id or None, status=r.status, filled=filled, remaining=remaining,
        avg_fill_price=r.avg_fill_price, broker_status=r.broker_status or None)))
    if r.status is OrderState.CANCELLED:
        out.append((f"cxl:{t.order_key}", OrderCancelled(**t.base(), filled=filled, reason=r.reason)))
    return replace(t, status=r.status, broker_status=r.broker_status or None, filled=filled,
                   updates=t.updates + 1, finished=r.status.terminal), out


def _fill(t: Track, r: FillReport) -> Emitted:
    if r.fill_id in t.fill_ids:
        return t, []
    event = OrderFilled(**t.base(), fill_id=r.fill_id, symbol=r.symbol or t.symbol, side=r.side or t.side, qty=r.qty,
                        price=r.price, commission=r.commission, commission_currency=r.commission_currency,
                        broker_order_id=r.broker_order_id or None)
    return replace(t, fill_ids=t.fill_ids | {r.fill_id}), [(f"fill:{r.fill_id}", event)]


def _error(t: Track, r: ErrorReport) -> Emitted:
    if t.finished or r.kind in (ErrorKind.INFORMATIONAL, ErrorKind.WARNING):
        return t, []
    if r.kind is ErrorKind.HELD:
        return replace(t, holds=t.holds + 1), [(f"held:{t.order_key}:{t.holds + 1}",
                                                OrderHeld(**t.base(), code=r.code, text=r.text))]
    if t.submitted and t.status not in (None, OrderState.PENDING):
        return t, []  # an error about an order the broker accepted never rejects it
    return replace(t, finished=True), [(f"rej:{t.order_key}", OrderBrokerRejected(**t.base(), code=r.code,
                                                                                 text=r.text))]


def fold(t: Track, report: OrderStatusReport | FillReport | ErrorReport) -> Emitted:
    if isinstance(report, OrderStatusReport):
        return _status(t, report)
    if isinstance(report, FillReport):
        return _fill(t, report)
    return _error(t, report)


def replay(t: Track, event: GatewayOrderEvent) -> Track:
    """What an event already published says about the order (start-up, or the route desk's own)."""
    if isinstance(event, OrderSubmitted):
        return replace(t, submitted=True)
    if isinstance(event, OrderStatusChanged):
        return replace(t, status=event.status, broker_status=event.broker_status, filled=event.filled,
                       submitted=True, updates=t.updates + 1, finished=t.finished or event.status.terminal)
    if isinstance(event, OrderFilled):
        return replace(t, fill_ids=t.fill_ids | {event.fill_id})
    if isinstance(event, OrderHeld):
        return replace(t, holds=t.holds + 1)
    if isinstance(event, (OrderCancelled, OrderBrokerRejected, OrderGatewayRefused)):
        return replace(t, finished=True)
    return t


class ReportDesk:
    """The route desk's order side for any BrokerAdapter: reports enqueue, one worker emits."""

    def __init__(self, adapter: BrokerAdapter, emitter: Emitter, alias: str, *,
                 on_notice: Callable[[ConnectionNotice], None]) -> None:
        self.adapter = adapter
        self.emitter = emitter
        self.alias = alias
        self.broker = adapter.broker
        self.on_notice = on_notice
        self.tracks: dict[str, Track] = {}
        self.queue: asyncio.Queue[Report] = asyncio.Queue()
        adapter.bind(self.queue.put_nowait)

    def _track(self, order: PlaceOrder) -> Track:
        return self.tracks.setdefault(order.order_key, Track(order.order_key, self.alias, self.broker, order.symbol,
                                                             order.side, order.qty))

    def replay(self, event: Any) -> None:
        if isinstance(event, OrderRouted):
            for o in event.orders:
                if o.broker is self.broker:
                    self._track(o)
        elif isinstance(event, GatewayOrderEvent) and event.broker is self.broker:
            key = order_key(event.intent_id, event.leg)
            track = self.tracks.get(key) or Track(key, self.alias, self.broker)
            self.tracks[key] = replay(track, event)

    note = replay

    def legs_of(self, intent_id: str) -> list[str]:
        return sorted(k for k in self.tracks if split_order_key(k)[0] == intent_id)

    def leg_state(self, key: str) -> LegState:
        t = self.tracks.get(key)
        return LegState(t is not None, bool(t and t.submitted), bool(t and t.finished))

    def refusal(self, order: PlaceOrder) -> OrderRefused | None:
        if order.account != self.alias or order.broker is not self.broker:
            return OrderRefused(RejectReason.ACCOUNT_MISMATCH,
                                f"a {order.broker} order for {order.account} reached the {self.broker} gateway of {self.alias}")
        return None

    async def has_order(self, key: str) -> bool:
        return await self.adapter.has_order(key)

    async def place(self, order: PlaceOrder) -> None:
        self._track(order)
        await self.adapter.place(order)

    async def cancel(self, key: str) -> None:
        await self.adapter.cancel(key)

    async def work(self) -> None:
        while True:
            report = await self.queue.get()
            try:
                await self._apply(report)
            except Exception:  # one bad report must not stop the event flow
                log.exception("report_failed", kind=type(report).__name__)

    async def _apply(self, report: Report) -> None:
        if isinstance(report, ConnectionNotice):
            self.on_notice(report)
            return
        if isinstance(report, ExternalOrderReport):
            await self.emitter.emit(f"ext:{report.broker_order_id}:{report.status}", ExternalOrderSeen(
                account=self.alias, broker=self.broker, broker_order_id=report.broker_order_id,
                symbol=report.symbol, side=report.side, qty=report.qty, order_type=report.order_type,
                status=report.status))
            return
        track = self.tracks.get(report.order_key)
        if track is None:
            log.warning("report_for_unknown_order", order_key=report.order_key, kind=type(report).__name__)
            return
        self.tracks[report.order_key], events = fold(track, report)
        await self.emitter.emit_all(events)
