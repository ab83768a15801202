"""The NATS edge: connect with backoff, typed JetStream publish, typed consumers that survive
bad messages, and typed request/reply. Everything above this module deals in msgspec structs.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
import nats
import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, PubAck

from . import chain, subjects
from .messages import (
    Codec,
    DeadLetter,
    MessageDecodeError,
    RejectReason,
    RpcError,
    encode,
)
from .streams import EVENTS_STREAM

log = structlog.get_logger()

T = TypeVar("T")


class BusError(RuntimeError):
    """A NATS-side failure, with a reason the caller can branch on."""

    reason = "BUS"


class RpcTimeout(BusError):
    reason = "RPC_TIMEOUT"


class RpcNoResponders(BusError):
    reason = "RPC_NO_RESPONDERS"


class PublishFailed(BusError):
    reason = "PUBLISH_FAILED"


# --- connections ------------------------------------------------------------------------


async def connect(
    url: str,
    name: str,
    *,
    initial_attempts: int | None = None,
    max_backoff: float = 5.0,
    reconnect_wait: float = 0.5,
) -> NATS:
    """Connect, retrying the first connection with exponential backoff (``initial_attempts``
    None = forever), then let nats-py reconnect forever. Every transition is logged."""

    async def disconnected() -> None:
        if nc.is_closed or nc.is_draining:
            log.debug("nats_disconnected_on_close", client=name)  # we asked for it
        else:
            log.warning("nats_disconnected", client=name)

    async def reconnected() -> None:
        log.info("nats_reconnected", client=name, server=str(nc.connected_url.netloc if nc.connected_url else ""))

    async def error(exc: Exception) -> None:
        log.warning("nats_error", client=name, error=type(exc).__name__, detail=str(exc))

    async def closed() -> None:
        log.info("nats_closed", client=name)

    delay = 0.1
    attempt = 0
    while True:
        attempt += 1
        nc = NATS()
        try:
            await nc.connect(
                servers=url.split(","),
                name=name,
                # nats-py retries a failed FIRST connect forever when this is -1, which would
                # hide a wrong URL; we bound it here, back off ourselves, then lift the bound.
                max_reconnect_attempts=1,
                reconnect_time_wait=reconnect_wait,
                connect_timeout=2,
                allow_reconnect=True,
                disconnected_cb=disconnected,
                reconnected_cb=reconnected,
                error_cb=error,
                closed_cb=closed,
            )
            nc.options["max_reconnect_attempts"] = -1  # once up: reconnect forever
            log.info("nats_connected", client=name, attempt=attempt)
            return nc
        except (OSError, nats.errors.NoServersError, asyncio.TimeoutError) as exc:
            if initial_attempts is not None and attempt >= initial_attempts:
                raise BusError(f"cannot connect to NATS at {url}: {exc}") from exc
            log.warning("nats_connect_failed", client=name, attempt=attempt, retry_in=delay,
                        error=type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_backoff)


# --- publishing -------------------------------------------------------------------------


async def publish(
    js: JetStreamContext,
    subject: str,
    message: msgspec.Struct,
    *,
    msg_id: str | None = None,
    timeout: float = 5.0,
) -> PubAck:
    """Publish one typed message to JetStream; ``msg_id`` becomes ``Nats-Msg-Id`` (dedup).
    Whatever goes to ``janus.evt.*`` is appended to its subject's hash chain (:func:`_append_event`)."""
    if subject.startswith(subjects.EVT_PREFIX):
        if "prev_hash" not in message.__struct_fields__:
            raise TypeError(f"{type(message).__name__} has no prev_hash: it cannot join the chain of {subject}")
        return await _append_event(js, subject, message, msg_id=msg_id, timeout=timeout)
    headers = {"Nats-Msg-Id": msg_id} if msg_id else None
    try:
        return await js.publish(subject, encode(message), timeout=timeout, headers=headers)
    except (nats.errors.TimeoutError, nats.js.errors.NoStreamResponseError) as exc:
        raise PublishFailed(f"no JetStream ack for {subject}: {type(exc).__name__}") from exc


WRONG_LAST_SEQUENCE = 10071  # JetStream: Nats-Expected-Last-Subject-Sequence did not hold
MAX_APPEND_ATTEMPTS = 100

# The last (sequence, hash) each connection saw on each subject. A hit costs nothing; a stale
# entry (another process appended since) costs one refused publish and one read.
_tips: "weakref.WeakKeyDictionary[JetStreamContext, dict[str, tuple[int, str]]]" = weakref.WeakKeyDictionary()


async def _read_tip(js: JetStreamContext, subject: str) -> tuple[int, str]:
    try:
        last = await js.get_last_msg(EVENTS_STREAM, subject)
    except nats.js.errors.NotFoundError:
        return 0, chain.GENESIS
    return last.seq or 0, chain.link(last.data or b"")


async def _append_event(js: JetStreamContext, subject: str, event: msgspec.Struct, *, msg_id: str | None,
                        timeout: float) -> PubAck:
    """Append ``event`` to the chain of ``subject``: it carries the hash of the subject's last
    stored event, and the server stores it only if that event is still the last
    (``Nats-Expected-Last-Subject-Sequence``); if another publisher got in first, re-read and retry."""
    tips = _tips.setdefault(js, {})
    for _ in range(MAX_APPEND_ATTEMPTS):
        tip = tips.get(subject)
        try:
            if tip is None:
                tip = await _read_tip(js, subject)
            data = encode(msgspec.structs.replace(event, prev_hash=tip[1]))
            headers = {"Nats-Expected-Last-Subject-Sequence": str(tip[0])}
            if msg_id:
                headers["Nats-Msg-Id"] = msg_id
            ack = await js.publish(subject, data, timeout=timeout, headers=headers)
        except nats.js.errors.APIError as exc:
            if exc.err_code == WRONG_LAST_SEQUENCE:
                tips.pop(subject, None)
                continue
            raise PublishFailed(f"JetStream refused {subject}: {exc.description}") from exc
        except (nats.errors.TimeoutError, nats.js.errors.NoStreamResponseError) as exc:
            tips.pop(subject, None)
            raise PublishFailed(f"no JetStream ack for {subject}: {type(exc).__name__}") from exc
        if ack.duplicate:
            tips.pop(subject, None)  # the earlier copy is stored; what is last now is unknown
        else:
            tips[subject] = (ack.seq, chain.link(data))
        return ack
    raise PublishFailed(f"could not append to {subject}: the chain kept moving ({MAX_APPEND_ATTEMPTS} tries)")


# --- consuming --------------------------------------------------------------------------


Handler = Callable[[Any, Msg], Awaitable[None]]
DecodeErrorHook = Callable[[Msg, MessageDecodeError], Awaitable[None]]


@dataclass
class ConsumerStats:
    handled: int = 0
    dead_lettered: int = 0
    retried: int = 0


class Consumer:
    """A durable pull consumer that hands typed messages to ``handler`` one at a time, in
    stream order. A message that does not decode is logged with its typed error, copied to
    the dead-letter subject and terminated; a handler failure is retried with a delay until
    ``max_deliver``, then dead-lettered. The loop itself never stops on a bad message."""

    def __init__(
        self,
        js: JetStreamContext,
        *,
        stream: str,
        durable: str,
        filter_subject: str,
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
    ) -> None:
        self.js = js
        self.stream = stream
        self.durable = durable
        self.filter_subject = filter_subject
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
        self.stats = ConsumerStats()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sub: JetStreamContext.PullSubscription | None = None

    async def start(self) -> "Consumer":
        config = ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait,
            max_deliver=self.max_deliver,
            filter_subject=self.filter_subject,
            deliver_policy=self.deliver_policy,
            max_ack_pending=self.max_ack_pending,
        )
        self._sub = await self.js.pull_subscribe(
            self.filter_subject, durable=self.durable, stream=self.stream, config=config
        )
        self._task = asyncio.create_task(self._run(), name=f"consumer:{self.durable}")
        return self

    async def stop(self) -> None:
        """Stop fetching; the message being handled is finished first."""
        self._stopping.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._sub is not None:
            # A message the server pushed after our last fetch would otherwise sit in the
            # subscription's queue and stall the connection's drain; unacked, it is redelivered.
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    async def _run(self) -> None:
        assert self._sub is not None
        while not self._stopping.is_set():
            try:
                msgs = await self._sub.fetch(self.batch, timeout=0.5)
            except (nats.errors.TimeoutError, asyncio.TimeoutError):
                continue
            except (nats.errors.ConnectionClosedError, nats.errors.ConnectionDrainingError):
                return
            except Exception as exc:  # a server hiccup must not end the consumer
                log.warning("consumer_fetch_failed", consumer=self.durable, error=type(exc).__name__,
                            detail=str(exc))
                await asyncio.sleep(self.retry_delay)
                continue
            for msg in msgs:
                await self._process(msg)

    async def _process(self, msg: Msg) -> None:
        if self.accepts is not None and not self.accepts(msg.subject):
            await msg.ack()
            return
        try:
            message = self.codec.decode(msg.data, subject=msg.subject)
        except MessageDecodeError as exc:
            log.error("message_decode_error", consumer=self.durable, error="MessageDecodeError",
                      family=exc.family, subject=exc.subject, reason=exc.reason, size=exc.size)
            if self.on_decode_error is not None:
                try:
                    await self.on_decode_error(msg, exc)
                except Exception:
                    log.exception("decode_error_hook_failed", consumer=self.durable)
            await self._dead_letter(msg, exc)
            return
        try:
            await self.handler(message, msg)
        except Exception as exc:
            delivered = msg.metadata.num_delivered if msg.metadata else 1
            log.exception("handler_failed", consumer=self.durable, subject=msg.subject,
                          delivered=delivered, error=type(exc).__name__)
            if 0 < self.max_deliver <= delivered:
                await self._dead_letter(msg, exc)
            else:
                self.stats.retried += 1
                await msg.nak(delay=self.retry_delay * delivered)
            return
        self.stats.handled += 1
        if not self.handler_acks:
            await msg.ack()

    async def dead_letter(self, msg: Msg, exc: Exception) -> None:
        """Copy the message to the dead-letter subject and terminate it (for handlers that ack)."""
        await self._dead_letter(msg, exc)

    async def _dead_letter(self, msg: Msg, exc: Exception) -> None:
        letter = DeadLetter(consumer=self.durable, subject=msg.subject, error=type(exc).__name__,
                            detail=str(exc)[:2000], data=msg.data)
        try:
            await publish(self.js, subjects.dlq(self.durable), letter)
        except BusError:
            log.error("dead_letter_publish_failed", consumer=self.durable, subject=msg.subject)
            await msg.nak(delay=self.retry_delay)  # keep it: nothing may be lost
            return
        self.stats.dead_lettered += 1
        await msg.term()


# --- request / reply --------------------------------------------------------------------


async def request(
    nc: NATS,
    subject: str,
    message: msgspec.Struct,
    reply_codec: Codec[T],
    *,
    timeout: float = 5.0,
) -> T:
    """Send a typed request and decode the typed reply (which may be an :class:`RpcError`)."""
    try:
        reply = await nc.request(subject, encode(message), timeout=timeout)
    except nats.errors.NoRespondersError as exc:
        raise RpcNoResponders(f"nobody serves {subject}") from exc
    except nats.errors.TimeoutError as exc:
        raise RpcTimeout(f"no reply on {subject} within {timeout}s") from exc
    return reply_codec.decode(reply.data, subject=subject)


def rpc_handler(
    codec: Codec[Any], handler: Callable[[Any], Awaitable[msgspec.Struct]]
) -> Callable[[Any], Awaitable[None]]:
    """Wrap a typed handler as a NATS micro endpoint handler. A bad request gets an
    ``RpcError(MALFORMED)`` reply, a crash an ``RpcError(INTERNAL)``; the endpoint keeps serving."""

    async def endpoint(req: Any) -> None:
        try:
            message = codec.decode(req.data, subject=req.subject)
        except MessageDecodeError as exc:
            log.warning("rpc_decode_error", subject=exc.subject, family=exc.family, reason=exc.reason)
            await req.respond(encode(RpcError(reason=RejectReason.MALFORMED, message=str(exc))))
            return
        try:
            reply = await handler(message)
        except Exception as exc:
            log.exception("rpc_handler_failed", subject=req.subject, error=type(exc).__name__)
            reply = RpcError(reason=RejectReason.INTERNAL, message=f"{type(exc).__name__}: {exc}")
        await req.respond(encode(reply))

    return endpoint


# --- history --------------------------------------------------------------------------------


async def stored(
    js: JetStreamContext,
    stream: str,
    subject: str,
    *,
    since: str | None = None,
    timeout: float = 60.0,
) -> list[chain.Stored]:
    """Every message stored on ``subject`` (wildcards allowed), oldest first, as stored (subject,
    stream sequence, bytes); from ``since`` (RFC 3339) when given."""
    done = asyncio.Event()
    out: list[chain.Stored] = []

    async def on_msg(msg: Msg) -> None:
        out.append(chain.Stored(msg.subject, msg.metadata.sequence.stream, msg.data))
        if msg.metadata.num_pending == 0:
            done.set()

    config = None
    if since is not None:
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=since)
    sub = await js.subscribe(subject, stream=stream, ordered_consumer=True, cb=on_msg,
                             deliver_policy=None if config else DeliverPolicy.ALL, config=config)
    try:
        info = await sub.consumer_info()
        # consumer_seq counts only messages that matched the filter; stream_seq does not help:
        # a filtered consumer skips past other subjects' messages, so it is non-zero even when
        # nothing matched, and waiting for a last message would then hang.
        if info.num_pending == 0 and info.delivered.consumer_seq == 0:
            return out  # nothing stored (yet) for this filter
        await asyncio.wait_for(done.wait(), timeout)
    finally:
        await sub.unsubscribe()
    return out


async def removed_sequences(nc: NATS, stream: str, *, timeout: float = 10.0) -> list[int]:
    """Stream sequences removed from the middle of ``stream``. JetStream never reuses a sequence,
    so a deleted message leaves its number behind, whatever was stored after it."""
    try:
        reply = await nc.request(f"$JS.API.STREAM.INFO.{stream}", b'{"deleted_details": true}', timeout=timeout)
    except nats.errors.TimeoutError as exc:
        raise RpcTimeout(f"no stream info for {stream} within {timeout}s") from exc
    info = msgspec.json.decode(reply.data, type=_StreamInfoReply)
    if info.error is not None:
        raise BusError(f"stream info for {stream}: {info.error.get('description', info.error)}")
    return sorted(info.state.deleted or [])


class _StreamState(msgspec.Struct):
    deleted: list[int] | None = None


class _StreamInfoReply(msgspec.Struct):
    state: _StreamState = msgspec.field(default_factory=_StreamState)
    error: dict | None = None


async def history(
    js: JetStreamContext,
    stream: str,
    subject: str,
    codec: Codec[T],
    *,
    since: str | None = None,
    timeout: float = 60.0,
) -> list[T]:
    """Every message stored on ``subject``, oldest first, decoded (see :func:`stored`). What a
    service folds at start-up to rebuild its state. Undecodable messages are skipped with a
    warning: history is read, not judged, here."""
    out: list[T] = []
    for record in await stored(js, stream, subject, since=since, timeout=timeout):
        try:
            out.append(codec.decode(record.data, subject=record.subject))
        except MessageDecodeError as exc:
            log.warning("history_undecodable", subject=exc.subject, reason=exc.reason)
    return out
