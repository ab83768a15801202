"""The NATS edge towards other services: gateway look-ups, gateway discovery, registry events."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import nats.errors
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

from janus_common.authz import SERVICE_NAMES
from janus_common import bus, subjects
from janus_common import messages as m
from janus_common.messages import Broker, MessageDecodeError, RejectReason
from janus_common.streams import EVENTS_STREAM
from janus_common.symbols import AssetClass

from .lookups import Failed, Outcome, classify

log = structlog.get_logger()

# The NATS micro names of the gateways that answer broker look-ups (answered on
# $SRV.PING.<name>). The paper broker looks nothing up: its symbols are IB's.
GATEWAY_SERVICES = {b: SERVICE_NAMES[b] for b in (Broker.IB, Broker.WEBULL)}  # brokers that answer look-ups


class Lookups:
    """Typed look-ups through ``janus.rpc.lookup.{broker}``; every failure is an Outcome."""

    def __init__(self, nc: NATS, timeout: float) -> None:
        self.nc = nc
        self.timeout = timeout

    async def lookup(self, broker: Broker, request: m.LookupRequest, symbol: str,
                     asset_class: AssetClass) -> Outcome:
        subject = subjects.rpc_lookup(broker)
        try:
            reply = await bus.request(self.nc, subject, request, m.LOOKUP_REPLY, timeout=self.timeout)
        except bus.RpcNoResponders:
            return Failed(RejectReason.BROKER_UNAVAILABLE, f"no {broker} gateway serves look-ups")
        except bus.RpcTimeout:
            return Failed(RejectReason.BROKER_UNAVAILABLE,
                          f"the {broker} look-up for {symbol} got no reply within {self.timeout}s")
        except MessageDecodeError as exc:
            return Failed(RejectReason.INTERNAL, f"the {broker} gateway answered garbage: {exc.reason}")
        except nats.errors.Error as exc:
            return Failed(RejectReason.BROKER_UNAVAILABLE, f"{broker} look-up: {type(exc).__name__}")
        return classify(reply, broker, symbol, asset_class)


async def connected_brokers(nc: NATS, timeout: float = 1.0) -> set[Broker]:
    """Broker types with at least one gateway process answering ``$SRV.PING``."""

    async def ping(broker: Broker) -> Broker | None:
        try:
            await nc.request(f"$SRV.PING.{GATEWAY_SERVICES[broker]}", b"", timeout=timeout)
        except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
            return None
        return broker

    found = await asyncio.gather(*(ping(b) for b in GATEWAY_SERVICES))
    return {b for b in found if b is not None}


class RegistryEvents:
    """Publishes this replica's writes on ``janus.evt.registry`` (the EVENTS stream keeps them)
    and hands every replica's writes, its own included, to ``apply``.

    Read from the EVENTS stream (an ordered consumer), not a core subscription: only what the
    stream stored counts, and under the bus permissions only the registry identity may publish
    ``janus.evt.registry``. From the new ones on: the cache is warmed from Postgres after this
    subscribes, so every earlier write is in that read already."""

    def __init__(self, nc: NATS, js: JetStreamContext) -> None:
        self.nc = nc
        self.js = js
        self._sub: JetStreamContext.PushSubscription | None = None

    async def publish(self, event: m.RegistryEntryWritten) -> None:
        try:
            await bus.publish(self.js, subjects.EVT_REGISTRY, event, msg_id=event.event_id)
        except (bus.BusError, nats.errors.Error) as exc:
            # The row is committed; peers still find it in Postgres on their next miss.
            log.warning("registry_event_publish_failed", symbol=event.record.symbol,
                        error=type(exc).__name__)

    async def subscribe(self, apply: Callable[[m.RegistryEntryWritten], Awaitable[None]]) -> None:
        async def on_msg(msg: Msg) -> None:
            try:
                event = m.REGISTRY_EVENTS.decode(msg.data, subject=msg.subject)
            except MessageDecodeError as exc:
                log.warning("registry_event_undecodable", reason=exc.reason, size=exc.size)
                return
            try:
                await apply(event)
            except Exception:  # one event must not stop the ordered consumer's callbacks
                log.exception("registry_event_failed", symbol=event.record.symbol)

        self._sub = await self.js.subscribe(subjects.EVT_REGISTRY, stream=EVENTS_STREAM, ordered_consumer=True,
                                            deliver_policy=DeliverPolicy.NEW, cb=on_msg)

    async def close(self) -> None:
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except nats.errors.Error:
                pass
