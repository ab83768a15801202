"""The trade-event stream: ``grpc.trade.event.EventService/Subscribe`` on grpc.aio.

The SDK's own generated protobuf classes are reused; the service is a generic handler so no
proto is copied here.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import grpc
import structlog
import webull.trade.events.events_pb2 as pb

from janus_webull_sim.engine import OrderEvent
from janus_webull_sim.errors import AuthError
from janus_webull_sim.faults import Faults
from janus_webull_sim.signing import Verifier

log = structlog.get_logger("webull-sim.grpc")

EVENT_TYPE_ORDER = 1024
ORDER_STATUS_CHANGED = 1  # subscribeType bit for order events
_DROP = object()


@dataclass(eq=False)
class Subscriber:
    accounts: frozenset[str]
    subscribe_type: int
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)


class EventHub:
    """Fans order events out to the live subscriptions of their account."""

    def __init__(self, faults: Faults):
        self._faults = faults
        self.subscribers: set[Subscriber] = set()
        self.subscribe_count = 0  # successful subscriptions so far (reconnects show here)
        self.changed = asyncio.Condition()

    def publish(self, events: list[OrderEvent]) -> None:
        if self._faults.stream_silent:
            return  # silently lost: only REST polling shows what happened
        for ev in events:
            for sub in self.subscribers:
                if ev.account_id in sub.accounts and sub.subscribe_type & ORDER_STATUS_CHANGED:
                    sub.queue.put_nowait(ev)

    def drop_all(self) -> int:
        for sub in self.subscribers:
            sub.queue.put_nowait(_DROP)
        return len(self.subscribers)

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()


def _now_ms() -> int:
    return int(time.time() * 1000)


class EventService:
    def __init__(self, hub: EventHub, verifier: Verifier, faults: Faults, known_accounts: Callable[[], set[str]],
                 ping_interval: Callable[[], float]):
        self._hub = hub
        self._verifier = verifier
        self._faults = faults
        self._known_accounts = known_accounts
        self._ping_interval = ping_interval

    async def subscribe(self, request: pb.SubscribeRequest, context: grpc.aio.ServicerContext) -> AsyncIterator[pb.SubscribeResponse]:
        metadata = {k.lower(): v for k, v in context.invocation_metadata() if isinstance(v, str)}
        try:
            self._verifier.verify_grpc(metadata, request.SerializeToString(), time.time())
        except AuthError as exc:
            log.warning("subscribe_rejected", reason=exc.error_code)
            yield pb.SubscribeResponse(eventType=pb.AuthError, subscribeType=request.subscribeType,
                                       contentType="text/plain", payload=exc.message, timestamp=_now_ms())
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, exc.message)
        accounts = frozenset(request.accounts)
        unknown = accounts - self._known_accounts()
        if not accounts or unknown:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"unknown or missing accounts: {sorted(unknown)}")
        if self._faults.stream_down:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "event service unavailable (simulated)")
        sub = Subscriber(accounts, request.subscribeType)
        self._hub.subscribers.add(sub)
        self._hub.subscribe_count += 1
        log.info("subscribed", accounts=sorted(accounts), subscribe_type=request.subscribeType)
        try:
            yield pb.SubscribeResponse(eventType=pb.SubscribeSuccess, subscribeType=request.subscribeType,
                                       contentType="text/plain", payload="subscribe success",
                                       requestId=f"sub-{self._hub.subscribe_count}", timestamp=_now_ms())
            await self._hub._notify()
            while True:
                try:
                    item = await asyncio.wait_for(sub.queue.get(), self._ping_interval())
                except asyncio.TimeoutError:
                    if self._faults.stream_silent and self._faults.stream_silent_pings:
                        continue
                    yield pb.SubscribeResponse(eventType=pb.Ping, subscribeType=request.subscribeType,
                                               contentType="text/plain", payload="ping", timestamp=_now_ms())
                    continue
                if item is _DROP:
                    log.info("stream_dropped", accounts=sorted(accounts))
                    await context.abort(grpc.StatusCode.UNAVAILABLE, "stream dropped (simulated)")
                yield pb.SubscribeResponse(
                    eventType=EVENT_TYPE_ORDER, subscribeType=ORDER_STATUS_CHANGED,
                    contentType="application/json", payload=json.dumps(item.payload),
                    requestId=item.payload["request_id"], timestamp=_now_ms())
        finally:
            self._hub.subscribers.discard(sub)
            await self._hub._notify()


async def start_grpc_server(service: EventService, host: str, port: int) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler("grpc.trade.event.EventService", {
        "Subscribe": grpc.unary_stream_rpc_method_handler(
            service.subscribe,
            request_deserializer=pb.SubscribeRequest.FromString,
            response_serializer=pb.SubscribeResponse.SerializeToString,
        ),
    })
    server.add_generic_rpc_handlers((handler,))
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind gRPC port {host}:{port}")
    await server.start()
    return server, bound
