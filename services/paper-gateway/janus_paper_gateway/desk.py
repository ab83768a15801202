"""STOP-GAP until the kernel has it: the route desk's order side for ANY ``BrokerAdapter``, on the
kernel's order book and tracker core. The kernel's desks so far are broker-specific subclasses of
``OrderBook`` (IB, Webull); an adapter-only broker needs this generic one. Nothing here knows the
paper broker: it belongs in ``janus_gateway`` and moves there unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from janus_common.messages import ExternalOrderSeen, PlaceOrder, RejectReason
from janus_gateway.adapter import BrokerAdapter, ConnectionNotice, ExternalOrderReport, OrderRefused, Report
from janus_gateway.book import OrderBook
from janus_gateway.emit import Emitter

log = structlog.get_logger()


class AdapterDesk(OrderBook):
    """Reports from the adapter are queued (the sink only enqueues) and folded by one worker, in
    the order the adapter said them; route messages become adapter calls."""

    def __init__(self, adapter: BrokerAdapter, emitter: Emitter, alias: str, *,
                 on_notice: Callable[[ConnectionNotice], None]) -> None:
        super().__init__(emitter, alias, adapter.broker)
        self.adapter = adapter
        self.on_notice = on_notice
        self.queue: asyncio.Queue[Report] = asyncio.Queue()
        adapter.bind(self.queue.put_nowait)

    def refusal(self, order: PlaceOrder) -> OrderRefused | None:
        if order.account != self.alias or order.broker is not self.broker:
            return OrderRefused(RejectReason.ACCOUNT_MISMATCH, f"sent to the {self.broker} gateway of {self.alias} "
                                                               f"but addressed to {order.broker}/{order.account}")
        return None

    async def has_order(self, key: str) -> bool:
        return await self.adapter.has_order(key)

    async def place(self, order: PlaceOrder) -> None:
        self.track(order.order_key, symbol=order.symbol, side=order.side, qty=order.qty)
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
        elif isinstance(report, ExternalOrderReport):
            await self.external(ExternalOrderSeen(
                account=self.alias, broker=self.broker, broker_order_id=report.broker_order_id, symbol=report.symbol,
                side=report.side, qty=report.qty, order_type=report.order_type, status=report.status))
        elif report.order_key in self.tracks:
            await self.report(report.order_key, report)
        else:
            log.warning("report_for_unknown_order", order_key=report.order_key, kind=type(report).__name__)
