"""janus-webull-gateway --config config.yaml --account ALIAS

One Webull account alias on NATS through the official SDK (blocking: every call on a thread).
The connection loop builds the SDK clients and checks the account (backing off on failure),
reconciles (polls what was open, publishes positions), opens the gate for route messages, and
keeps the trade-event stream subscribed: when it ends — or goes quiet past the ping deadline —
it is re-subscribed with backoff, and REST polling of open orders covers whatever it missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time

import msgspec
import structlog

from janus_common import bus, subjects
from janus_common.config import ConfigError
from janus_common.messages import (
    LOOKUP_REQUEST,
    ROUTES,
    SYNC_REQUEST,
    Broker,
    ConnectionState,
    GatewayConnection,
    MessageDecodeError,
    OrderBrokerRejected,
    RejectReason,
    RpcError,
    SyncDone,
    clip,
)
from janus_common.service import ServiceContext, run

from .account import AccountDesk
from .lookup import Lookups
from .orders import OrderDesk
from .webull_api import EventStream, WebullApi, WebullError

log = structlog.get_logger()
VERSION = "0.1.0"


def token_dir(alias: str) -> str:
    """Webull tokens (when the account requires them) never land in the working directory."""
    base = os.environ.get("JANUS_WEBULL_TOKEN_DIR") or os.path.join(tempfile.gettempdir(), "janus-webull-tokens")
    path = os.path.join(base, alias)
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


class Connection:
    def __init__(self, ctx: ServiceContext, alias: str, *, stream_dead_after: float) -> None:
        assert ctx.config is not None
        account = ctx.config.account(alias)
        if account.broker is not Broker.WEBULL or account.webull is None:
            raise ConfigError(f"accounts.{alias}.broker", "janus-webull-gateway serves Webull accounts only")
        self.ctx = ctx
        self.alias = alias
        self.conn = account.webull
        self.api = WebullApi(self.conn, token_dir(alias))
        self.ready = asyncio.Event()
        self.stream_dead_after = stream_dead_after
        self.orders = OrderDesk(self.api, ctx.js, alias, self.ready)
        self.accounts = AccountDesk(self.orders, ctx.js, alias)
        self.orders.on_fill = self.accounts.dirty.set
        self.stream: EventStream | None = None
        self.stream_up = False
        self._stream_ended = asyncio.Event()
        self._last_heard = 0.0
        self._degraded = ""

    async def state(self, state: ConnectionState, detail: str = "") -> None:
        log.info("gateway_state", state=str(state), detail=detail)
        with contextlib.suppress(bus.BusError):
            await bus.publish(self.ctx.js, subjects.evt_account(self.alias),
                              GatewayConnection(account=self.alias, broker=Broker.WEBULL, state=state, detail=clip(detail)))

    async def run(self) -> None:
        delay = 0.5
        while not self.ctx.stopping.is_set():
            await self.state(ConnectionState.CONNECTING, f"{self.conn.host}:{self.conn.port}")
            try:
                account_id = await asyncio.to_thread(self.api.connect)
                await self.state(ConnectionState.RECONCILING, f"account {account_id}")
                open_orders = await self._reconcile()
            except Exception as exc:  # Webull unreachable, or NATS refusing a publish: start again
                detail = (f"Webull unreachable: {exc.http_status} {exc.code}" if isinstance(exc, WebullError)
                          else f"reconcile failed: {type(exc).__name__}")
                if not isinstance(exc, WebullError):
                    log.exception("reconcile_failed")
                await self.state(ConnectionState.DISCONNECTED, detail)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            delay = 0.5
            self.ready.set()
            await self.state(ConnectionState.READY, f"{open_orders} open orders after reconcile")
            await self._keep_stream()
            return

    async def _reconcile(self) -> int:
        await self.orders.poll()
        await self.orders.release_deferred()
        await self.accounts.publish(force=True)
        return len(self.orders.open_keys())

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

        def on_event(payload: dict) -> None:
            loop.call_soon_threadsafe(heard)
            loop.call_soon_threadsafe(queue.put_nowait, payload)

        def on_end(reason: str) -> None:
            log.info("event_stream_ended", reason=reason)
            with contextlib.suppress(RuntimeError):  # the loop is gone at shutdown
                loop.call_soon_threadsafe(ended.set)

        self._last_heard = time.monotonic()
        self.stream = EventStream(self.conn, self.api.account_id, on_connect=on_connect, on_event=on_event,
                                  on_ping=lambda: loop.call_soon_threadsafe(heard), on_end=on_end)
        self.stream.start()

    async def _keep_stream(self) -> None:
        delay = 0.2
        while not self.ctx.stopping.is_set():
            self.stream_up = False
            self._start_stream()
            while not self.ctx.stopping.is_set():
                try:
                    await asyncio.wait_for(self._stream_ended.wait(), min(1.0, self.stream_dead_after / 2))
                    break
                except asyncio.TimeoutError:
                    pass
                if self.stream_up:
                    delay = 0.2
                    if self._degraded:
                        self._degraded = ""
                        await self.state(ConnectionState.READY, "event stream subscribed")
                if time.monotonic() - self._last_heard > self.stream_dead_after:
                    # Not even a ping: the subscription is dead though its socket may be open.
                    log.warning("event_stream_silent", seconds=self.stream_dead_after)
                    assert self.stream is not None
                    self.stream.close()
                    await self._stream_ended.wait()
                    break
            if self.ctx.stopping.is_set():
                return
            if not self._degraded:
                self._degraded = "event stream down; polling"
                await self.state(ConnectionState.DEGRADED, self._degraded)
            try:
                await self.orders.poll()  # what happened while the stream was away
            except Exception as exc:  # the poller tries again on its own schedule
                log.warning("poll_after_stream_loss_failed", error=type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    def stop(self) -> None:
        if self.stream is not None:
            self.stream.close()


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--account", required=True, help="the account alias in config.yaml")
    parser.add_argument("--stream-dead-after", type=float, default=30.0,
                        help="seconds without a ping or event before the event stream is re-subscribed")
    parser.add_argument("--ack-wait", type=float, default=30.0,
                        help="seconds before an unacknowledged route message (a crashed gateway) is redelivered")


def _intent_of(data: bytes) -> str | None:
    with contextlib.suppress(Exception):
        raw = msgspec.msgpack.decode(data)
        if isinstance(raw, dict) and isinstance(raw.get("intent_id"), str):
            return raw["intent_id"]
    return None


async def setup(ctx: ServiceContext) -> None:
    assert ctx.config is not None
    alias = ctx.args.account
    conn = Connection(ctx, alias, stream_dead_after=ctx.args.stream_dead_after)
    await conn.orders.rebuild()
    ctx.spawn(conn.orders.work(), "order-events")
    ctx.spawn(conn.accounts.work(conn.ready), "account-events")

    failures = 0

    async def polled(ok: bool) -> None:
        # REST failing poll after poll (after the call's own retries) is news for the rest of Janus.
        nonlocal failures
        if ok and failures >= 3:
            await conn.state(ConnectionState.READY, "Webull REST answering again")
        failures = 0 if ok else failures + 1
        if failures == 3:
            await conn.state(ConnectionState.DEGRADED, "Webull REST failing; orders retried")

    ctx.spawn(conn.orders.poll_forever(conn.conn.poll_interval_s, conn.ready, polled), "order-poll")
    ctx.spawn(conn.run(), "webull-connection")
    lookups = Lookups(conn.orders, conn.ready)

    async def sync(req):
        if not conn.ready.is_set():
            return RpcError(reason=RejectReason.BROKER_UNAVAILABLE, message="the Webull gateway is not connected")
        try:
            groups = await conn.orders.call(conn.api.open_orders)
            await conn.orders.poll()
        except WebullError as exc:
            return RpcError(reason=RejectReason.BROKER_UNAVAILABLE, message=f"Webull unavailable: {exc.code}")
        conn.accounts.dirty.set()
        return SyncDone(account=alias, open_orders=len(groups))

    await ctx.add_rpc("lookup", subjects.rpc_lookup("webull"), LOOKUP_REQUEST, lookups.handle,
                      queue_group="janus-webull-lookup")
    await ctx.add_rpc("sync", subjects.rpc_sync(alias), SYNC_REQUEST, sync)

    async def bad_route(msg, exc: MessageDecodeError) -> None:
        # The message itself goes to the dead-letter subject; if it names an intent, that intent
        # gets a typed rejection so whoever waits on it learns why.
        log.error("route_undecodable", subject=msg.subject, reason=exc.reason)
        intent_id = _intent_of(msg.data)
        if intent_id:
            await bus.publish(ctx.js, subjects.evt_order(alias), OrderBrokerRejected(
                account=alias, intent_id=intent_id, broker=Broker.WEBULL, code=str(RejectReason.MALFORMED),
                text=f"route message not understood: {exc.reason}"))

    await ctx.add_consumer(bus.Consumer(
        ctx.js, stream="ROUTES", durable=f"webull-gateway-{alias}", filter_subject=subjects.route("webull", alias),
        codec=ROUTES, handler=conn.orders.handle_route, on_decode_error=bad_route, max_ack_pending=1,
        batch=1, ack_wait=ctx.args.ack_wait, max_deliver=-1, retry_delay=1.0))

    async def stopping() -> None:
        conn.stop()

    ctx.on_stop(stopping)


def main(argv: list[str] | None = None) -> int:
    return run("janus-webull-gateway", VERSION, setup, description="Janus Webull gateway", argv=argv,
               add_arguments=_arguments, metadata_from_args=lambda a: {"account": a.account})


if __name__ == "__main__":
    sys.exit(main())
