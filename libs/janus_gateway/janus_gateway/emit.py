"""Idempotent emission of a gateway's order events: one ``Nats-Msg-Id`` scheme for every
broker, so a republish after a crash (or a second observer saying the same thing) is dropped by
JetStream's duplicate window."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timezone

import structlog
from nats.js import JetStreamContext

from janus_common import bus, subjects
from janus_common.messages import GatewayOrderEvent, OrderEvent, OrderFilled
from janus_common.streams import EVENTS_STREAM, Topology

from . import metrics

__all__ = ["Emitter"]

log = structlog.get_logger()

# Until then a re-sent event is still inside EVENTS' duplicate window (counted from when the
# lost copy may have been stored, at most the whole retry before the failure was declared).
SAFE_IN_WINDOW_S = Topology().events_dedup_window_s - bus.PUBLISH_RETRY_S - bus.PUBLISH_TIMEOUT_S - 5.0


class Emitter:
    def __init__(self, js: JetStreamContext, alias: str) -> None:
        self.js = js
        self.alias = alias
        # One publisher at a time on the account's subject: the events of a subject are chained
        # (prev_hash), and two appends racing make one of them go out again.
        self._lock = asyncio.Lock()
        self.on_failure: Callable[[], None] | None = None
        self._unsure: dict[str, float] = {}  # msg id -> when its publish failed (it may be stored)

    def msg_id(self, local_id: str) -> str:
        """``local_id`` is unique within the account (e.g. ``fill:<execId>``, ``rej:<key>``)."""
        return f"{self.alias}:{local_id}"

    async def emit(self, local_id: str, event: OrderEvent) -> None:
        """Publish until JetStream acknowledges (``bus.publish`` retries with the same msg id).
        Raises :class:`~janus_common.bus.PublishFailed` if it never does; ``on_failure`` is told,
        so the gateway checks its broker against the history once the bus is back."""
        msg_id = self.msg_id(local_id)
        async with self._lock:
            if await self._stored_before(msg_id):
                log.info("order_event_found_stored", kind=type(event).__name__, local_id=local_id)
                return
            try:
                await bus.publish(self.js, subjects.evt_order(self.alias), event, msg_id=msg_id)
            except bus.PublishFailed:
                log.error("order_event_unpublished", kind=type(event).__name__, intent_id=event.intent_id,
                          local_id=local_id)
                self._unsure[msg_id] = time.time()
                if self.on_failure is not None:
                    self.on_failure()
                raise
            self._unsure.pop(msg_id, None)
        self._count(event)
        log.info("order_event", kind=type(event).__name__, intent_id=event.intent_id,
                 leg=event.leg if isinstance(event, GatewayOrderEvent) else None)

    def _count(self, event: OrderEvent) -> None:
        broker = str(getattr(event, "broker", "") or "")
        metrics.ORDER_EVENTS.labels(self.alias, broker, type(event).__name__).inc()
        if isinstance(event, OrderFilled):
            metrics.FILLS.labels(self.alias, broker).inc()

    async def _stored_before(self, msg_id: str) -> bool:
        """A publish that failed may still have been stored (its ack lost). Within the stream's
        duplicate window JetStream drops the copy; past it, only the stored history can say."""
        failed_at = self._unsure.get(msg_id)
        if failed_at is None or time.time() - failed_at < SAFE_IN_WINDOW_S:
            return False
        since = datetime.fromtimestamp(failed_at - bus.PUBLISH_RETRY_S - bus.PUBLISH_TIMEOUT_S, tz=timezone.utc)
        found = msg_id in await bus.stored_msg_ids(self.js, EVENTS_STREAM, subjects.evt_order(self.alias), since=since)
        if found:
            self._unsure.pop(msg_id, None)
        return found

    async def emit_all(self, events: list[tuple[str, OrderEvent]]) -> None:
        for local_id, event in events:
            await self.emit(local_id, event)
