"""janus-ib-gateway --config config.yaml --account ALIAS

One IB account alias on NATS. The connection loop below connects, reconciles, opens the gate
for route messages, watches the connection (a reqCurrentTime that does not come back in time
means the connection is dead even if the socket is open), and on any loss closes the gate,
backs off and starts again — forever, through IB's nightly restart.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

import structlog
from ib_async import IB

from janus_common import bus, subjects
from janus_common.config import ConfigError
from janus_common.messages import (
    LOOKUP_REQUEST,
    MD_REQUEST,
    ROUTES,
    SYNC_REQUEST,
    Broker,
    ConnectionState,
    GatewayConnection,
    MessageDecodeError,
    SyncDone,
    clip,
)
from janus_common.service import ServiceContext, run

from .account import AccountDesk
from .lookup import Lookups
from .marketdata import MarketData
from .orders import OrderDesk

log = structlog.get_logger()
VERSION = "0.1.0"


class Connection:
    def __init__(self, ctx: ServiceContext, alias: str, *, heartbeat: float, dead_after: float) -> None:
        assert ctx.config is not None
        account = ctx.config.account(alias)
        if account.broker is not Broker.IB or account.ib is None:
            raise ConfigError(f"accounts.{alias}.broker", "janus-ib-gateway serves IB accounts only")
        self.ctx = ctx
        self.alias = alias
        self.conn = account.ib
        self.ib = IB()
        self.ib.RaiseRequestErrors = False
        self.ready = asyncio.Event()
        self.heartbeat = heartbeat
        self.dead_after = dead_after
        self.account_number = account.ib.account or ""
        self.orders: OrderDesk | None = None
        self.accounts: AccountDesk | None = None
        self.market: MarketData | None = None
        self._down = asyncio.Event()

    async def state(self, state: ConnectionState, detail: str = "", code: int | None = None) -> None:
        log.info("gateway_state", state=str(state), detail=detail, code=code)
        with contextlib.suppress(bus.BusError):
            await bus.publish(self.ctx.js, subjects.evt_account(self.alias),
                              GatewayConnection(account=self.alias, broker=Broker.IB, state=state, detail=clip(detail),
                                                code=code))

    def _on_error(self, req_id: int, code: int, text: str, contract) -> None:
        # Connectivity and farm notices change what we tell the rest of Janus.
        if code in (1100, 2103, 2105, 2157):
            asyncio.ensure_future(self.state(ConnectionState.DEGRADED, text, code))
        elif code in (1101, 1102, 2104, 2106, 2158) and self.ready.is_set():
            asyncio.ensure_future(self.state(ConnectionState.READY, text, code))
            if code in (1101, 2104) and self.market is not None:
                asyncio.ensure_future(self.market.restore())

    async def run(self) -> None:
        delay = 0.5
        self.ib.disconnectedEvent += self._down.set
        self.ib.errorEvent += self._on_error
        while not self.ctx.stopping.is_set():
            await self.state(ConnectionState.CONNECTING, f"{self.conn.host}:{self.conn.port}")
            self._down.clear()
            try:
                await self.ib.connectAsync(self.conn.host, self.conn.port, clientId=self.conn.client_id,
                                           timeout=self.conn.connect_timeout_s, account=self.account_number)
            except (OSError, asyncio.TimeoutError, ConnectionError) as exc:
                await self.state(ConnectionState.DISCONNECTED, f"connect failed: {type(exc).__name__}")
                self.ib.disconnect()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            delay = 0.5
            if not self.account_number:
                self.account_number = self.ib.managedAccounts()[0]
            await self.state(ConnectionState.RECONCILING)
            try:
                assert self.orders and self.accounts
                self.orders.account_number = self.accounts.account_number = self.account_number
                open_orders = await self.orders.reconcile()
                await self.accounts.publish(force=True)
                if self.market is not None:
                    await self.market.restore()
            except Exception as exc:
                log.exception("reconcile_failed")
                await self.state(ConnectionState.DISCONNECTED, f"reconcile failed: {type(exc).__name__}")
                self.ib.disconnect()
                continue
            self.ready.set()
            await self.state(ConnectionState.READY, f"{open_orders} open orders after reconcile")
            await self._watch()
            self.ready.clear()
            self.ib.disconnect()
            await self.state(ConnectionState.DISCONNECTED, "connection lost")

    async def _watch(self) -> None:
        """Until the socket drops, or IB stops answering within ``dead_after`` seconds."""
        while not self._down.is_set() and not self.ctx.stopping.is_set():
            try:
                await asyncio.wait_for(self._down.wait(), self.heartbeat)
                return
            except asyncio.TimeoutError:
                pass
            try:
                await asyncio.wait_for(self.ib.reqCurrentTimeAsync(), self.dead_after)
            except (asyncio.TimeoutError, ConnectionError):
                log.warning("ib_connection_dead", waited=self.dead_after)
                return


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--account", required=True, help="the account alias in config.yaml")
    parser.add_argument("--heartbeat", type=float, default=5.0, help="seconds between liveness checks")
    parser.add_argument("--dead-after", type=float, default=5.0, help="reqCurrentTime bound in seconds")
    parser.add_argument("--route-ack-wait", type=float, default=15.0,
                        help="seconds before a route message held by a dead gateway is delivered again")


async def setup(ctx: ServiceContext) -> None:
    assert ctx.config is not None
    alias = ctx.args.account
    conn = Connection(ctx, alias, heartbeat=ctx.args.heartbeat, dead_after=ctx.args.dead_after)
    conn.orders = OrderDesk(conn.ib, ctx.js, alias, conn.account_number, conn.ready,
                            ack_timeout=min(10.0, ctx.args.route_ack_wait * 0.8))
    conn.accounts = AccountDesk(conn.ib, ctx.js, alias, conn.account_number)
    lookups = Lookups(conn.ib, conn.ready)
    if ctx.config.market_data_account == alias:
        conn.market = MarketData(conn.ib, ctx.nc, lookups, conn.ready)
        conn.market.attach()
        await ctx.add_rpc("md-subscribe", subjects.RPC_MD_SUBSCRIBE, MD_REQUEST, conn.market.handle)
    await conn.orders.rebuild()
    conn.orders.attach()
    conn.accounts.attach()
    ctx.spawn(conn.orders.work(), "order-events")
    ctx.spawn(conn.accounts.work(), "account-events")
    ctx.spawn(conn.run(), "ib-connection")

    async def sync(req):
        if not conn.ready.is_set():
            from janus_common.messages import RejectReason, RpcError
            return RpcError(reason=RejectReason.BROKER_UNAVAILABLE, message="the IB gateway is not connected")
        trades = await conn.ib.reqAllOpenOrdersAsync()
        return SyncDone(account=alias, open_orders=len(trades))

    await ctx.add_rpc("lookup", subjects.rpc_lookup("ib"), LOOKUP_REQUEST, lookups.handle,
                      queue_group="janus-ib-lookup")
    await ctx.add_rpc("sync", subjects.rpc_sync(alias), SYNC_REQUEST, sync)

    async def bad_route(msg, exc: MessageDecodeError) -> None:
        log.error("route_undecodable", subject=msg.subject, reason=exc.reason)

    await ctx.add_consumer(bus.Consumer(
        ctx.js, stream="ROUTES", durable=f"ib-gateway-{alias}", filter_subject=subjects.route("ib", alias),
        codec=ROUTES, handler=conn.orders.handle_route, on_decode_error=bad_route, max_ack_pending=1,
        batch=1, ack_wait=ctx.args.route_ack_wait, max_deliver=-1, retry_delay=1.0))

    async def stopping() -> None:
        conn.ib.disconnect()

    ctx.on_stop(stopping)


def main(argv: list[str] | None = None) -> int:
    return run("janus-ib-gateway", VERSION, setup, description="Janus IB gateway", argv=argv,
               add_arguments=_arguments, metadata_from_args=lambda a: {"account": a.account})


if __name__ == "__main__":
    sys.exit(main())
