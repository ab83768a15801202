"""janus-ib-gateway --config config.yaml --account ALIAS

One IB account alias on NATS, on the gateway kernel (:mod:`janus_gateway`): the kernel runs the
connection lifecycle, the route desk and the account publisher; this module is the IB
connection (connect, reconcile, watch) and IB's one error subscriber. The watch treats a
reqCurrentTime that does not come back in time as a dead connection, even if the socket is open.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import structlog
from ib_async import IB

from janus_common import ratelimit, subjects
from janus_common.config import ConfigError
from janus_common.messages import MD_REQUEST, Broker, ConnectionState, MarketDataSubscribe
from janus_common.service import ServiceContext, run
from janus_gateway import kernel
from janus_gateway.account import AccountPublisher
from janus_gateway.adapter import BrokerUnavailable
from janus_gateway.emit import Emitter
from janus_gateway.lifecycle import Lifecycle
from janus_gateway.routes import RouteDesk

from . import codes
from .account import positions_of, values_of
from .codes import CodeClass
from .lookup import Lookups
from .marketdata import MarketData
from .orders import OrderDesk

log = structlog.get_logger()
VERSION = "0.1.0"


class IbConnection:
    """The IB session the kernel's lifecycle drives."""

    def __init__(self, ctx: ServiceContext, alias: str, *, heartbeat: float, dead_after: float) -> None:
        assert ctx.config is not None
        account = ctx.config.account(alias)
        if account.broker is not Broker.IB or account.ib is None:
            raise ConfigError(f"accounts.{alias}.broker", "janus-ib-gateway serves IB accounts only")
        self.stopping = ctx.stopping
        self.conn = account.ib
        self.ib = IB()
        self.ib.RaiseRequestErrors = False
        self.heartbeat = heartbeat
        self.dead_after = dead_after
        self.account_number = account.ib.account or ""
        self._down = asyncio.Event()
        self.ib.disconnectedEvent += self._down.set

    @property
    def where(self) -> str:
        return f"{self.conn.host}:{self.conn.port}"

    async def connect(self) -> str:
        self._down.clear()
        try:
            await self.ib.connectAsync(self.conn.host, self.conn.port, clientId=self.conn.client_id,
                                       timeout=self.conn.connect_timeout_s, account=self.account_number)
        except (OSError, asyncio.TimeoutError, ConnectionError) as exc:
            raise BrokerUnavailable(f"connect failed: {type(exc).__name__}") from None
        if not self.account_number:
            self.account_number = self.ib.managedAccounts()[0]
        return self.account_number

    async def disconnect(self) -> None:
        self.ib.disconnect()

    async def watch(self) -> str:
        """Until the socket drops, or IB stops answering within ``dead_after`` seconds."""
        while not self._down.is_set() and not self.stopping.is_set():
            try:
                await asyncio.wait_for(self._down.wait(), self.heartbeat)
                return "connection lost"
            except asyncio.TimeoutError:
                pass
            try:
                await asyncio.wait_for(self.ib.reqCurrentTimeAsync(), self.dead_after)
            except (asyncio.TimeoutError, ConnectionError):
                log.warning("ib_connection_dead", waited=self.dead_after)
                return f"IB did not answer within {self.dead_after:g} s"
        return "connection lost"


def _arguments(parser: argparse.ArgumentParser) -> None:
    kernel.add_arguments(parser)
    ib_arguments(parser)


def ib_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--heartbeat", type=float, default=5.0, help="seconds between liveness checks")
    parser.add_argument("--dead-after", type=float, default=5.0, help="reqCurrentTime bound in seconds")


async def setup(ctx: ServiceContext) -> None:
    assert ctx.config is not None
    alias = ctx.args.account
    conn = IbConnection(ctx, alias, heartbeat=ctx.args.heartbeat, dead_after=ctx.args.dead_after)
    ib = conn.ib
    life = Lifecycle(ctx.js, alias, Broker.IB, ctx.stopping)
    emitter = Emitter(ctx.js, alias)
    orders = OrderDesk(ib, emitter, alias, conn.account_number,
                       ack_timeout=min(10.0, ctx.args.route_ack_wait * 0.8))
    routes = RouteDesk(orders, emitter, Broker.IB, life.ready, kernel.route_settings(ctx.args))
    kernel.resync_after_outages(ctx, life, emitter)
    publisher = AccountPublisher(ctx.js, alias, Broker.IB,
                                 positions=lambda: _now(positions_of(ib, conn.account_number)),
                                 values=lambda: _now(values_of(ib, conn.account_number)))
    lookups = Lookups(ib, life.ready)
    market: MarketData | None = None
    if ctx.config.market_data_account == alias:
        market = MarketData(ib, ctx.nc, lookups, life.ready)
        await ctx.add_rpc("md-subscribe", subjects.RPC_MD_SUBSCRIBE, MD_REQUEST, market.handle,
                          limit=ratelimit.limiter("md-subscribe", ctx.config.rate_limits.md_subscribe, ctx.config),
                          charged=lambda request: isinstance(request, MarketDataSubscribe))

    def on_error(req_id: int, code: int, text: str, contract: Any) -> None:
        # IB's one error subscriber: each class of code goes where it means something.
        kind = codes.classify(code)
        if kind in (CodeClass.CONNECTIVITY, CodeClass.FARM):
            if code == codes.CONNECTIVITY_LOST or code in codes.FARM_BROKEN:
                asyncio.ensure_future(life.notice(ConnectionState.DEGRADED, text, code))
            else:
                asyncio.ensure_future(life.notice(ConnectionState.READY, text, code))
                if code in (codes.CONNECTIVITY_RESTORED_DATA_LOST, codes.MARKET_FARM_OK) and market is not None:
                    asyncio.ensure_future(market.restore())  # subscriptions IB forgot
        if market is not None:
            market.on_error(req_id, code, text, contract)
        orders.on_error(req_id, code, text)

    ib.errorEvent += on_error
    ib.positionEvent += lambda _p: publisher.changed()
    ib.accountValueEvent += lambda _v: publisher.changed()

    async def reconcile() -> int:
        orders.account_number = conn.account_number
        open_orders = await orders.reconcile()
        await publisher.publish(force=True)
        if market is not None:
            await market.restore()
        return open_orders

    async def sync() -> int:
        return len(await ib.reqAllOpenOrdersAsync())

    await kernel.rebuild(ctx, alias, orders.replay, routes.replay)
    orders.attach()
    ctx.spawn(orders.work(), "order-events")
    ctx.spawn(publisher.work(life.ready), "account-events")
    ctx.spawn(life.run(conn, reconcile, conn.where), "ib-connection")
    await kernel.serve_rpcs(ctx, alias, Broker.IB, life.ready, lookup=lookups.handle, sync=sync)
    await kernel.serve_routes(ctx, alias, Broker.IB, routes, ack_wait=ctx.args.route_ack_wait)

    async def stopping() -> None:
        ib.disconnect()

    ctx.on_stop(stopping)


async def _now(value: Any) -> Any:
    return value


def main(argv: list[str] | None = None) -> int:
    return run("janus-ib-gateway", VERSION, setup, description="Janus IB gateway", argv=argv,
               add_arguments=_arguments, metadata_from_args=lambda a: {"account": a.account})


if __name__ == "__main__":
    sys.exit(main())
