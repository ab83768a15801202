"""Keeps the router's ledger (orders in flight, broker positions) as a projection of EVENTS.

An ordered consumer replays EVENTS from the start at boot and then follows it. ``caught_up``
is the read-your-writes barrier: before deciding an intent, the router waits until it has
applied every event the stream held when the intent arrived, so it sees what any replica
(itself included) decided before — that is what keeps two quick SELLs from both closing one
long, whichever replica handles them.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from janus_common import projections, subjects
from janus_common.messages import ANY_EVENT, MessageDecodeError

log = structlog.get_logger()


class EventFollower:
    def __init__(self, js: JetStreamContext) -> None:
        self.js = js
        self.ledger = projections.Ledger()
        self.last_seq = 0
        self._advanced = asyncio.Condition()
        self._sub: JetStreamContext.PushSubscription | None = None

    async def start(self) -> None:
        self._sub = await self._subscribe()

    async def _subscribe(self) -> JetStreamContext.PushSubscription:
        # From the first event not yet applied: the whole stream at boot, the tail after a resume.
        if self.last_seq == 0:
            policy, config = DeliverPolicy.ALL, None
        else:
            policy, config = None, ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                                                  opt_start_seq=self.last_seq + 1)
        return await self.js.subscribe(subjects.ALL_EVENTS, stream="EVENTS", ordered_consumer=True,
                                       deliver_policy=policy, config=config, cb=self._on_msg,
                                       pending_msgs_limit=-1)

    async def resume(self) -> None:
        """After a NATS reconnect: follow again from the last applied event at once. A restarted
        server has forgotten the ordered consumer, and noticing that from missing heartbeats
        takes seconds in which every decision would wait at the barrier."""
        old, self._sub = self._sub, None
        if old is not None:
            with contextlib.suppress(Exception):
                await old.unsubscribe()
        try:
            self._sub = await self._subscribe()
        except Exception as exc:  # the bus may still be settling: the next reconnect tries again
            log.warning("follower_resume_failed", error=type(exc).__name__, detail=str(exc)[:200])
            self._sub = old
            return
        log.info("follower_resumed", from_seq=self.last_seq + 1)

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()

    async def _on_msg(self, msg: Msg) -> None:
        seq = msg.metadata.sequence.stream
        if seq <= self.last_seq:
            return  # already applied (an old subscription's last words after a resume)
        # Applied and counted with no await in between: nothing else can see one without the other.
        try:
            event = ANY_EVENT.decode(msg.data, subject=msg.subject)
        except MessageDecodeError as exc:
            log.warning("event_undecodable", subject=exc.subject, reason=exc.reason)
        else:
            self.ledger = projections.apply(self.ledger, event)
        self.last_seq = seq
        async with self._advanced:
            self._advanced.notify_all()

    async def caught_up(self, timeout: float = 5.0) -> None:
        """Return once every event already in the stream has been applied."""
        target = await self._newest()
        async with self._advanced:
            await asyncio.wait_for(self._advanced.wait_for(lambda: self.last_seq >= target), timeout)

    async def _newest(self) -> int:
        """The sequence of the newest event the stream still holds. Not ``state.last_seq``: that
        stays on a removed message's number, which no consumer will ever deliver, and a barrier
        waiting for it would wait forever (no router could start)."""
        try:
            return (await self.js.get_last_msg("EVENTS", subjects.ALL_EVENTS)).seq or 0
        except nats.js.errors.NotFoundError:
            return 0  # nothing stored yet (or nothing left)
