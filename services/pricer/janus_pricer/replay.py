"""Reading the latest message per subject from a stream: how the pricer restores its price
cache at start from the ``janus_prices`` KV bucket and the MARKET stream. Adapter."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

BATCH = 512


async def last_per_subject(js: JetStreamContext, stream: str, subject: str,
                           *, timeout: float = 5.0) -> AsyncIterator[Msg]:
    """Yield the newest message of every subject matching ``subject`` in ``stream``, once,
    through a throw-away consumer. What arrives after the start is not included."""
    config = ConsumerConfig(deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
                            ack_policy=AckPolicy.NONE, inactive_threshold=30.0,
                            mem_storage=True)
    try:
        sub = await js.pull_subscribe(subject, stream=stream, config=config)
    except nats.js.errors.NotFoundError:
        return  # no such stream yet: nothing to restore
    try:
        remaining = (await sub.consumer_info()).num_pending or 0  # None: the server sent none
        while remaining > 0:
            try:
                msgs = await sub.fetch(min(remaining, BATCH), timeout=timeout)
            except nats.errors.TimeoutError:
                return  # messages aged out while reading: what was read is all there is
            for msg in msgs:
                remaining = msg.metadata.num_pending
                yield msg
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()


def is_kv_delete(msg: Msg) -> bool:
    """A KV delete or purge marker, not a value."""
    return msg.headers is not None and msg.headers.get("KV-Operation") in ("DEL", "PURGE")
