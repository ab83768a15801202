"""Typed durable pull consumers that no single message can stop.

A message that does not decode is logged with its typed error, described in a bounded dead
letter and terminated; a handler failure is retried with a delay until ``max_deliver``, then
dead-lettered; while the handler runs the message is kept (``in_progress``) so no other replica
gets it; whatever escapes every step is logged, counted and nak'ed, and the next message is
served. The loop ends only when asked to or when the connection is closed for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Sequence, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import nats.errors
import nats.js.errors
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from . import metrics, subjects
from .bus import publish
from .messages import HEAD_BYTES, ID_MAX, TEXT_MAX, Codec, DeadLetter, MessageDecodeError, content_type_of

log = structlog.get_logger()

TRANSIENT_DELAY_CAP_S = 5.0
# How often the server's view of a consumer (pending, redelivered) is read for the metrics: a
# scrape interval's worth, one small request per consumer, only while an endpoint is served.
INFO_EVERY_S = 5.0


Handler = Callable[[Any, Msg], Awaitable[None]]
DecodeErrorHook = Callable[[Msg, MessageDecodeError], Awaitable[None]]
# Told about a decoded message before it is dead-lettered (its handler failed max_deliver
# times), so whoever waits on it gets an answer (the router rejects the intent). If the hook
# raises, the message is kept (nak) instead: nothing is dead-lettered unanswered.
DeadLetterHook = Callable[[Any, Msg, Exception], Awaitable[None]]


WATCH_STOP_S = 5.0  # the longest a stop waits for the consumer-info watch (one server request)


@dataclass
class ConsumerStats:
    handled: int = 0
    dead_lettered: int = 0
    retried: int = 0
    failures: int = 0  # exceptions the loop caught that no step handled (the message was nak'ed)
    last_error: str = ""
    alive: bool = False
    # The server's figures at the last consumer info (None before the first one).
    pending: int | None = None
    ack_pending: int | None = None
    redelivered: int | None = None


def dead_letter_of(consumer: str, msg: Msg, exc: BaseException) -> DeadLetter:
    """The letter for a refused message: bounded whatever the message's size (a full copy of a
    payload near max_payload could not be published, and publishing it used to end the
    consumer), yet enough to find the original in its stream and to check it is that one."""
    data = msg.data or b""
    stream = seq = None
    with contextlib.suppress(Exception):  # a message not delivered by JetStream has no metadata
        stream, seq = msg.metadata.stream, msg.metadata.sequence.stream
    return DeadLetter(consumer=consumer[:ID_MAX], subject=msg.subject[:256], error=type(exc).__name__[:ID_MAX],
                      detail=str(exc)[:TEXT_MAX], data=data[:HEAD_BYTES], size=len(data),
                      sha256=hashlib.sha256(data).hexdigest(), stream=stream, stream_seq=seq,
                      truncated=len(data) > HEAD_BYTES)


class Consumer:
    """A durable pull consumer that hands typed messages to ``handler`` one at a time, in
    stream order. A message that does not decode is logged with its typed error, described in a
    dead letter and terminated; a handler failure is retried with a delay until ``max_deliver``,
    then dead-lettered. While the handler runs the message is kept (``in_progress``) so no other
    replica gets it. No exception from one message ends the loop: what escapes every step is
    logged, counted and nak'ed, and the next message is served. The loop ends only when asked to
    or when the connection is closed for good; ``alive`` says which, for health reports."""

    def __init__(
        self,
        js: JetStreamContext,
        *,
        stream: str,
        durable: str,
        filter_subject: str | Sequence[str],
        codec: Codec[Any],
        handler: Handler,
        batch: int = 64,
        ack_wait: float = 30.0,
        max_deliver: int = 5,
        retry_delay: float = 0.5,
        deliver_policy: DeliverPolicy = DeliverPolicy.ALL,
        max_ack_pending: int | None = None,
        on_decode_error: DecodeErrorHook | None = None,
        accepts: Callable[[str], bool] | None = None,
        handler_acks: bool = False,
        on_dead_letter: DeadLetterHook | None = None,
        transient: Callable[[BaseException], bool] | None = None,
        info_every_s: float = INFO_EVERY_S,
    ) -> None:
        self.js = js
        self.stream = stream
        self.durable = durable
        # Several subjects: one consumer keeps their messages in stream order (an account's halt
        # and the orders after it, say).
        self.filter_subjects = [filter_subject] if isinstance(filter_subject, str) else list(filter_subject)
        self.codec = codec
        self.handler = handler
        self.batch = batch
        self.ack_wait = ack_wait
        self.max_deliver = max_deliver
        self.retry_delay = retry_delay
        self.deliver_policy = deliver_policy
        # 1 = strictly one message in flight across every process sharing the durable:
        # that is how per-account order survives several replicas.
        self.max_ack_pending = max_ack_pending
        self.on_decode_error = on_decode_error
        # A subject test finer than a NATS filter can say (e.g. "every account but these"):
        # what it refuses is acknowledged unread, so it is neither handled nor dead-lettered here.
        self.accepts = accepts
        # True: a handler that returns normally has taken the message over (it acks, naks or
        # dead-letters it later, e.g. from its own worker), so several can be in flight at once.
        self.handler_acks = handler_acks
        self.on_dead_letter = on_dead_letter
        # Failures of what the handler depends on (the bus in an election, a timeout), not of
        # the message: waited out with a growing delay and never dead-lettered, so an outage
        # cannot turn good intents into rejections. Only other failures count to max_deliver.
        self.transient = transient
        self.info_every_s = info_every_s
        self.stats = ConsumerStats()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sub: JetStreamContext.PullSubscription | None = None
        self._watch: asyncio.Task[None] | None = None

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def health(self) -> dict[str, Any]:
        return {"alive": self.stats.alive, "handled": self.stats.handled,
                "dead_lettered": self.stats.dead_lettered, "retried": self.stats.retried,
                "failures": self.stats.failures, "last_error": self.stats.last_error}

    def figures(self) -> dict[str, float]:
        """What :data:`janus_common.metrics.CONSUMERS` serves (read from the scrape thread)."""
        s = self.stats
        found: dict[str, float] = {"handled": s.handled, "retried": s.retried, "dead_lettered": s.dead_lettered,
                                   "failures": s.failures, "alive": 1.0 if s.alive else 0.0}
        for name, value in (("pending", s.pending), ("ack_pending", s.ack_pending), ("redelivered", s.redelivered)):
            if value is not None:
                found[name] = value
        return found

    async def _watch_server(self) -> None:
        """The server's view of this consumer, for the metrics endpoint (if the process serves one).
        Ends when the consumer stops: nats-py's request may swallow a task cancel, so the loop
        must not rely on one."""
        while not self._stopping.is_set():
            if metrics.serving() and self._sub is not None:
                try:
                    info = await self._sub.consumer_info()
                    self.stats.pending = info.num_pending or 0
                    self.stats.ack_pending = info.num_ack_pending or 0
                    self.stats.redelivered = info.num_redelivered or 0
                except Exception as exc:  # a figure a little old is no reason to stop anything
                    log.debug("consumer_info_failed", consumer=self.durable, error=type(exc).__name__)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.info_every_s)

    async def start(self) -> "Consumer":
        one = self.filter_subjects[0] if len(self.filter_subjects) == 1 else None
        config = ConsumerConfig(
            # Named: the create request's subject then carries the name (and a single filter),
            # which is what the bus's permissions scope (janus_common.authz).
            name=self.durable,
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait,
            # With transient failures waited out, the server must not stop delivering on its own
            # count: the dead-letter decision is made here, on failures that are the message's.
            max_deliver=-1 if self.transient is not None else self.max_deliver,
            filter_subject=one,
            filter_subjects=None if one else self.filter_subjects,
            deliver_policy=self.deliver_policy,
            max_ack_pending=self.max_ack_pending,
        )
        # Create, or bring an existing durable to this configuration: binding alone would keep
        # whatever an older version of the service created (its filters, its window).
        try:
            await self.js.add_consumer(self.stream, config=config)
        except nats.js.errors.BadRequestError as exc:
            log.warning("consumer_config_kept", consumer=self.durable, stream=self.stream,
                        detail=str(exc.description)[:200])
        self._sub = await self.js.pull_subscribe_bind(durable=self.durable, stream=self.stream)
        self.stats.alive = True
        self._task = asyncio.create_task(self._run(), name=f"consumer:{self.durable}")
        self._watch = asyncio.create_task(self._watch_server(), name=f"consumer-info:{self.durable}")
        metrics.CONSUMERS.add(self)
        return self

    async def stop(self) -> None:
        """Stop fetching; the message being handled is finished first."""
        self._stopping.set()
        metrics.CONSUMERS.remove(self)
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError, Exception):
                await asyncio.wait_for(self._watch, WATCH_STOP_S)
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._sub is not None:
            # A message the server pushed after our last fetch would otherwise sit in the
            # subscription's queue and stall the connection's drain; unacked, it is redelivered.
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    async def _run(self) -> None:
        assert self._sub is not None
        try:
            while not self._stopping.is_set():
                try:
                    msgs = await self._sub.fetch(self.batch, timeout=0.5)
                except (nats.errors.TimeoutError, asyncio.TimeoutError):
                    continue
                except (nats.errors.ConnectionClosedError, nats.errors.ConnectionDrainingError) as exc:
                    if not self._stopping.is_set():
                        self.stats.last_error = type(exc).__name__
                        log.error("consumer_connection_closed", consumer=self.durable, error=type(exc).__name__)
                    return
                except Exception as exc:  # a server hiccup must not end the consumer
                    log.warning("consumer_fetch_failed", consumer=self.durable, error=type(exc).__name__,
                                detail=str(exc)[:TEXT_MAX])
                    await asyncio.sleep(self.retry_delay)
                    continue
                for msg in msgs:
                    try:
                        await self._process(msg)
                    except Exception as exc:
                        await self._failed(msg, exc)
        finally:
            self.stats.alive = False

    async def _failed(self, msg: Msg, exc: Exception) -> None:
        """The last line: something no step handled. Redelivery (bounded by max_deliver) is the
        only safe outcome left; the message is neither lost nor allowed to stop the loop."""
        self.stats.failures += 1
        self.stats.last_error = type(exc).__name__
        log.error("consumer_message_failed", consumer=self.durable, subject=msg.subject,
                  error=type(exc).__name__, detail=str(exc)[:TEXT_MAX], exc_info=exc)
        try:
            await msg.nak(delay=self.retry_delay)
        except Exception as nak_exc:
            log.warning("consumer_nak_failed", consumer=self.durable, error=type(nak_exc).__name__)

    async def _process(self, msg: Msg) -> None:
        if self.accepts is not None and not self.accepts(msg.subject):
            await msg.ack()
            return
        try:
            message = self.codec.decode(msg.data, subject=msg.subject, content_type=content_type_of(msg.headers))
        except MessageDecodeError as exc:
            log.error("message_decode_error", consumer=self.durable, error="MessageDecodeError",
                      family=exc.family, subject=exc.subject, reason=exc.reason[:TEXT_MAX], size=exc.size)
            if self.on_decode_error is not None:
                try:
                    await self.on_decode_error(msg, exc)
                except Exception as hook_exc:
                    log.error("decode_error_hook_failed", consumer=self.durable,
                              error=type(hook_exc).__name__, detail=str(hook_exc)[:TEXT_MAX], exc_info=hook_exc)
            await self._dead_letter(msg, exc)
            return
        try:
            await self._handle(message, msg)
        except Exception as exc:
            delivered = msg.metadata.num_delivered if msg.metadata else 1
            self.stats.last_error = type(exc).__name__
            if self.transient is not None and self.transient(exc):
                self.stats.retried += 1
                delay = min(self.retry_delay * 2 ** min(delivered - 1, 10), TRANSIENT_DELAY_CAP_S)
                log.warning("handler_waiting_out", consumer=self.durable, subject=msg.subject, delivered=delivered,
                            error=type(exc).__name__, detail=str(exc)[:TEXT_MAX], retry_in=delay)
                await msg.nak(delay=delay)
                return
            log.error("handler_failed", consumer=self.durable, subject=msg.subject,
                      delivered=delivered, error=type(exc).__name__, detail=str(exc)[:TEXT_MAX], exc_info=exc)
            if 0 < self.max_deliver <= delivered:
                if await self._answered(message, msg, exc):
                    await self._dead_letter(msg, exc)
            else:
                self.stats.retried += 1
                await msg.nak(delay=self.retry_delay * delivered)
            return
        self.stats.handled += 1
        if not self.handler_acks:
            await msg.ack()

    async def _answered(self, message: Any, msg: Msg, exc: Exception) -> bool:
        """Run the dead-letter hook; False (and the message kept) if it failed."""
        if self.on_dead_letter is None:
            return True
        try:
            await self.on_dead_letter(message, msg, exc)
            return True
        except Exception as hook_exc:
            log.error("dead_letter_hook_failed", consumer=self.durable, error=type(hook_exc).__name__,
                      detail=str(hook_exc)[:TEXT_MAX])
            await msg.nak(delay=self.retry_delay)
            return False

    async def _handle(self, message: Any, msg: Msg) -> None:
        """Run the handler while telling the server, every third of ack_wait, that the message
        is still being worked on: a long decision keeps its message."""
        beat = _InProgress(msg, max(self.ack_wait / 3, 0.05), self.durable)
        try:
            await self.handler(message, msg)
        finally:
            beat.stop()

    async def dead_letter(self, msg: Msg, exc: Exception) -> None:
        """Describe the message in a dead letter and terminate it (for handlers that ack)."""
        await self._dead_letter(msg, exc)

    async def _dead_letter(self, msg: Msg, exc: Exception) -> None:
        letter = dead_letter_of(self.durable, msg, exc)
        try:
            await publish(self.js, subjects.dlq(self.durable), letter)
        except Exception as pub_exc:
            log.error("dead_letter_publish_failed", consumer=self.durable, subject=msg.subject,
                      error=type(pub_exc).__name__, detail=str(pub_exc)[:TEXT_MAX])
            await msg.nak(delay=self.retry_delay)  # keep it: nothing may be lost
            return
        self.stats.dead_lettered += 1
        log.warning("dead_lettered", consumer=self.durable, subject=msg.subject, size=letter.size,
                    sha256=letter.sha256, stream_seq=letter.stream_seq)
        await msg.term()


class _InProgress:
    """Tells the server every ``interval`` that ``msg`` is still being worked on, until stopped.
    A timer, not a task per message: most handlers finish long before the first beat, and a
    task created and cancelled for each of them was a visible share of a busy consumer's time."""

    def __init__(self, msg: Msg, interval: float, durable: str) -> None:
        self._loop = asyncio.get_running_loop()
        self._msg = msg
        self._interval = interval
        self._durable = durable
        self._timer = self._loop.call_later(interval, self._beat)
        self._telling: asyncio.Task[None] | None = None

    def _beat(self) -> None:
        if self._telling is None or self._telling.done():
            self._telling = asyncio.ensure_future(self._tell())
        self._timer = self._loop.call_later(self._interval, self._beat)

    async def _tell(self) -> None:
        try:
            await self._msg.in_progress()
        except Exception as exc:
            log.warning("in_progress_failed", consumer=self._durable, error=type(exc).__name__)

    def stop(self) -> None:
        self._timer.cancel()
        if self._telling is not None:
            self._telling.cancel()
