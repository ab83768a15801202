"""Idempotent emission of a gateway's order events: one ``Nats-Msg-Id`` scheme for every
broker, so a republish after a crash (or a second observer saying the same thing) is dropped by
JetStream's duplicate window."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog
from nats.js import JetStreamContext

from janus_common import bus, subjects
from janus_common.messages import GatewayOrderEvent, OrderEvent

__all__ = ["Emitter"]

log = structlog.get_logger()


class Emitter:
    def __init__(self, js: JetStreamContext, alias: str) -> None:
        self.js = js
        self.alias = alias
        # One publisher at a time on the account's subject: the events of a subject are chained
        # (prev_hash), and two appends racing make one of them go out again.
        self._lock = asyncio.Lock()
        self.on_failure: Callable[[], None] | None = None

    def msg_id(self, local_id: str) -> str:
        """``local_id`` is unique within the account (e.g. ``fill:<execId>``, ``rej:<key>``)."""
        return f"{self.alias}:{local_id}"

    async def emit(self, local_id: str, event: OrderEvent) -> None:
        """Publish until JetStream acknowledges (``bus.publish`` retries with the same msg id).
        Raises :class:`~janus_common.bus.PublishFailed` if it never does; ``on_failure`` is told,
        so the gateway checks its broker against the history once the bus is back."""
        async with self._lock:
            try:
                await bus.publish(self.js, subjects.evt_order(self.alias), event, msg_id=self.msg_id(local_id))
            except bus.PublishFailed:
                log.error("order_event_unpublished", kind=type(event).__name__, intent_id=event.intent_id,
                          local_id=local_id)
                if self.on_failure is not None:
                    self.on_failure()
                raise
        log.info("order_event", kind=type(event).__name__, intent_id=event.intent_id,
                 leg=event.leg if isinstance(event, GatewayOrderEvent) else None)

    async def emit_all(self, events: list[tuple[str, OrderEvent]]) -> None:
        for local_id, event in events:
            await self.emit(local_id, event)
