"""What wires a gateway service together, once for every broker: its flags, the route consumer
with the one undecodable-route policy, the ``sync`` and ``lookup`` RPCs, and rebuilding from
EVENTS."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import msgspec
import nats.js.errors
import structlog

from janus_common import bus, memory, ratelimit, subjects
from janus_common.messages import (
    clip,
    LOOKUP_REQUEST,
    ORDER_EVENTS,
    ROUTES,
    SYNC_REQUEST,
    Broker,
    LookupReply,
    LookupRequest,
    MessageDecodeError,
    OrderGatewayRefused,
    RejectReason,
    RpcError,
    SyncDone,
    SyncReply,
)
from janus_common.service import ServiceContext
from janus_common.streams import EVENTS_STREAM, ROUTES_STREAM

from .adapter import AdapterError
from .emit import Emitter
from .lifecycle import Lifecycle
from .routes import RouteDesk, RouteSettings

__all__ = ["add_arguments", "namespace", "rebuild", "resync_after_outages", "route_settings", "serve_routes",
           "serve_rpcs"]

log = structlog.get_logger()

ROUTE_ACK_WAIT_S = 15.0
MAX_ROUTE_AGE_S = 60.0
ROUTE_WINDOW = 64  # route messages one gateway holds at once (places queue locally, cancels pass)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags every gateway takes (a gateway adds its broker's own after these)."""
    parser.add_argument("--account", required=True, help="the account alias in config.yaml")
    # --ack-wait is the Webull gateway's former name for it, still accepted.
    parser.add_argument("--route-ack-wait", "--ack-wait", dest="route_ack_wait", type=float,
                        default=ROUTE_ACK_WAIT_S,
                        help="seconds before a route message held by a dead gateway is delivered again")
    parser.add_argument("--max-route-age", dest="max_route_age", type=float, default=MAX_ROUTE_AGE_S,
                        help="a place older than this (seconds) is refused STALE instead of placed late; 0: never")


def namespace(extra: Callable[[argparse.ArgumentParser], None] | None = None, **values: Any) -> argparse.Namespace:
    """The flags' defaults with ``values`` set (for embedding a gateway, e.g. in tests)."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    if extra is not None:
        extra(parser)
    args = parser.parse_args(["--account", str(values.get("account", "-"))])
    for key, value in values.items():
        setattr(args, key, value)
    return args


def route_settings(args: argparse.Namespace) -> RouteSettings:
    return RouteSettings(max_route_age_s=args.max_route_age, keepalive_s=max(0.5, args.route_ack_wait / 3))


async def rebuild(ctx: ServiceContext, alias: str, *folds: Callable[[Any], None]) -> int:
    """Fold the account's order events (everything already published) through each fold."""
    with memory.no_gc():  # the account's whole order history: many objects, no cycles
        events = await bus.history(ctx.js, EVENTS_STREAM, subjects.evt_order(alias), ORDER_EVENTS)
        for event in events:
            for fold in folds:
                fold(event)
    log.info("order_state_rebuilt", events=len(events))
    return len(events)


def resync_after_outages(ctx: ServiceContext, life: Lifecycle, emitter: Emitter) -> None:
    """After a NATS reconnect, or an event JetStream never acknowledged, the gateway reconciles
    with its broker again while connected: what happened meanwhile is published then."""
    ctx.on_reconnect(life.resync)
    emitter.on_failure = life.resync


def _named_order(data: bytes) -> tuple[str, int] | None:
    """(intent id, leg) of an undecodable route message, when its bytes still say them."""
    with contextlib.suppress(Exception):
        raw = msgspec.msgpack.decode(data)
        if isinstance(raw, dict) and isinstance(raw.get("intent_id"), str) and raw["intent_id"]:
            leg = raw.get("leg", 0)
            return raw["intent_id"], leg if isinstance(leg, int) and leg >= 0 else 0
    return None


async def serve_routes(ctx: ServiceContext, alias: str, broker: Broker, desk: RouteDesk, *,
                       ack_wait: float) -> bus.Consumer:
    async def undecodable(msg: Any, exc: MessageDecodeError) -> None:
        # One policy for every broker: the message goes to the dead letters (the consumer does
        # that) and, if it still names an intent, that intent is refused so whoever waits on it
        # learns why instead of timing out.
        log.error("route_undecodable", subject=msg.subject, reason=exc.reason)
        named = _named_order(msg.data)
        if named is not None:
            intent_id, leg = named
            await desk.emitter.emit(f"refused:{intent_id}:{leg}:malformed", OrderGatewayRefused(
                account=alias, intent_id=intent_id, broker=broker, leg=leg, reason=RejectReason.MALFORMED,
                text=clip(f"route message not understood: {exc.reason}")))

    durable = f"{broker}-gateway-{alias}"
    consumer = bus.Consumer(
        ctx.js, stream=ROUTES_STREAM, durable=durable, filter_subject=subjects.route(broker, alias),
        codec=ROUTES, handler=desk.handle, on_decode_error=undecodable, handler_acks=True,
        # Several in flight: cancels must get past a place that is stuck (the desk orders places).
        max_ack_pending=ROUTE_WINDOW, batch=8, ack_wait=ack_wait, max_deliver=-1, retry_delay=1.0)
    desk.dead_letter = consumer.dead_letter
    ctx.spawn(desk.work(), "route-desk")
    await ctx.add_consumer(consumer)
    return consumer


async def serve_rpcs(ctx: ServiceContext, alias: str, broker: Broker, ready: Any, *,
                     lookup: Callable[[LookupRequest], Awaitable[LookupReply]],
                     sync: Callable[[], Awaitable[int]], names: Iterable[str] = ("lookup", "sync")) -> None:
    async def sync_handler(_req: Any) -> SyncReply:
        if not ready.is_set():
            return RpcError(reason=RejectReason.BROKER_UNAVAILABLE, message=f"the {broker} gateway is not connected")
        try:
            return SyncDone(account=alias, open_orders=await sync())
        except AdapterError as exc:
            return RpcError(reason=RejectReason.BROKER_UNAVAILABLE, message=exc.detail)

    if "lookup" in names:
        await ctx.add_rpc("lookup", subjects.rpc_lookup(str(broker)), LOOKUP_REQUEST, lookup,
                          queue_group=f"janus-{broker}-lookup",
                          limit=ratelimit.limiter("lookup", ratelimit.rate_limits(ctx.config).broker_lookups, ctx.config))
    if "sync" in names:
        await ctx.add_rpc("sync", subjects.rpc_sync(alias), SYNC_REQUEST, sync_handler)
