"""A whole gateway service from one :class:`~janus_gateway.adapter.BrokerAdapter`: a broker that
only translates gets the kernel's lifecycle, order book, route desk (cancel priority, STALE,
POISON), account publisher and RPCs by calling :func:`serve_adapter` from its ``setup``.

The adapter's reports go through one queue to one worker, so the order book sees them in the
order the broker said them and nothing heavy runs inside the adapter's callbacks.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import structlog

from janus_common.messages import ConnectionState, ExternalOrderSeen, OrderEvent, OrderFilled, PlaceOrder
from janus_common.service import ServiceContext

from . import kernel
from .account import AccountPublisher
from .adapter import (
    BrokerAdapter,
    ConnectionNotice,
    ErrorReport,
    ExternalOrderReport,
    FillReport,
    NoticeKind,
    OrderRefused,
    OrderStatusReport,
    Report,
)
from .book import OrderBook
from .emit import Emitter
from .lifecycle import Lifecycle
from .routes import RouteDesk

__all__ = ["AdapterDesk", "serve_adapter"]

log = structlog.get_logger()


class AdapterDesk(OrderBook):
    """The route desk's order side for a broker that speaks the adapter protocol."""

    def __init__(self, adapter: BrokerAdapter, emitter: Emitter, alias: str, publisher: AccountPublisher) -> None:
        super().__init__(emitter, alias, adapter.broker)
        self.adapter = adapter
        self.publisher = publisher

    def refusal(self, order: PlaceOrder) -> OrderRefused | None:
        return None  # the adapter raises OrderRefused from place() when it cannot express an order

    async def has_order(self, key: str) -> bool:
        return await self.adapter.has_order(key)

    async def place(self, order: PlaceOrder) -> None:
        track = self.track(order.order_key, symbol=order.symbol, side=order.side, qty=order.qty)
        if track.submitted or track.finished:
            return  # redelivered, or placed before a restart: never twice
        await self.adapter.place(order)

    async def cancel(self, key: str) -> None:
        await self.adapter.cancel(key)

    def after(self, key: str, events: list[OrderEvent]) -> None:
        if any(isinstance(e, OrderFilled) for e in events):
            self.publisher.changed()


async def serve_adapter(ctx: ServiceContext, alias: str, adapter: BrokerAdapter, *, where: str = "") -> Lifecycle:
    """Wire the kernel around ``adapter`` for account ``alias`` (flags from :func:`kernel.add_arguments`)."""
    broker = adapter.broker
    life = Lifecycle(ctx.js, alias, broker, ctx.stopping)
    emitter = Emitter(ctx.js, alias)
    publisher = AccountPublisher(ctx.js, alias, broker, positions=adapter.positions, values=adapter.account_values)
    desk = AdapterDesk(adapter, emitter, alias, publisher)
    routes = RouteDesk(desk, emitter, broker, life.ready, kernel.route_settings(ctx.args))
    kernel.resync_after_outages(ctx, life, emitter)
    reports: asyncio.Queue[Report] = asyncio.Queue()
    adapter.bind(reports.put_nowait)

    async def work() -> None:
        while True:
            report = await reports.get()
            try:
                await _apply(report, desk, life, alias)
            except Exception:  # one bad report must not stop the flow
                log.exception("report_failed", kind=type(report).__name__)

    async def reconcile() -> int:
        open_orders = await adapter.reconcile(frozenset(desk.tracks))
        while not reports.empty():  # what reconcile reported is in the book before the gate opens
            await _apply(reports.get_nowait(), desk, life, alias)
        await publisher.publish(force=True)
        return open_orders

    await kernel.rebuild(ctx, alias, desk.replay, routes.replay)
    ctx.spawn(work(), "adapter-reports")
    ctx.spawn(publisher.work(life.ready), "account-events")
    ctx.spawn(life.run(adapter, reconcile, where or str(broker)), f"{broker}-connection")
    await kernel.serve_rpcs(ctx, alias, broker, life.ready, lookup=adapter.lookup, sync=adapter.open_orders)
    await kernel.serve_routes(ctx, alias, broker, routes, ack_wait=ctx.args.route_ack_wait)
    ctx.on_stop(adapter.disconnect)
    return life


@functools.singledispatch
async def _apply(report: Any, desk: AdapterDesk, life: Lifecycle, alias: str) -> None:
    log.warning("report_unknown", kind=type(report).__name__)


async def _order_report(report: OrderStatusReport | FillReport | ErrorReport, desk: AdapterDesk, life: Lifecycle,
                        alias: str) -> None:
    if report.order_key in desk.tracks:  # anything else is not Janus's order
        await desk.report(report.order_key, report)


for _kind in (OrderStatusReport, FillReport, ErrorReport):
    _apply.register(_kind, _order_report)


@_apply.register
async def _(report: ExternalOrderReport, desk: AdapterDesk, life: Lifecycle, alias: str) -> None:
    await desk.external(ExternalOrderSeen(
        account=alias, broker=desk.broker, broker_order_id=report.broker_order_id, symbol=report.symbol,
        side=report.side, qty=report.qty, order_type=report.order_type, status=report.status))


@_apply.register
async def _(notice: ConnectionNotice, desk: AdapterDesk, life: Lifecycle, alias: str) -> None:
    if notice.kind is NoticeKind.ACCOUNT_CHANGED:
        desk.publisher.changed()
        return
    state = ConnectionState.DEGRADED if notice.kind is NoticeKind.DEGRADED else ConnectionState.READY
    await life.notice(state, notice.detail, notice.code)
