"""Snapshots of a service's projection in the ``janus_snapshots`` object store: the state's
bytes, the EVENTS sequence they cover and their SHA-256, so a service starts from the snapshot
plus the events after it instead of the whole history. Adapter.

A snapshot is only a shortcut: the events stay the record. One that is missing, of another
format, or whose bytes do not match their digest is ignored with a warning and the service
replays everything, as before snapshots existed. The audit never uses them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Callable
from typing import Generic, TypeVar

import msgspec
import nats.errors
import nats.js.errors
import structlog
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, ObjectInfo, ObjectMeta

from .streams import EVENTS_STREAM, OBJ_SNAPSHOTS

__all__ = ["Snapshot", "Snapshotter", "info", "load", "save"]

log = structlog.get_logger()


class Snapshot(msgspec.Struct, frozen=True, kw_only=True):
    """What the object's description holds (the bytes are the object itself)."""

    name: str
    format: int  # the state's layout version: another one is ignored
    seq: int  # the last EVENTS sequence folded into the state
    events: int  # how many events were folded
    sha256: str  # of the state's bytes
    taken_ns: int
    size: int = 0
    # When EVENTS was created: a snapshot of a stream that has since been deleted and made
    # again (its sequences mean other events now) is not this stream's.
    epoch: str = ""


async def save(js: JetStreamContext, name: str, state: bytes, *, fmt: int, seq: int, events: int,
               epoch: str = "") -> Snapshot:
    meta = Snapshot(name=name, format=fmt, seq=seq, events=events, sha256=hashlib.sha256(state).hexdigest(),
                    taken_ns=time.time_ns(), size=len(state), epoch=epoch)
    store = await js.object_store(OBJ_SNAPSHOTS)
    await store.put(name, state, meta=ObjectMeta(name=name, description=msgspec.json.encode(meta).decode()))
    log.info("snapshot_saved", name=name, seq=seq, events=events, size=len(state))
    return meta


async def info(js: JetStreamContext, name: str) -> Snapshot | None:
    """The stored snapshot's description, without its bytes (None if there is none)."""
    try:
        store = await js.object_store(OBJ_SNAPSHOTS)
        found = await store.get_info(name)
        return msgspec.json.decode(found.description or "", type=Snapshot)
    except (nats.js.errors.ObjectNotFoundError, nats.js.errors.NotFoundError, nats.js.errors.BucketNotFoundError):
        return None
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


async def load(js: JetStreamContext, name: str, *, fmt: int) -> tuple[Snapshot, bytes] | None:
    """The snapshot and its bytes, or None (with a warning saying why) when there is none that
    can be trusted: the caller then replays the whole history."""
    try:
        store = await js.object_store(OBJ_SNAPSHOTS)
        found = await store.get_info(name)
        meta = msgspec.json.decode(found.description or "", type=Snapshot)
        if meta.format != fmt:
            log.warning("snapshot_ignored", name=name, reason=f"format {meta.format}, this version reads {fmt}")
            return None
        data = await _chunks(js, found)
    except (nats.js.errors.ObjectNotFoundError, nats.js.errors.NotFoundError, nats.js.errors.BucketNotFoundError):
        log.info("snapshot_absent", name=name)
        return None
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        log.warning("snapshot_ignored", name=name, reason=f"unreadable description: {exc}")
        return None
    except (nats.js.errors.Error, nats.errors.Error) as exc:
        log.warning("snapshot_ignored", name=name, reason=f"{type(exc).__name__}: {exc}")
        return None
    if hashlib.sha256(data).hexdigest() != meta.sha256:
        log.warning("snapshot_ignored", name=name, reason="its bytes do not match their sha256")
        return None
    return meta, data


# Chunks fetched per pull request: a few MB in flight, far under the client's pending limits.
CHUNK_BATCH = 32
CHUNK_WAIT_S = 10.0


async def _chunks(js: JetStreamContext, found: ObjectInfo) -> bytes:
    """The object's bytes, read with an ephemeral pull consumer in batches. nats-py's own get
    reads through an ordered push consumer whose flow control held a 30 MB snapshot to
    ~27 MB/s (a million-event ledger is several times that); batched pulls read it ~7x faster.
    An object replaced meanwhile (its chunks purged) ends as a nats error: the caller then
    replays everything."""
    stream = f"OBJ_{found.bucket}"
    sub = await js.pull_subscribe(f"$O.{found.bucket}.C.{found.nuid}", stream=stream, config=ConsumerConfig(
        ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL, mem_storage=True, inactive_threshold=30.0))
    parts: list[bytes] = []
    try:
        while len(parts) < (found.chunks or 0):
            batch = await sub.fetch(min(CHUNK_BATCH, (found.chunks or 0) - len(parts)), timeout=CHUNK_WAIT_S)
            parts += [msg.data for msg in batch]
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
    data = b"".join(parts)
    if len(data) != found.size:
        raise nats.js.errors.Error(f"read {len(data)} bytes of a {found.size}-byte snapshot")
    return data


S = TypeVar("S")

SNAPSHOT_EVERY_EVENTS = 20_000
SNAPSHOT_EVERY_S = 60.0


async def stream_epoch(js: JetStreamContext, stream: str = EVENTS_STREAM) -> str:
    """The stream's identity across deletes: its creation time."""
    return str((await js.stream_info(stream)).created or "")


class Snapshotter(Generic[S]):
    """The one snapshot policy of a projection: restore at start (trusting only a snapshot of
    this format, this stream and bytes that match their digest), and save again once at least
    ``every_events`` events and ``every_s`` seconds have passed, in the background. Replicas
    share the object: one that finds a snapshot recent enough already stored does not write."""

    def __init__(self, js: JetStreamContext, name: str, *, fmt: int, encode: Callable[[S], bytes],
                 decode: Callable[[bytes], S], every_events: int = SNAPSHOT_EVERY_EVENTS,
                 every_s: float = SNAPSHOT_EVERY_S) -> None:
        self.js = js
        self.name = name
        self.fmt = fmt
        self.encode = encode
        self.decode = decode
        self.every_events = every_events
        self.every_s = every_s
        self.epoch = ""
        self.saved_seq = 0
        self._saved_at = time.monotonic()
        self._saving: asyncio.Task[None] | None = None
        self._latest: tuple[S, int, int] | None = None

    async def restore(self, newest_seq: int) -> tuple[S, Snapshot] | None:
        """The stored state and its description, or None: replay everything."""
        self.epoch = await stream_epoch(self.js)
        found = await load(self.js, self.name, fmt=self.fmt)
        if found is None:
            return None
        meta, data = found
        if meta.epoch != self.epoch or meta.seq > newest_seq:
            log.warning("snapshot_ignored", name=self.name, reason="taken of another EVENTS stream (deleted since)")
            return None
        try:
            state = self.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.warning("snapshot_ignored", name=self.name, reason=f"state unreadable: {exc}")
            return None
        self.saved_seq = meta.seq
        log.info("snapshot_restored", name=self.name, seq=meta.seq, events=meta.events, size=meta.size)
        return state, meta

    def _due(self, seq: int) -> bool:
        return seq - self.saved_seq >= self.every_events and time.monotonic() - self._saved_at >= self.every_s

    def applied(self, state: S, seq: int, events: int) -> None:
        """Called after each event folded: saves in the background when one is due (and, when a
        save is under way, the newest state once it is done)."""
        self._latest = (state, seq, events)
        if (self._saving is None or self._saving.done()) and self._due(seq):
            self._saving = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while self._latest is not None and self._due(self._latest[1]):
            state, seq, events = self._latest
            self._saved_at = time.monotonic()
            if not await self._save(state, seq, events):
                return  # tried again after every_s, at a later event

    async def _save(self, state: S, seq: int, events: int) -> bool:
        try:
            stored = await info(self.js, self.name)
            if stored is not None and stored.epoch == self.epoch and stored.seq > seq - self.every_events // 2:
                self.saved_seq = stored.seq  # another replica's is recent enough
                return True
            # The state is frozen: encoding it off the event loop cannot see it change.
            data = await asyncio.to_thread(self.encode, state)
            await save(self.js, self.name, data, fmt=self.fmt, seq=seq, events=events, epoch=self.epoch)
            self.saved_seq = seq
            return True
        except Exception as exc:  # a snapshot is a shortcut: failing one costs a longer start, later
            log.warning("snapshot_save_failed", name=self.name, error=type(exc).__name__, detail=str(exc)[:200])
            return False

    async def stop(self) -> None:
        if self._saving is not None and not self._saving.done():
            self._saving.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._saving
