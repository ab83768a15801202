"""janus-webull-gateway --config config.yaml --account ALIAS

One Webull account alias on NATS through the official SDK (blocking: every call on a thread), on
the gateway kernel (:mod:`janus_gateway`): the kernel's lifecycle connects (checks the account),
reconciles (polls what was open, publishes positions) and opens the gate for route messages; the
watch here keeps the trade-event stream subscribed: when it ends — or goes quiet past the ping
deadline — it is re-subscribed with backoff, and REST polling of open orders covers whatever it
missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import structlog

from janus_common.backoff import Backoff
from janus_common.config import ConfigError
from janus_common.messages import Broker, ConnectionState, Position
from janus_common.private import PrivatePathError, private_dir
from janus_common.service import ServiceContext, run
from janus_gateway import kernel
from janus_gateway.account import AccountPublisher
from janus_gateway.adapter import AccountValuesReport, BrokerUnavailable
from janus_gateway.emit import Emitter
from janus_gateway.lifecycle import Lifecycle
from janus_gateway.routes import RouteDesk

from .account import positions_of, values_of
from .lookup import Lookups
from .orders import OrderDesk
from .webull_api import EventStream, WebullApi, WebullError

log = structlog.get_logger()
VERSION = "0.1.0"


def token_base() -> Path:
    """Where Webull tokens live: ``$JANUS_WEBULL_TOKEN_DIR`` (janus-run points it into
    ``.janus/``), else the user's runtime folder, else a per-user folder in the temp dir. Never
    a folder shared between users, and never the working directory."""
    if os.environ.get("JANUS_WEBULL_TOKEN_DIR"):
        return private_dir(os.environ["JANUS_WEBULL_TOKEN_DIR"])
    if os.environ.get("XDG_RUNTIME_DIR"):
        return private_dir(Path(os.environ["XDG_RUNTIME_DIR"]) / "janus-webull-tokens")
    # The per-user folder is checked too: someone else may have made /tmp/janus-<uid> first.
    return private_dir(private_dir(Path(tempfile.gettempdir()) / f"janus-{os.geteuid()}") / "webull-tokens")


def token_dir(alias: str) -> str:
    """The account's own token folder, 0700 and ours (the SDK keeps a bearer token there)."""
    try:
        return str(private_dir(token_base() / alias))
    except PrivatePathError as exc:
        raise ConfigError("JANUS_WEBULL_TOKEN_DIR", f"the Webull token folder is not private: {exc}") from exc


class WebullConnection:
    """The Webull session the kernel's lifecycle drives: connecting checks the account; watching
    keeps the trade-event stream subscribed (and polls over its gaps) until the service stops."""

    def __init__(self, ctx: ServiceContext, alias: str, life: Lifecycle, orders: OrderDesk, api: WebullApi,
                 *, stream_dead_after: float) -> None:
        self.stopping = ctx.stopping
        self.life = life
        self.orders = orders
        self.api = api
        self.conn = api.conn
        self.stream_dead_after = stream_dead_after
        self.stream: EventStream | None = None
        self.stream_up = False
        self._stream_ended = asyncio.Event()
        self._last_heard = 0.0
        self._degraded = ""

    @property
    def where(self) -> str:
        return f"{self.conn.host}:{self.conn.port}"

    async def connect(self) -> str:
        try:
            return f"account {await asyncio.to_thread(self.api.connect)}"
        except WebullError as exc:
            raise BrokerUnavailable(f"Webull unreachable: {exc.http_status} {exc.code}") from None

    async def watch(self) -> str:
        await self._keep_stream()
        return "stopping"

    async def disconnect(self) -> None:
        if self.stream is not None:
            self.stream.close()

    # --- the trade-event stream ---------------------------------------------------------------
    def _start_stream(self) -> None:
        loop = asyncio.get_running_loop()
        ended = self._stream_ended
        ended.clear()
        queue = self.orders.queue

        def heard() -> None:
            self._last_heard = time.monotonic()

        def on_connect() -> None:
            loop.call_soon_threadsafe(heard)
            loop.call_soon_threadsafe(lambda: setattr(self, "stream_up", True))

        def on_ping() -> None:
            loop.call_soon_threadsafe(heard)

        def on_event(payload: dict[str, Any]) -> None:
            loop.call_soon_threadsafe(heard)
            loop.call_soon_threadsafe(queue.put_nowait, payload)

        def on_end(reason: str) -> None:
            log.info("event_stream_ended", reason=reason)
            with contextlib.suppress(RuntimeError):  # the loop is gone at shutdown
                loop.call_soon_threadsafe(ended.set)

        self._last_heard = time.monotonic()
        self.stream = EventStream(self.conn, self.api.account_id, on_connect=on_connect, on_event=on_event,
                                  on_ping=on_ping, on_end=on_end)
        self.stream.start()

    async def _keep_stream(self) -> None:
        pause = Backoff(initial=0.2, cap=10.0)
        while not self.stopping.is_set():
            self.stream_up = False
            self._start_stream()
            while not self.stopping.is_set():
                try:
                    await asyncio.wait_for(self._stream_ended.wait(), min(1.0, self.stream_dead_after / 2))
                    break
                except asyncio.TimeoutError:
                    pass
                if self.stream_up:
                    pause.reset()
                    if self._degraded:
                        self._degraded = ""
                        await self.life.state(ConnectionState.READY, "event stream subscribed")
                if time.monotonic() - self._last_heard > self.stream_dead_after:
                    # Not even a ping: the subscription is dead though its socket may be open.
                    log.warning("event_stream_silent", seconds=self.stream_dead_after)
                    assert self.stream is not None
                    self.stream.close()
                    await self._stream_ended.wait()
                    break
            if self.stopping.is_set():
                return
            if not self._degraded:
                self._degraded = "event stream down; polling"
                await self.life.state(ConnectionState.DEGRADED, self._degraded)
            try:
                await self.orders.poll()  # what happened while the stream was away
            except Exception as exc:  # the poller tries again on its own schedule
                log.warning("poll_after_stream_loss_failed", error=type(exc).__name__)
            await pause.sleep(self.stopping)


def _arguments(parser: argparse.ArgumentParser) -> None:
    kernel.add_arguments(parser)
    webull_arguments(parser)


def webull_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stream-dead-after", type=float, default=30.0,
                        help="seconds without a ping or event before the event stream is re-subscribed")


async def setup(ctx: ServiceContext) -> None:
    assert ctx.config is not None
    alias = ctx.args.account
    account = ctx.config.account(alias)
    if account.broker is not Broker.WEBULL or account.webull is None:
        raise ConfigError(f"accounts.{alias}.broker", "janus-webull-gateway serves Webull accounts only")
    api = WebullApi(account.webull, token_dir(alias))
    life = Lifecycle(ctx.js, alias, Broker.WEBULL, ctx.stopping)
    emitter = Emitter(ctx.js, alias)
    orders = OrderDesk(api, emitter, alias)
    routes = RouteDesk(orders, emitter, Broker.WEBULL, life.ready, kernel.route_settings(ctx.args))
    kernel.resync_after_outages(ctx, life, emitter)
    orders.refuse = routes.refuse
    publisher = AccountPublisher(
        ctx.js, alias, Broker.WEBULL,
        positions=lambda: _positions(orders, api),
        values=lambda: _values(orders, api))
    orders.on_fill = publisher.changed
    conn = WebullConnection(ctx, alias, life, orders, api, stream_dead_after=ctx.args.stream_dead_after)

    async def reconcile() -> int:
        await orders.poll()
        await orders.release_deferred()
        await publisher.publish(force=True)
        return len(orders.open_keys())

    await kernel.rebuild(ctx, alias, orders.replay, routes.replay)
    orders.defer_unplaced()
    ctx.spawn(orders.work(), "order-events")
    ctx.spawn(publisher.work(life.ready), "account-events")

    failures = 0

    async def polled(ok: bool) -> None:
        # REST failing poll after poll (after the call's own retries) is news for the rest of Janus.
        nonlocal failures
        if ok and failures >= 3:
            await life.state(ConnectionState.READY, "Webull REST answering again")
        failures = 0 if ok else failures + 1
        if failures == 3:
            await life.state(ConnectionState.DEGRADED, "Webull REST failing; orders retried")

    ctx.spawn(orders.poll_forever(account.webull.poll_interval_s, life.ready, polled), "order-poll")
    ctx.spawn(life.run(conn, reconcile, conn.where), "webull-connection")
    lookups = Lookups(orders, life.ready)

    async def sync() -> int:
        try:
            groups = await orders.call(api.open_orders)
            await orders.poll()
        except WebullError as exc:
            raise BrokerUnavailable(f"Webull unavailable: {exc.code}") from None
        publisher.changed()
        return len(groups)

    await kernel.serve_rpcs(ctx, alias, Broker.WEBULL, life.ready, lookup=lookups.handle, sync=sync)
    await kernel.serve_routes(ctx, alias, Broker.WEBULL, routes, ack_wait=ctx.args.route_ack_wait)

    async def stopping() -> None:
        await conn.disconnect()

    ctx.on_stop(stopping)


async def _positions(orders: OrderDesk, api: WebullApi) -> list[Position]:
    return positions_of(await orders.call(api.positions))


async def _values(orders: OrderDesk, api: WebullApi) -> AccountValuesReport:
    return values_of(await orders.call(api.balance))


def main(argv: list[str] | None = None) -> int:
    return run("janus-webull-gateway", VERSION, setup, description="Janus Webull gateway", argv=argv,
               add_arguments=_arguments, metadata_from_args=lambda a: {"account": a.account})


if __name__ == "__main__":
    sys.exit(main())
