"""The order side of the gateway: places each broker order at most once, turns IB's order
callbacks into Janus events exactly once, and reconciles after every (re)connect.

ib_async callbacks only enqueue; one worker task applies them in arrival order, so nothing
heavy runs inside ib_async and per-order event order is IB's order.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from ib_async import IB, Contract, Order, Trade
from nats.js import JetStreamContext

from janus_common import bus, subjects
from janus_common.messages import (
    ORDER_EVENTS,
    Broker,
    BrokerSide,
    CancelOrder,
    ExternalOrderSeen,
    OrderEvent,
    OrderRouted,
    OrderState,
    PlaceOrder,
    order_key,
)

from . import tracker
from .mapping import IB_STATES, contract_fields, order_fields
from .tracker import OrderTrack

log = structlog.get_logger()

UNSET_DOUBLE = 1.7976931348623157e308
# A fill is published when its commission report arrives, so it carries the commission. A report
# that is late (or that IB only gives on reqExecutions) must not hold the fill back for longer.
FILL_GRACE_S = 2.0


def _known(value: float | None) -> float:
    return 0.0 if value is None or value >= UNSET_DOUBLE else value


class NotReady(RuntimeError):
    """IB is not connected (or not reconciled yet): the route message is retried later."""


class OrderDesk:
    def __init__(self, ib: IB, js: JetStreamContext, alias: str, account_number: str,
                 ready: asyncio.Event, *, ack_timeout: float = 10.0, fill_grace: float = FILL_GRACE_S) -> None:
        self.ib = ib
        self.fill_grace = fill_grace
        self.js = js
        self.alias = alias
        self.account_number = account_number
        self.ready = ready
        self.ack_timeout = ack_timeout
        self.tracks: dict[str, OrderTrack] = {}
        self.externals: set[tuple[int, str]] = set()
        self.queue: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        self._placing: dict[str, asyncio.Event] = {}

    # --- state from EVENTS ----------------------------------------------------------------

    async def rebuild(self) -> None:
        """Everything this account's events already say: our order keys and what was published."""
        for event in await bus.history(self.js, "EVENTS", subjects.evt_order(self.alias), ORDER_EVENTS):
            self._replay(event)
        log.info("order_state_rebuilt", orders=len(self.tracks))

    def _replay(self, event: Any) -> None:
        if isinstance(event, OrderRouted):
            for o in event.orders:
                if o.broker is Broker.IB and o.order_key not in self.tracks:
                    self.tracks[o.order_key] = OrderTrack(o.order_key, self.alias, o.symbol, o.side)
            return
        if isinstance(event, ExternalOrderSeen):
            self.externals.add((int(event.broker_order_id), str(event.status)))
            return
        if not isinstance(event, OrderEvent) or event.intent_id is None:
            return
        key = order_key(event.intent_id, getattr(event, "leg", 0))
        # The router's OrderRouted may be missing (a route sent by another tool): our own events
        # for the account are enough to know the order is Janus's.
        track = self.tracks.get(key) or OrderTrack(key, self.alias, getattr(event, "symbol", "") or "")
        self.tracks[key] = tracker.replay(track, event)

    # --- route messages -------------------------------------------------------------------

    def trade_for(self, key: str) -> Trade | None:
        return next((t for t in self.ib.trades() if t.order.orderRef == key), None)

    async def handle_route(self, command: PlaceOrder | CancelOrder, _msg: Any) -> None:
        if not self.ready.is_set():
            try:
                await asyncio.wait_for(self.ready.wait(), 5)
            except asyncio.TimeoutError:
                raise NotReady(f"IB not connected; {type(command).__name__} for {command.intent_id} retried") from None
        if isinstance(command, CancelOrder):
            self._cancel(command)
            return
        await self._place(command)

    async def _place(self, order: PlaceOrder) -> None:
        key = order.order_key
        track = self.tracks.get(key) or OrderTrack(key, self.alias, order.symbol, order.side)
        self.tracks[key] = track
        existing = self.trade_for(key)
        if track.submitted or track.rejected or existing is not None:
            # Redelivered, or placed before a restart: IB already has it. Never place twice.
            log.info("order_already_placed", order_key=key, perm_id=existing.order.permId if existing else None)
            if existing is not None:
                # What IB did with it while we did not know it was ours: publish it now (once).
                await self.observe_trade(existing)
                for fill in self.ib.fills():
                    if fill.execution.orderRef == key:
                        await self._observe_fill(None, fill)
            return
        if order.ib is None:
            self.tracks[key], events = tracker.on_error(track, 200, "the route message carries no IB contract")
            await self._emit_list(events)
            return
        fields = order_fields(order, self.account_number)
        ib_order = Order(action=fields.action, totalQuantity=fields.total_quantity, orderType=fields.order_type,
                         lmtPrice=fields.lmt_price if fields.lmt_price is not None else UNSET_DOUBLE,
                         auxPrice=fields.aux_price if fields.aux_price is not None else UNSET_DOUBLE,
                         tif=fields.tif, orderRef=fields.order_ref, account=fields.account)
        acknowledged = asyncio.Event()
        self._placing[key] = acknowledged
        try:
            trade = self.ib.placeOrder(Contract(**contract_fields(order.ib)), ib_order)
            log.info("order_placed", order_key=key, order_id=trade.order.orderId, type=fields.order_type,
                     action=fields.action, qty=fields.total_quantity)
            # Acknowledge the route message only once IB accepted or refused the order.
            await asyncio.wait_for(acknowledged.wait(), self.ack_timeout)
        finally:
            self._placing.pop(key, None)

    def _cancel(self, command: CancelOrder) -> None:
        for leg in (0, 1):
            trade = self.trade_for(order_key(command.intent_id, leg))
            if trade is not None and not trade.isDone():
                self.ib.cancelOrder(trade.order)
                log.info("cancel_sent", order_key=trade.order.orderRef)

    # --- ib_async callbacks (enqueue only) ------------------------------------------------

    def attach(self) -> None:
        self.ib.orderStatusEvent += lambda trade: self.queue.put_nowait(("status", trade))
        self.ib.openOrderEvent += lambda trade: self.queue.put_nowait(("status", trade))
        self.ib.commissionReportEvent += lambda trade, fill, report: self.queue.put_nowait(("fill", trade, fill))
        # Published once either way: whichever comes second finds the execId already sent.
        self.ib.execDetailsEvent += lambda trade, fill: asyncio.get_running_loop().call_later(
            self.fill_grace, self.queue.put_nowait, ("fill", trade, fill))
        self.ib.errorEvent += lambda req_id, code, text, contract: self.queue.put_nowait(("error", req_id, code, text))

    async def work(self) -> None:
        while True:
            item = await self.queue.get()
            try:
                await self._apply(item)
            except Exception:  # one bad observation must not stop the event flow
                log.exception("order_event_failed", kind=item[0])

    async def _apply(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind == "status":
            await self.observe_trade(item[1])
        elif kind == "fill":
            trade, fill = item[1], item[2]
            await self._observe_fill(trade, fill)
        elif kind == "error":
            _, req_id, code, text = item
            trade = next((t for t in self.ib.trades() if t.order.orderId == req_id and req_id > 0), None)
            if trade is not None and trade.order.orderRef in self.tracks:
                key = trade.order.orderRef
                self.tracks[key], events = tracker.on_error(self.tracks[key], code, text)
                await self._emit_list(events)
                if events or code not in tracker.INFO_CODES:
                    self._acknowledge(key)

    async def observe_trade(self, trade: Trade) -> None:
        key = trade.order.orderRef
        status = trade.orderStatus
        if key in self.tracks and status.status == "Cancelled" and not (trade.order.permId or status.permId):
            # ib_async turns IB's refusal of a NEW order into "Cancelled" before it reports the
            # error: the order never existed at IB, so it is a rejection with IB's code.
            refusal = next((e for e in reversed(trade.log) if e.errorCode and e.errorCode != 202), None)
            if refusal is not None:
                self.tracks[key], events = tracker.on_error(self.tracks[key], refusal.errorCode, refusal.message)
                await self._emit_list(events)
                self._acknowledge(key)
                return
        if key in self.tracks:
            # A completed order (reqCompletedOrders, after a restart) has a bare status: its filled
            # quantity is on the order itself.
            filled = status.filled or _known(trade.order.filledQuantity)
            self.tracks[key], events = tracker.on_status(
                self.tracks[key], status.status, filled, status.remaining, status.avgFillPrice,
                trade.order.orderId, trade.order.permId or status.permId)
            await self._emit_list(events)
            if status.status not in ("PendingSubmit", "ApiPending"):
                self._acknowledge(key)
            return
        await self._external(trade)

    async def _observe_fill(self, trade: Trade | None, fill: Any) -> None:
        key = fill.execution.orderRef or (trade.order.orderRef if trade else "")
        track = self.tracks.get(key)
        if track is None:
            return
        report = fill.commissionReport if fill.commissionReport and fill.commissionReport.execId else None
        self.tracks[key], events = tracker.on_fill(track, fill.execution.execId, fill.execution.shares,
                                                   fill.execution.price, fill.execution.side,
                                                   report.commission if report else None,
                                                   report.currency if report else None, fill.execution.orderId)
        await self._emit_list(events)

    async def _external(self, trade: Trade) -> None:
        """An order on our account that Janus did not place (another client, the TWS window)."""
        if trade.order.account and trade.order.account != self.account_number:
            return
        state = IB_STATES.get(trade.orderStatus.status, OrderState.SUBMITTED)
        perm = trade.order.permId or trade.orderStatus.permId
        if not perm or (perm, str(state)) in self.externals:
            return
        self.externals.add((perm, str(state)))
        event = ExternalOrderSeen(account=self.alias, broker=Broker.IB, broker_order_id=str(perm),
                                  symbol=trade.contract.localSymbol or trade.contract.symbol,
                                  side=BrokerSide.BUY if trade.order.action == "BUY" else BrokerSide.SELL,
                                  qty=trade.order.totalQuantity, order_type=trade.order.orderType, status=state)
        await bus.publish(self.js, subjects.evt_order(self.alias), event, msg_id=f"{self.alias}:ext:{perm}:{state}")

    def _acknowledge(self, key: str) -> None:
        waiting = self._placing.get(key)
        if waiting is not None:
            waiting.set()

    async def _emit_list(self, events: list[tuple[str, OrderEvent]]) -> None:
        for msg_id, event in events:
            await bus.publish(self.js, subjects.evt_order(self.alias), event, msg_id=f"{self.alias}:{msg_id}")
            log.info("order_event", kind=type(event).__name__, intent_id=event.intent_id)

    # --- reconcile ------------------------------------------------------------------------

    async def reconcile(self) -> int:
        """After every (re)connect: open and completed orders, executions with their commissions.
        Whatever happened while we were away is published now, once."""
        open_trades = await self.ib.reqAllOpenOrdersAsync()
        completed = await self.ib.reqCompletedOrdersAsync(False)
        for trade in [*open_trades, *completed]:
            await self.observe_trade(trade)
        for fill in await self.ib.reqExecutionsAsync():
            await self._observe_fill(None, fill)  # executions carry their orderRef
        return len(open_trades)
