"""janus-paper-gateway --config config.yaml --account ALIAS

A ``broker: paper`` account on the gateway kernel: the kernel's lifecycle, route desk, account
publisher, order book and tracker core around :class:`~.adapter.PaperAdapter`. The wiring below
(and :mod:`.desk`) is what any adapter-only gateway needs; it belongs in the kernel.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from janus_common.config import ConfigError, PaperSettings
from janus_common.messages import Broker, ConnectionState
from janus_common.service import ServiceContext, run
from janus_gateway import kernel
from janus_gateway.account import AccountPublisher
from janus_gateway.adapter import ConnectionNotice, NoticeKind
from janus_gateway.emit import Emitter
from janus_gateway.lifecycle import Lifecycle
from janus_gateway.routes import RouteDesk

from .adapter import PaperAdapter
from .desk import AdapterDesk

NAME = "janus-paper-gateway"
VERSION = "0.1.0"


def _arguments(parser: argparse.ArgumentParser) -> None:
    kernel.add_arguments(parser)


async def setup(ctx: ServiceContext) -> None:
    assert ctx.config is not None
    alias = ctx.args.account
    account = ctx.config.account(alias)
    if account.broker is not Broker.PAPER:
        raise ConfigError(f"accounts.{alias}.broker", f"{NAME} serves paper accounts only")
    adapter = PaperAdapter(ctx.nc, ctx.js, alias, account.paper or PaperSettings())
    life = Lifecycle(ctx.js, alias, Broker.PAPER, ctx.stopping)
    emitter = Emitter(ctx.js, alias)
    publisher = AccountPublisher(ctx.js, alias, Broker.PAPER, positions=adapter.positions,
                                 values=adapter.account_values)

    def on_notice(notice: ConnectionNotice) -> None:
        if notice.kind is NoticeKind.ACCOUNT_CHANGED:
            publisher.changed()
        else:
            state = ConnectionState.DEGRADED if notice.kind is NoticeKind.DEGRADED else ConnectionState.READY
            asyncio.ensure_future(life.notice(state, notice.detail, notice.code))

    desk = AdapterDesk(adapter, emitter, alias, on_notice=on_notice)
    routes = RouteDesk(desk, emitter, Broker.PAPER, life.ready, kernel.route_settings(ctx.args))

    async def reconcile() -> int:
        open_orders = await adapter.reconcile(frozenset(desk.tracks))
        await publisher.publish(force=True)
        return open_orders

    await kernel.rebuild(ctx, alias, desk.replay, routes.replay, adapter.replay)
    ctx.spawn(desk.work(), "order-events")
    ctx.spawn(publisher.work(life.ready), "account-events")
    ctx.spawn(life.run(adapter, reconcile, f"paper book of {alias}"), "paper-connection")
    await kernel.serve_rpcs(ctx, alias, Broker.PAPER, life.ready, lookup=adapter.lookup, sync=adapter.open_orders,
                            names=("sync",))
    await kernel.serve_routes(ctx, alias, Broker.PAPER, routes, ack_wait=ctx.args.route_ack_wait)
    ctx.on_stop(adapter.disconnect)


def main(argv: list[str] | None = None) -> int:
    return run(NAME, VERSION, setup, description="Janus paper broker gateway", argv=argv,
               add_arguments=_arguments, metadata_from_args=lambda a: {"account": a.account})


if __name__ == "__main__":
    sys.exit(main())
