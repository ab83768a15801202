"""The order side of the gateway: places each broker order at most once, turns IB's order
callbacks into Janus events exactly once, and reconciles after every (re)connect.

ib_async callbacks only enqueue; one worker task applies them in arrival order, so nothing
heavy runs inside ib_async and per-order event order is IB's order.
"""

from __future__ import annotations

import asyncio
import copy
from decimal import Decimal
from typing import Any

import structlog
from ib_async import IB, Contract, Order, OrderStatus, Trade

from janus_common.messages import (
    Broker,
    BrokerSide,
    ExternalOrderSeen,
    ModifyOrder,
    OrderState,
    PlaceOrder,
    RejectReason,
    order_key,
)
from janus_gateway.adapter import BrokerUnavailable, ModifyRefused, OrderRefused, PlaceFailed
from janus_gateway.book import OrderBook
from janus_gateway.emit import Emitter

from . import tracker
from .codes import CodeClass, classify
from .mapping import IB_STATES, contract_fields, order_fields

log = structlog.get_logger()

UNSET_DOUBLE = 1.7976931348623157e308
# A fill is published when its commission report arrives, so it carries the commission. A report
# that is late (or that IB only gives on reqExecutions) must not hold the fill back for longer.
FILL_GRACE_S = 2.0


def _known(value: float | Decimal | None) -> float:
    """A quantity or price IB may leave unset. ib_async types Order.filledQuantity
    ``float | Decimal`` (its decoder makes it a float); a float either way, never a Decimal
    (msgspec would encode that as a string)."""
    return 0.0 if value is None or value >= UNSET_DOUBLE else float(value)


def _figures(order: Order) -> tuple[float, float, float]:
    """What a modification changes, as IB shows it back (unset prices as IB's unset double)."""
    return (_known(order.totalQuantity), float(order.lmtPrice if order.lmtPrice is not None else UNSET_DOUBLE),
            float(order.auxPrice if order.auxPrice is not None else UNSET_DOUBLE))


class OrderDesk(OrderBook):
    """The IB side of the kernel's route desk (:class:`janus_gateway.routes.OrderDesk`) and the
    observer of IB's order callbacks, on the kernel's order book."""

    def __init__(self, ib: IB, emitter: Emitter, alias: str, account_number: str, *,
                 ack_timeout: float = 10.0, fill_grace: float = FILL_GRACE_S) -> None:
        super().__init__(emitter, alias, Broker.IB)
        self.ib = ib
        self.fill_grace = fill_grace
        self.account_number = account_number
        self.ack_timeout = ack_timeout
        self.queue: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        self._placing: dict[str, asyncio.Event] = {}
        # Modifications sent and not answered yet: the figures IB must show, and who waits.
        self._modifying: dict[str, tuple[tuple[float, float, float], asyncio.Future[None]]] = {}

    def refusal(self, order: PlaceOrder) -> OrderRefused | None:
        if order.ib is None:
            return OrderRefused(RejectReason.NO_CONTRACT, "the route message carries no IB contract")
        return None

    def trade_for(self, key: str) -> Trade | None:
        return next((t for t in self.ib.trades() if t.order.orderRef == key), None)

    async def has_order(self, key: str) -> bool:
        return self.trade_for(key) is not None

    async def place(self, order: PlaceOrder) -> None:
        key = order.order_key
        track = self.track(key, symbol=order.symbol, side=order.side, qty=order.qty)
        existing = self.trade_for(key)
        if track.submitted or track.finished or existing is not None:
            # Redelivered, or placed before a restart: IB already has it. Never place twice.
            log.info("order_already_placed", order_key=key, perm_id=existing.order.permId if existing else None)
            if existing is not None:
                # What IB did with it while we did not know it was ours: publish it now (once).
                await self.observe_trade(existing)
                for fill in self.ib.fills():
                    if fill.execution.orderRef == key:
                        await self._observe_fill(None, fill)
            return
        if not self.ib.isConnected():
            raise BrokerUnavailable("IB is not connected")
        assert order.ib is not None  # refusal() said so
        ib_order = self._ib_order(order)
        if not ib_order.transmit:
            # Held in TWS until the bracket's last exit transmits the group: IB says nothing of it
            # before then, so there is no acknowledgement to wait for here.
            trade = self.ib.placeOrder(Contract(**contract_fields(order.ib)), ib_order)
            log.info("order_staged", order_key=key, order_id=trade.order.orderId, type=ib_order.orderType)
            return
        acknowledged = asyncio.Event()
        self._placing[key] = acknowledged
        try:
            trade = self.ib.placeOrder(Contract(**contract_fields(order.ib)), ib_order)
            log.info("order_placed", order_key=key, order_id=trade.order.orderId, type=ib_order.orderType,
                     action=ib_order.action, qty=ib_order.totalQuantity)
            # Done only once IB accepted or refused the order (or the connection dropped).
            try:
                await asyncio.wait_for(acknowledged.wait(), self.ack_timeout)
            except asyncio.TimeoutError:
                raise PlaceFailed(f"IB did not acknowledge {key} within {self.ack_timeout:g} s") from None
            if not self.ib.isConnected() and not self.tracks[key].submitted and not self.tracks[key].finished:
                raise PlaceFailed(f"the IB connection dropped while placing {key}")
        finally:
            self._placing.pop(key, None)

    def _ib_order(self, order: PlaceOrder) -> Order:
        fields = order_fields(order, self.account_number)
        ib_order = Order(action=fields.action, totalQuantity=fields.total_quantity, orderType=fields.order_type,
                         lmtPrice=fields.lmt_price if fields.lmt_price is not None else UNSET_DOUBLE,
                         auxPrice=fields.aux_price if fields.aux_price is not None else UNSET_DOUBLE,
                         tif=fields.tif, orderRef=fields.order_ref, account=fields.account,
                         outsideRth=fields.outside_rth, goodTillDate=fields.good_till_date,
                         ocaGroup=fields.oca_group, ocaType=fields.oca_type, transmit=fields.transmit)
        if fields.trailing_percent is not None:
            ib_order.trailingPercent = fields.trailing_percent
        if fields.lmt_price_offset is not None:
            ib_order.lmtPriceOffset = fields.lmt_price_offset
        if order.parent_leg is not None:
            parent = self.trade_for(order_key(order.intent_id, order.parent_leg))
            if parent is None:
                raise OrderRefused(RejectReason.INVALID_BRACKET,
                                   f"the entry of bracket {order.intent_id} is not at IB: its exit is not placed")
            ib_order.parentId = parent.order.orderId
        return ib_order

    # --- modifications ----------------------------------------------------------------------

    async def modify(self, command: ModifyOrder) -> None:
        """The same orderId sent again with the new figures; done once IB shows them (an
        openOrder), refused when IB answers the order id with an error instead."""
        key = command.order_key
        trade = self.trade_for(key)
        if trade is None:
            raise ModifyRefused("NOT_FOUND", f"IB has no order {key}")
        if trade.isDone():
            raise ModifyRefused("ORDER_FINISHED", f"the order {key} is already {trade.orderStatus.status}")
        if not self.ib.isConnected():
            raise BrokerUnavailable("IB is not connected")
        new = copy.copy(trade.order)
        new.totalQuantity = command.qty
        if command.limit_price is not None:
            new.lmtPrice = command.limit_price
        if command.trail_amount is not None:
            new.auxPrice = command.trail_amount
        elif command.stop_price is not None:
            new.auxPrice = command.stop_price
        new.transmit = True  # a modification of a bracket's leg is sent on at once
        expected = _figures(new)
        answered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._modifying[key] = (expected, answered)
        try:
            self.ib.placeOrder(trade.contract, new)
            log.info("order_modify_sent", order_key=key, order_id=new.orderId, qty=new.totalQuantity,
                     lmt=command.limit_price, aux=new.auxPrice)
            try:
                await asyncio.wait_for(answered, self.ack_timeout)
            except asyncio.TimeoutError:
                raise PlaceFailed(f"IB did not confirm the modification of {key} within {self.ack_timeout:g} s") from None
        finally:
            self._modifying.pop(key, None)

    def _modify_answered(self, trade: Trade) -> None:
        waiting = self._modifying.get(trade.order.orderRef)
        if waiting is None or waiting[1].done():
            return
        expected, answered = waiting
        if _figures(trade.order) == expected:
            answered.set_result(None)

    def _modify_refused(self, key: str, code: int, text: str) -> bool:
        waiting = self._modifying.get(key)
        if waiting is None or waiting[1].done() or classify(code) is not CodeClass.ORDER:
            return False
        waiting[1].set_exception(ModifyRefused(str(code), text))
        return True

    def connection_lost(self) -> None:
        """Every place waiting for IB's answer learns now that none is coming."""
        for waiting in self._placing.values():
            waiting.set()
        for _, answered in self._modifying.values():
            if not answered.done():
                answered.set_exception(BrokerUnavailable("the IB connection dropped before the modification was confirmed"))

    async def cancel(self, key: str) -> None:
        trade = self.trade_for(key)
        if trade is not None and not trade.isDone():
            self.ib.cancelOrder(trade.order)

    # --- ib_async callbacks (enqueue only) ------------------------------------------------

    def attach(self) -> None:
        self.ib.orderStatusEvent += lambda trade: self.queue.put_nowait(("status", trade))
        self.ib.openOrderEvent += lambda trade: self.queue.put_nowait(("status", trade))
        self.ib.commissionReportEvent += lambda trade, fill, report: self.queue.put_nowait(("fill", trade, fill))
        # Published once either way: whichever comes second finds the execId already sent.
        self.ib.execDetailsEvent += lambda trade, fill: asyncio.get_running_loop().call_later(
            self.fill_grace, self.queue.put_nowait, ("fill", trade, fill))
        self.ib.disconnectedEvent += self.connection_lost

    def on_error(self, req_id: int, code: int, text: str) -> None:
        """From the gateway's one error subscriber: an error about an order id, maybe ours."""
        if req_id > 0:
            self.queue.put_nowait(("error", req_id, code, text))

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
            self._modify_answered(item[1])
            await self.observe_trade(item[1])
        elif kind == "fill":
            trade, fill = item[1], item[2]
            await self._observe_fill(trade, fill)
        elif kind == "error":
            _, req_id, code, text = item
            trade = next((t for t in self.ib.trades() if t.order.orderId == req_id and req_id > 0), None)
            if trade is not None and trade.order.orderRef in self.tracks:
                key = trade.order.orderRef
                if self._modify_refused(key, code, text):
                    return  # about the modification: the order itself works on as it was
                events = await self.report(key, tracker.error_report(key, code, text))
                if events or classify(code) is CodeClass.ORDER:
                    self._acknowledge(key)

    async def observe_trade(self, trade: Trade) -> None:
        key = trade.order.orderRef
        status = trade.orderStatus
        if key in self.tracks and status.status == OrderStatus.Cancelled and not (trade.order.permId or status.permId):
            # ib_async turns IB's refusal of a NEW order into "Cancelled" before it reports the
            # error: the order never existed at IB, so it is a rejection with IB's code.
            refusal = next((e for e in reversed(trade.log) if e.errorCode and e.errorCode != 202), None)
            if refusal is not None:
                await self.report(key, tracker.error_report(key, refusal.errorCode, refusal.message))
                self._acknowledge(key)
                return
        if key in self.tracks:
            # A completed order (reqCompletedOrders, after a restart) has a bare status: its filled
            # quantity is on the order itself.
            filled = status.filled or _known(trade.order.filledQuantity)
            report = tracker.status_report(key, status.status, filled, status.remaining, status.avgFillPrice,
                                           trade.order.orderId, trade.order.permId or status.permId)
            if report is not None:
                await self.report(key, report)
            if status.status not in (OrderStatus.PendingSubmit, OrderStatus.ApiPending):
                self._acknowledge(key)
            return
        await self._external(trade)

    async def _observe_fill(self, trade: Trade | None, fill: Any) -> None:
        key = fill.execution.orderRef or (trade.order.orderRef if trade else "")
        if key not in self.tracks:
            return
        commission = fill.commissionReport if fill.commissionReport and fill.commissionReport.execId else None
        await self.report(key, tracker.fill_report(key, fill.execution.execId, fill.execution.shares,
                                                   fill.execution.price, fill.execution.side,
                                                   commission.commission if commission else None,
                                                   commission.currency if commission else None,
                                                   fill.execution.orderId))

    async def _external(self, trade: Trade) -> None:
        """An order on our account that Janus did not place (another client, the TWS window)."""
        if trade.order.account and trade.order.account != self.account_number:
            return
        perm = trade.order.permId or trade.orderStatus.permId
        if not perm:
            return
        await self.external(ExternalOrderSeen(
            account=self.alias, broker=Broker.IB, broker_order_id=str(perm),
            symbol=trade.contract.localSymbol or trade.contract.symbol,
            side=BrokerSide.BUY if trade.order.action == "BUY" else BrokerSide.SELL, qty=trade.order.totalQuantity,
            order_type=trade.order.orderType, status=IB_STATES.get(trade.orderStatus.status, OrderState.SUBMITTED)))

    def _acknowledge(self, key: str) -> None:
        waiting = self._placing.get(key)
        if waiting is not None:
            waiting.set()

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
