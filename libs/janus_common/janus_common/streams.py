"""JetStream streams and KV buckets, created or updated idempotently at start-up.

Every service calls :func:`ensure_streams` before it consumes; concurrent callers are fine:
a create that loses the race finds the stream and updates it to the same configuration.

INTENTS and EVENTS are records (what clients asked, what happened): the server refuses to
delete a message from them or purge them (``deny_delete``, ``deny_purge``). An existing stream
without those flags gets them from the update here; the server never lets them be lifted again.
Deleting a whole stream stays possible (a JetStream permission, not a stream setting).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import (
    DiscardPolicy,
    KeyValueConfig,
    ObjectStoreConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from . import subjects

log = structlog.get_logger()

DAY = 24 * 3600.0

# The stream names, defined here once.
INTENTS_STREAM = "INTENTS"
ROUTES_STREAM = "ROUTES"
EVENTS_STREAM = "EVENTS"
MARKET_STREAM = "MARKET"
DEADLETTER_STREAM = "DEADLETTER"


@dataclass(frozen=True)
class Topology:
    """Sizes that operators tune (replicas > 1 on a NATS cluster)."""

    replicas: int = 1
    intents_dedup_window_s: float = 2 * DAY
    # Longer than the longest publish retry (bus.PUBLISH_RETRY_S + one attempt's timeout = 65 s):
    # an event re-sent after an ack lost in an outage is still recognised and dropped.
    events_dedup_window_s: float = 120.0
    market_max_age_s: float = 1 * DAY
    # Ticks are bounded by bytes as well as age, so a burst of market data can never fill the
    # disk that EVENTS (the record) needs: the oldest ticks go first.
    market_max_bytes: int = 1024**3
    dlq_max_age_s: float = 30 * DAY
    # Per-message bounds, far above any legitimate message (an intent or a route is under 2 KB
    # with the catalogue's string bounds; a position snapshot of thousands of lines fits in
    # EVENTS) and below the server's max payload, so whatever a stream stores can be read,
    # re-published and described without hitting the connection's limit.
    intents_max_msg_size: int = 64 * 1024
    routes_max_msg_size: int = 64 * 1024
    events_max_msg_size: int = 512 * 1024
    dlq_max_msg_size: int = 64 * 1024


def stream_configs(t: Topology = Topology()) -> list[StreamConfig]:
    return [
        StreamConfig(
            name=INTENTS_STREAM,
            description="client order and cancel intents, operator account commands (dedup by Nats-Msg-Id)",
            subjects=[subjects.ALL_INTENTS, subjects.ALL_CONTROL],
            storage=StorageType.FILE,
            retention=RetentionPolicy.LIMITS,
            duplicate_window=t.intents_dedup_window_s,
            max_msg_size=t.intents_max_msg_size,
            num_replicas=t.replicas,
            deny_delete=True,
            deny_purge=True,
        ),
        StreamConfig(
            name=ROUTES_STREAM,
            description="router → gateway broker orders and cancels (work queue)",
            subjects=[subjects.ALL_ROUTES],
            storage=StorageType.FILE,
            retention=RetentionPolicy.WORK_QUEUE,
            duplicate_window=t.intents_dedup_window_s,
            max_msg_size=t.routes_max_msg_size,
            num_replicas=t.replicas,
        ),
        StreamConfig(
            name=EVENTS_STREAM,
            description="the audit log: order life, positions, account values, registry writes",
            subjects=[subjects.ALL_EVENTS],
            storage=StorageType.FILE,
            retention=RetentionPolicy.LIMITS,
            duplicate_window=t.events_dedup_window_s,
            max_msg_size=t.events_max_msg_size,
            # Last-by-subject reads name the subject in the API subject, which permissions can
            # scope to an account (a client reads its own positions, nobody else's).
            allow_direct=True,
            num_replicas=t.replicas,
            deny_delete=True,
            deny_purge=True,
        ),
        StreamConfig(
            name=MARKET_STREAM,
            description="ticks and bars, bounded by age",
            subjects=[subjects.ALL_MARKET_DATA],
            storage=StorageType.FILE,
            retention=RetentionPolicy.LIMITS,
            max_age=t.market_max_age_s,
            max_bytes=t.market_max_bytes,
            discard=DiscardPolicy.OLD,
            num_replicas=t.replicas,
        ),
        StreamConfig(
            name=DEADLETTER_STREAM,
            description="messages a consumer could not process, kept for people to look at",
            subjects=[subjects.ALL_DLQ],
            storage=StorageType.FILE,
            retention=RetentionPolicy.LIMITS,
            max_age=t.dlq_max_age_s,
            max_msg_size=t.dlq_max_msg_size,
            num_replicas=t.replicas,
        ),
    ]


KV_PRICES = "janus_prices"
KV_VALUATIONS = "janus_valuations"
# Services' projections, so a start-up folds only the events after one (janus_common.snapshots).
OBJ_SNAPSHOTS = "janus_snapshots"


def kv_configs(t: Topology = Topology()) -> list[KeyValueConfig]:
    return [
        KeyValueConfig(bucket=KV_PRICES, description="latest price per canonical symbol",
                       history=1, replicas=t.replicas),
        KeyValueConfig(bucket=KV_VALUATIONS, description="latest valuation per account",
                       history=1, replicas=t.replicas),
    ]


class TopologyError(RuntimeError):
    """A stream or bucket cannot have the configuration asked for; ``action`` tells the
    operator what to do about it."""

    def __init__(self, stream: str, detail: str, action: str) -> None:
        self.stream = stream
        self.detail = detail
        self.action = action
        super().__init__(f"stream {stream}: {detail}. {action}")


# JetStream's answers when a stream cannot have the replicas asked for: a server that is not
# clustered (10074), a cluster without enough JetStream peers to place them (10005).
_NO_REPLICAS = frozenset({10074, 10005})


def _explain(name: str, replicas: int, exc: nats.js.errors.APIError) -> TopologyError:
    detail = str(exc.description or exc)
    if replicas > 1 and exc.err_code in _NO_REPLICAS:
        return TopologyError(name, detail, f"nats.replicas: {replicas} needs a NATS cluster of at least {replicas} "
                                           "JetStream servers: point JANUS_NATS_URL at every node of the cluster "
                                           "(comma-separated), or set nats.replicas: 1")
    return TopologyError(name, detail, "check the server's JetStream limits and its log; the stream was left as it was")


async def _ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    if config.name is None:  # nats-py types the name optional; every stream here has one
        raise ValueError("a stream configuration needs a name")
    replicas = config.num_replicas or 1
    try:
        try:
            await js.stream_info(config.name)
        except nats.js.errors.NotFoundError:
            try:
                await js.add_stream(config)
                return
            except nats.js.errors.BadRequestError:
                pass  # lost a creation race (or cannot be made: the update says why, once)
        # An update also moves replicas (R1 -> R3 on a cluster): JetStream copies the data over.
        await js.update_stream(config)
    except nats.js.errors.APIError as exc:
        raise _explain(config.name, replicas, exc) from exc


async def _ensure_store(js: JetStreamContext, name: str, replicas: int,
                        create: Callable[[], Awaitable[object]]) -> None:
    """Create a bucket (KV or object store: a stream ``name`` underneath), or bring an existing
    one's replicas to the configuration; its other settings are left as they are."""
    try:
        try:
            info = await js.stream_info(name)
        except nats.js.errors.NotFoundError:
            try:
                await create()
                return
            except nats.js.errors.BadRequestError:
                info = await js.stream_info(name)  # lost a creation race
        if (info.config.num_replicas or 1) != replicas:
            await js.update_stream(dataclasses.replace(info.config, num_replicas=replicas))
    except nats.js.errors.APIError as exc:
        raise _explain(name, replicas, exc) from exc


def stream_names(t: Topology = Topology()) -> list[str]:
    """Every stream Janus makes, the buckets' own streams (``KV_…``, ``OBJ_…``) included."""
    return ([c.name for c in stream_configs(t) if c.name] + [f"KV_{kv.bucket}" for kv in kv_configs(t)]
            + [f"OBJ_{OBJ_SNAPSHOTS}"])


async def await_streams(js: JetStreamContext, t: Topology = Topology(), *, max_backoff: float = 5.0) -> None:
    """Wait until every stream and bucket exists: under the bus's permissions only the
    supervisor creates them, and a service started before it must not fail for that."""
    delay = 0.1
    for name in stream_names(t):
        while True:
            try:
                await js.stream_info(name)
                break
            except nats.js.errors.NotFoundError:
                log.info("waiting_for_stream", stream=name, retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, max_backoff)


async def ensure_streams(js: JetStreamContext, t: Topology = Topology()) -> None:
    """Create or update every stream and KV bucket. Safe to call from every process. Raises
    :class:`TopologyError` (with what to do) when the server cannot hold the configuration."""
    for config in stream_configs(t):
        await _ensure_stream(js, config)
    for kv in kv_configs(t):
        await _ensure_store(js, f"KV_{kv.bucket}", kv.replicas, functools.partial(js.create_key_value, kv))
    await _ensure_store(js, f"OBJ_{OBJ_SNAPSHOTS}", t.replicas, lambda: js.create_object_store(
        OBJ_SNAPSHOTS, config=ObjectStoreConfig(
            description="services' projections with the EVENTS sequence they cover", replicas=t.replicas)))
