"""Keeps the router's ledger (orders in flight, broker positions) as a projection of EVENTS.

At boot the ledger comes from the last snapshot (``janus_common.snapshots``) and an ordered
consumer replays the EVENTS after it (all of them when there is no usable snapshot), then
follows the stream; a snapshot is saved again every so many events. ``caught_up``
is the read-your-writes barrier: before deciding an intent, the router waits until it has
applied every event the stream held when the intent arrived, so it sees what any replica
(itself included) decided before — that is what keeps two quick SELLs from both closing one
long, whichever replica handles them.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import heapq
import time
from collections.abc import Callable

import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from janus_common import memory, projections, subjects
from janus_common.newest import NewestSequence
from janus_common.snapshots import SNAPSHOT_EVERY_EVENTS, SNAPSHOT_EVERY_S, Snapshotter
from janus_common.messages import ANY_EVENT, MessageDecodeError, RegistryEntryWritten

log = structlog.get_logger()


SNAPSHOT = "router-ledger"
RESUME_EVERY_S = 2.0


class EventFollower:
    def __init__(self, js: JetStreamContext, *, snapshots: bool = True,
                 snapshot_every_events: int = SNAPSHOT_EVERY_EVENTS, snapshot_every_s: float = SNAPSHOT_EVERY_S) -> None:
        self.js = js
        self.ledger = projections.Ledger()
        self.last_seq = 0
        # (target sequence, ticket, future) of every barrier wait, the lowest target first
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._ticket = 0
        self._newest = NewestSequence(js, "EVENTS", subjects.ALL_EVENTS)
        self._sub: JetStreamContext.PushSubscription | None = None
        # Start-up from the last snapshot plus the events after it, not the whole history.
        self.snapshots: Snapshotter[projections.Ledger] | None = Snapshotter(
            js, SNAPSHOT, fmt=projections.LEDGER_FORMAT, encode=projections.encode_ledger,
            decode=projections.decode_ledger, every_events=snapshot_every_events,
            every_s=snapshot_every_s) if snapshots else None
        self.restored_from: int | None = None  # the snapshot's sequence, when started from one
        self.replayed = False  # the boot replay is over: snapshots are taken from then on
        self._resuming: asyncio.Task[None] | None = None
        self._resumed_at = 0.0
        # Told of each registry write as it is applied (the symbol cache), in stream order.
        self.on_registry: Callable[[RegistryEntryWritten], None] | None = None

    async def start(self) -> None:
        if self.snapshots is not None:
            restored = await self.snapshots.restore(await self._newest.read())
            if restored is not None:
                self.ledger, meta = restored
                self.last_seq = self.restored_from = meta.seq
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
        if self.snapshots is not None:
            await self.snapshots.stop()

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
            if isinstance(event, RegistryEntryWritten) and self.on_registry is not None:
                self.on_registry(event)
        self.last_seq = seq
        if self.snapshots is not None and self.replayed:
            self.snapshots.applied(self.ledger, seq, self.ledger.applied)
        self._release()

    def _release(self) -> None:
        """Wake the waits whose target is now applied. No lock: a Condition woke every waiter
        on every event, and each woken waiter then queued for its lock ahead of the next event,
        so under load events reached the ledger tens of milliseconds late."""
        waiters = self._waiters
        while waiters and waiters[0][0] <= self.last_seq:
            done = heapq.heappop(waiters)[2]
            if not done.done():
                done.set_result(None)

    async def replay(self, *, stall_s: float = 60.0) -> None:
        """Boot: wait until the history is folded, however long it is, as long as it moves (a
        stall of ``stall_s`` raises TimeoutError); then take a snapshot if one is due."""
        with memory.no_gc():  # the history's objects hold no cycles: no collector passes over them
            while True:
                before = self.last_seq
                try:
                    await self.caught_up(timeout=stall_s)
                    break
                except TimeoutError:
                    if self.last_seq == before:
                        raise
        gc.freeze()  # what boot built lives on: later collections need not scan it again
        self.replayed = True
        if self.snapshots is not None:
            self.snapshots.applied(self.ledger, self.last_seq, self.ledger.applied)

    async def caught_up(self, timeout: float = 5.0) -> None:
        """Return once every event already in the stream has been applied. A wait that times
        out with nothing applied meanwhile also makes the follower follow again (see
        :meth:`_stalled`)."""
        target = await self._newest.read()
        if self.last_seq >= target:
            return
        before = self.last_seq
        reached = asyncio.get_running_loop().create_future()
        self._ticket += 1
        heapq.heappush(self._waiters, (target, self._ticket, reached))
        try:
            await asyncio.wait_for(reached, timeout)
        except TimeoutError:
            if self.last_seq == before:
                self._stalled()
            raise

    def _stalled(self) -> None:
        """Events are stored that never arrive: the ordered consumer is gone (it lived on a
        server that died, and nats-py did not make a new one) while this connection, to another
        node, never dropped. Follow again from the last applied event, at most every few seconds."""
        now = time.monotonic()
        if (self._resuming is None or self._resuming.done()) and now - self._resumed_at >= RESUME_EVERY_S:
            self._resumed_at = now
            log.warning("follower_stalled", last_seq=self.last_seq)
            self._resuming = asyncio.ensure_future(self.resume())

