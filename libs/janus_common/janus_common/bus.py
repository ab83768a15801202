"""The NATS edge: connect with backoff, typed JetStream publish, typed request/reply and history
reads. Typed consumers that survive bad messages live in :mod:`janus_common.consumer` and are
reachable here too (``bus.Consumer``). Everything above this module deals in msgspec structs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import ssl
import time
import uuid
import weakref
from pathlib import Path
from datetime import datetime
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
import nats
import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy, PubAck

from . import chain, credentials, redact, subjects
from .authz import inbox_prefix
from .backoff import Backoff
from .messages import (
    TEXT_MAX,
    Codec,
    MessageDecodeError,
    RejectReason,
    RpcError,
    clip,
    content_type_of,
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
    """JetStream did not store the message. ``transient``: no answer, or the stream had no
    leader for a moment (an election, a restarting node): the same publish may succeed later."""

    reason = "PUBLISH_FAILED"

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


ENV_CA = "JANUS_NATS_CA"  # the CA file of a server that speaks TLS


class AuthRefused(BusError):
    """The server refused this connection's credentials (or it had none and needed some)."""

    reason = "AUTH_REFUSED"


def _auth_failure(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "authorization violation" in text or "authentication" in text


# --- connections ------------------------------------------------------------------------


def servers(url: str) -> list[str]:
    """``nats.url`` / ``JANUS_NATS_URL``: one server, or a cluster's as a comma-separated list
    (any of them will do to connect; the client learns the rest and fails over)."""
    found = [u.strip() for u in url.split(",") if u.strip()]
    if not found:
        raise BusError("no NATS server given (nats.url / JANUS_NATS_URL is empty)")
    return found


async def connect(
    url: str,
    name: str,
    *,
    initial_attempts: int | None = None,
    max_backoff: float = 5.0,
    reconnect_wait: float = 0.5,
    on_closed: Callable[[], None] | None = None,
    creds: str | Path | None = None,
    on_error: Callable[[Exception], None] | None = None,
    on_reconnected: Callable[[], None] | None = None,
) -> NATS:
    """Connect, retrying the first connection with exponential backoff (``initial_attempts``
    None = forever), then let nats-py reconnect forever. Every transition is logged.
    ``on_closed`` is called when the connection is closed, asked for or not: nats-py never
    reopens a closed connection, so an unasked close means this client is done.

    ``creds``: an nkey seed file (``<identity>.nk``) or a NATS credentials file
    (``<identity>.creds``); default ``$JANUS_NATS_CREDS``. The identity (the file's name) also
    names the connection's inbox prefix, the only inbox its permissions let it read. Refused
    credentials are not retried: :class:`AuthRefused` at once."""
    creds = creds or os.environ.get(credentials.ENV_CREDS) or None
    auth: dict[str, Any] = {}
    identity = None
    if creds:
        identity = credentials.identity_of(creds)
        auth["inbox_prefix"] = inbox_prefix(identity)
        if str(creds).endswith(".creds"):
            auth["user_credentials"] = str(creds)
        else:
            auth["nkeys_seed"] = str(creds)
        if not Path(creds).is_file():
            raise AuthRefused(f"NATS credentials file {creds} does not exist")
    ca = os.environ.get(ENV_CA)
    if ca:
        # A server with a certificate from the deployment's own CA (janus-secrets): trust that CA.
        auth["tls"] = ssl.create_default_context(cafile=ca)

    async def disconnected() -> None:
        if nc.is_closed or nc.is_draining:
            log.debug("nats_disconnected_on_close", client=name)  # we asked for it
        else:
            log.warning("nats_disconnected", client=name)

    async def reconnected() -> None:
        where = nc.connected_url  # host and port only: its netloc would carry any user:password
        log.info("nats_reconnected", client=name, server=f"{where.hostname}:{where.port}" if where else "")
        if on_reconnected is not None:
            on_reconnected()  # e.g. a gateway checks that nothing it said was lost meanwhile

    refused: list[str] = []  # the server's authorization errors, for the first connect

    async def error(exc: Exception) -> None:
        if _auth_failure(exc):
            refused.append(str(exc))
        log.warning("nats_error", client=name, error=type(exc).__name__, detail=str(exc))
        if on_error is not None:
            on_error(exc)  # e.g. a permissions violation, which the server reports asynchronously

    established: list[NATS] = []

    def closed_cb(client: NATS) -> Callable[[], Awaitable[None]]:
        async def closed() -> None:
            log.info("nats_closed", client=name,
                     last_error=str(client.last_error)[:TEXT_MAX] if client.last_error else None)
            # A failed first attempt closes its client too: that is not the end of this one.
            if on_closed is not None and client in established:
                on_closed()
        return closed

    delay = 0.1
    attempt = 0
    while True:
        attempt += 1
        nc = NATS()
        try:
            await nc.connect(
                servers=servers(url),
                name=name,
                # nats-py retries a failed FIRST connect forever when this is -1, which would
                # hide a wrong URL; we bound it here, back off ourselves, then lift the bound.
                max_reconnect_attempts=1,
                # nats-py annotates this `int`, but it is seconds handed to asyncio.sleep and
                # wait_for, so a float works and is meant (the default 0.5 would truncate to 0).
                reconnect_time_wait=reconnect_wait,  # type: ignore[arg-type]
                connect_timeout=2,
                allow_reconnect=True,
                disconnected_cb=disconnected,
                reconnected_cb=reconnected,
                error_cb=error,
                closed_cb=closed_cb(nc),
                **auth,
            )
            nc.options["max_reconnect_attempts"] = -1  # once up: reconnect forever
            established.append(nc)
            log.info("nats_connected", client=name, attempt=attempt, identity=identity)
            return nc
        except (OSError, nats.errors.NoServersError, asyncio.TimeoutError) as exc:
            if refused:
                await nc.close()
                raise AuthRefused(f"NATS at {redact.url(url)} refused "
                                  f"{'the credentials of ' + identity if identity else 'a connection without credentials'}"
                                  f" ({refused[-1]})") from None
            if initial_attempts is not None and attempt >= initial_attempts:
                raise BusError(f"cannot connect to NATS at {redact.url(url)}: {exc}") from exc
            log.warning("nats_connect_failed", client=name, attempt=attempt, retry_in=delay,
                        error=type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_backoff)


# --- publishing -------------------------------------------------------------------------


class PayloadTooLarge(BusError):
    """The message would exceed the server's max payload. Refused here because the server would
    answer ``-ERR 'Maximum Payload Violation'`` (it counts headers, nats-py only the payload) and
    nats-py would then close the connection for good."""

    reason = "PAYLOAD_TOO_LARGE"

    def __init__(self, subject: str, size: int, limit: int) -> None:
        self.subject = subject
        self.size = size
        self.limit = limit
        super().__init__(f"{subject}: {size} bytes with headers, the server takes at most {limit}")


_HEADER_LINE = len(b"NATS/1.0\r\n") + len(b"\r\n")


def wire_size(payload: bytes, headers: dict[str, str] | None) -> int:
    """Bytes the server counts against max_payload: the payload plus the header block as
    nats-py encodes it (``NATS/1.0`` line, ``key: value`` lines, blank line)."""
    if not headers:
        return len(payload)
    return len(payload) + _HEADER_LINE + sum(len(k.encode()) + len(v.encode()) + 4 for k, v in headers.items())


def check_size(nc: NATS, subject: str, payload: bytes, headers: dict[str, str] | None) -> None:
    limit = nc.max_payload
    size = wire_size(payload, headers)
    if size > limit:
        log.error("publish_too_large", subject=subject, size=size, limit=limit)
        raise PayloadTooLarge(subject, size, limit)


class UnreadableMessage(BusError):
    """The message breaks its own schema's bounds (an oversized id, a text past 2 KB): stored,
    every reader would fail to decode it, so it is not sent. msgspec checks bounds only when
    decoding; this is where a producer learns of it."""

    reason = "UNREADABLE_MESSAGE"


_readers: dict[type, msgspec.msgpack.Decoder[Any]] = {}


def check_readable(message: msgspec.Struct, data: bytes) -> None:
    cls = type(message)
    reader = _readers.get(cls)
    if reader is None:
        reader = _readers[cls] = msgspec.msgpack.Decoder(cls)
    try:
        reader.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        log.error("publish_unreadable", kind=cls.__name__, reason=str(exc)[:TEXT_MAX])
        raise UnreadableMessage(f"{cls.__name__} would not decode: {exc}") from exc


def _client(js: JetStreamContext) -> NATS:
    # nats-py keeps the connection on the context without a public accessor.
    return js._nc  # noqa: SLF001


# How long one publish keeps trying through an outage (a leader election, a restarting node)
# before its caller gets PublishFailed. Every retry carries the same Nats-Msg-Id, so each
# stream's duplicate window (streams.py) must be longer than this plus one attempt's timeout.
PUBLISH_RETRY_S = 60.0
PUBLISH_TIMEOUT_S = 5.0
# JetStream's answers that mean "not now" rather than "never": no leader, no quorum.
_UNAVAILABLE = 503


def _refused(subject: str, exc: nats.js.errors.APIError) -> PublishFailed:
    return PublishFailed(f"JetStream refused {subject}: {exc.description}", transient=exc.code == _UNAVAILABLE)


def _unanswered(subject: str, exc: Exception) -> PublishFailed:
    return PublishFailed(f"no JetStream ack for {subject}: {type(exc).__name__}", transient=True)


# What nats-py raises when a publish got no answer (the server, or the stream's leader, away).
_NO_ANSWER = (nats.errors.TimeoutError, nats.js.errors.NoStreamResponseError, nats.errors.OutboundBufferLimitError,
              nats.errors.ConnectionReconnectingError)


async def publish(
    js: JetStreamContext,
    subject: str,
    message: msgspec.Struct,
    *,
    msg_id: str | None = None,
    timeout: float = PUBLISH_TIMEOUT_S,
    retry_for: float = PUBLISH_RETRY_S,
) -> PubAck:
    """Publish one typed message to JetStream and return its ack. ``msg_id`` becomes
    ``Nats-Msg-Id`` (dedup); without one, a fresh id is drawn for this call. A publish that gets
    no answer, or finds the stream without a leader, is sent again with the SAME id for up to
    ``retry_for`` seconds, so an outage of the server or an election loses nothing and doubles
    nothing; after that, :class:`PublishFailed` (``transient``). Whatever goes to ``janus.evt.*``
    is appended to its subject's hash chain (:func:`_append_event`). Raises
    :class:`PayloadTooLarge` / :class:`UnreadableMessage` before sending what could never be
    stored or read, and :class:`PublishFailed` at once when JetStream refuses it for good."""
    msg_id = msg_id or uuid.uuid4().hex
    deadline = time.monotonic() + retry_for
    backoff = Backoff(initial=0.1, cap=2.0)
    attempt = 0
    while True:
        attempt += 1
        try:
            return await _publish_once(js, subject, message, msg_id=msg_id, timeout=timeout)
        except PublishFailed as exc:
            delay = backoff.next_delay()
            if not exc.transient or time.monotonic() + delay >= deadline:
                raise
            log.warning("publish_retry", subject=subject, msg_id=msg_id, attempt=attempt, retry_in=delay,
                        detail=str(exc)[:TEXT_MAX])
            await asyncio.sleep(delay)


async def _publish_once(js: JetStreamContext, subject: str, message: msgspec.Struct, *, msg_id: str,
                        timeout: float) -> PubAck:
    if subject.startswith(subjects.EVT_PREFIX):
        if "prev_hash" not in message.__struct_fields__:
            raise TypeError(f"{type(message).__name__} has no prev_hash: it cannot join the chain of {subject}")
        return await _append_event(js, subject, message, msg_id=msg_id, timeout=timeout)
    headers = {"Nats-Msg-Id": msg_id}
    data = encode(message)
    check_readable(message, data)
    check_size(_client(js), subject, data, headers)
    try:
        return await _store(js, subject, data, headers, timeout)
    except _NO_ANSWER as exc:
        raise _unanswered(subject, exc) from exc
    except nats.js.errors.APIError as exc:
        raise _refused(subject, exc) from exc


class _Ack(msgspec.Struct):
    stream: str = ""
    seq: int = 0
    domain: str | None = None
    duplicate: bool | None = None
    error: dict[str, Any] | None = None


_ack = msgspec.json.Decoder(_Ack)


async def _store(js: JetStreamContext, subject: str, data: bytes, headers: dict[str, str], timeout: float) -> PubAck:
    """``js.publish`` with the ack read by msgspec: nats-py parses each ack with ``json`` and
    builds it by walking the dataclass's fields, a visible share of a busy publisher's time.
    The same request, the same errors (nats-py's own error types)."""
    try:
        reply = await _client(js).request(subject, data, timeout=timeout, headers=headers)
    except nats.errors.NoRespondersError as exc:
        raise nats.js.errors.NoStreamResponseError() from exc
    ack = _ack.decode(reply.data)
    if ack.error is not None:
        raise nats.js.errors.APIError.from_error(ack.error)  # (nats-py raises the typed error itself)
    return PubAck(stream=ack.stream, seq=ack.seq, domain=ack.domain, duplicate=ack.duplicate)


# JetStream: Nats-Expected-Last-Subject-Sequence did not hold. A single server says which
# sequence was last (10071); a replicated stream's leader only that it was not (10164).
WRONG_LAST_SEQUENCE = 10071
WRONG_LAST_SEQUENCE_CLUSTERED = 10164
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


async def _append_event(js: JetStreamContext, subject: str, event: msgspec.Struct, *, msg_id: str,
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
            check_readable(event, data)
            headers = {"Nats-Expected-Last-Subject-Sequence": str(tip[0]), "Nats-Msg-Id": msg_id}
            check_size(_client(js), subject, data, headers)
            ack = await _store(js, subject, data, headers, timeout)
        except nats.js.errors.APIError as exc:
            if exc.err_code in (WRONG_LAST_SEQUENCE, WRONG_LAST_SEQUENCE_CLUSTERED):
                tips.pop(subject, None)
                continue
            tips.pop(subject, None)
            raise _refused(subject, exc) from exc
        except _NO_ANSWER as exc:
            tips.pop(subject, None)
            raise _unanswered(subject, exc) from exc
        if ack.duplicate:
            tips.pop(subject, None)  # the earlier copy is stored; what is last now is unknown
        else:
            tips[subject] = (ack.seq, chain.link(data))
        return ack
    raise PublishFailed(f"could not append to {subject}: the chain kept moving ({MAX_APPEND_ATTEMPTS} tries)")


def is_transient(exc: BaseException) -> bool:
    """Whether a failure is the bus being away for a moment (worth waiting out) rather than an
    answer: a publish JetStream refused for good, a message too large or unreadable, refused
    credentials are answers."""
    if isinstance(exc, PublishFailed):
        return exc.transient
    if isinstance(exc, (PayloadTooLarge, UnreadableMessage, AuthRefused)):
        return False
    if isinstance(exc, nats.js.errors.APIError):
        return exc.code == _UNAVAILABLE
    return isinstance(exc, (BusError, TimeoutError, nats.errors.TimeoutError, nats.errors.NoRespondersError,
                            nats.errors.ConnectionReconnectingError, nats.errors.OutboundBufferLimitError,
                            nats.js.errors.NoStreamResponseError))


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
            message = codec.decode(req.data, subject=req.subject, content_type=content_type_of(req.headers))
        except MessageDecodeError as exc:
            log.warning("rpc_decode_error", subject=exc.subject, family=exc.family, reason=exc.reason)
            await req.respond(encode(RpcError(reason=RejectReason.MALFORMED, message=clip(str(exc)))))
            return
        try:
            reply = await handler(message)
        except Exception as exc:
            log.exception("rpc_handler_failed", subject=req.subject, error=type(exc).__name__)
            reply = RpcError(reason=RejectReason.INTERNAL, message=clip(f"{type(exc).__name__}: {exc}"))
        await req.respond(encode(reply))

    return endpoint


# --- history --------------------------------------------------------------------------------


ProgressHook = Callable[[int, int], None]  # (messages read so far, messages still to read)
PROGRESS_EVERY = 5_000


def _position(msg: Msg) -> tuple[int, int]:
    """(stream sequence, messages still pending) of a JetStream delivery, read straight from its
    reply subject ``$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<ns>.<pending>``:
    ``msg.metadata`` says the same but builds dataclasses and a datetime per message, a fifth of
    reading a stream. Any other form (with a domain) is left to nats-py."""
    tokens = msg.reply.split(".") if msg.reply else []
    if len(tokens) == 9 and tokens[0] == "$JS" and tokens[1] == "ACK":
        return int(tokens[5]), int(tokens[8])
    meta = msg.metadata
    return meta.sequence.stream, meta.num_pending


async def _walk(js: JetStreamContext, stream: str, subject: str, each: Callable[[Msg], None], *,
                since: datetime | None, timeout: float, start_seq: int | None = None) -> None:
    """Hand every message stored on ``subject`` to ``each``, oldest first, through an ordered
    consumer, from ``since`` when given. ``timeout`` bounds a stall (no message for that long),
    not the whole read: a long history takes as long as it takes. What ``each`` raises ends the
    read and is raised here (nats-py would log it from its callback and go on delivering: a fold
    that failed halfway would pass for a complete one)."""
    done = asyncio.Event()
    count = 0
    failed: list[Exception] = []

    async def on_msg(msg: Msg) -> None:
        nonlocal count
        count += 1
        if failed:
            return
        try:
            each(msg)
        except Exception as exc:
            failed.append(exc)
            done.set()
            return
        if _position(msg)[1] == 0:
            done.set()

    config = None
    if since is not None:
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=since)
    elif start_seq is not None:
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start_seq)
    sub = await js.subscribe(subject, stream=stream, ordered_consumer=True, cb=on_msg,
                             deliver_policy=None if config else DeliverPolicy.ALL, config=config)
    try:
        info = await sub.consumer_info()
        # consumer_seq counts only messages that matched the filter; stream_seq does not help:
        # a filtered consumer skips past other subjects' messages, so it is non-zero even when
        # nothing matched, and waiting for a last message would then hang.
        delivered = info.delivered.consumer_seq if info.delivered is not None else 0
        if info.num_pending == 0 and delivered == 0:
            return  # nothing stored (yet) for this filter
        while not done.is_set():
            seen = count
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(done.wait(), timeout)
            if not done.is_set() and count == seen:
                raise asyncio.TimeoutError(f"reading {subject} from {stream} stalled for {timeout:.0f}s "
                                           f"after {seen} messages")
        if failed:
            raise failed[0]
    finally:
        await sub.unsubscribe()


async def stored(
    js: JetStreamContext,
    stream: str,
    subject: str,
    *,
    since: datetime | None = None,
    timeout: float = 60.0,
    progress: ProgressHook | None = None,
    start_seq: int | None = None,
    each: Callable[[chain.Stored], None] | None = None,
) -> list[chain.Stored]:
    """Every message stored on ``subject`` (wildcards allowed), oldest first, as stored (subject,
    stream sequence, bytes); from ``since`` when given (nats-py sends it to the server as RFC 3339
    in UTC; a naive datetime is taken as UTC). ``progress`` hears how far it got every
    :data:`PROGRESS_EVERY` messages and at the end. ``timeout`` bounds a stall, not the read.
    ``start_seq``: from this stream sequence on (instead of ``since``). ``each`` sees every record
    as it arrives (work done while the server sends the rest)."""
    out: list[chain.Stored] = []

    def keep(msg: Msg) -> None:
        seq, pending = _position(msg)
        record = chain.Stored(msg.subject, seq, msg.data, content_type_of(msg.headers))
        out.append(record)
        if each is not None:
            each(record)
        if progress is not None and (pending == 0 or len(out) % PROGRESS_EVERY == 0):
            progress(len(out), pending)

    await _walk(js, stream, subject, keep, since=since, timeout=timeout, start_seq=start_seq)
    return out


async def stored_msg_ids(js: JetStreamContext, stream: str, subject: str, *, since: datetime,
                         timeout: float = 60.0) -> set[str]:
    """The ``Nats-Msg-Id`` of every message stored on ``subject`` since ``since``: whether a
    publish whose ack was lost was stored after all, once the duplicate window no longer says."""
    ids: set[str] = set()

    def keep(msg: Msg) -> None:
        if msg.headers and msg.headers.get("Nats-Msg-Id"):
            ids.add(msg.headers["Nats-Msg-Id"])

    await _walk(js, stream, subject, keep, since=since, timeout=timeout)
    return ids


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
    error: dict[str, Any] | None = None


async def history(
    js: JetStreamContext,
    stream: str,
    subject: str,
    codec: Codec[T],
    *,
    since: datetime | None = None,
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


_CONSUMER_NAMES = frozenset({"Consumer", "ConsumerStats", "Handler", "DecodeErrorHook", "dead_letter_of"})


def __getattr__(name: str) -> Any:
    # Lazily, because consumer.py publishes its dead letters through this module.
    if name in _CONSUMER_NAMES:
        from . import consumer
        return getattr(consumer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
