"""What the ``janus positions`` / ``janus watch`` commands call. Adapter over NATS.

``latest`` reads the last valuation per account from KV (a late joiner's view); ``watch``
yields valuations as the pricer publishes them. Render with :mod:`janus_pricer.view`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from janus_common import subjects
from janus_common.messages import VALUATIONS, AccountValuation, MessageDecodeError
from janus_common.streams import KV_VALUATIONS


async def latest(js: JetStreamContext, account: str | None = None) -> list[AccountValuation]:
    """The latest valuation of ``account`` (or of every account), from KV; [] if none."""
    try:
        kv = await js.key_value(KV_VALUATIONS)
    except nats.js.errors.BucketNotFoundError:
        return []
    if account is not None:
        keys = [subjects.account_token(account)]
    else:
        try:
            keys = await kv.keys()
        except nats.js.errors.NoKeysError:
            return []
    out = []
    for key in keys:
        try:
            entry = await kv.get(key)
        except nats.js.errors.KeyNotFoundError:
            continue
        if entry.value:
            out.append(VALUATIONS.decode(entry.value, subject=f"$KV.{KV_VALUATIONS}.{key}"))
    return sorted(out, key=lambda v: v.account)


async def watch(nc: NATS, account: str | None = None) -> AsyncIterator[AccountValuation]:
    """Valuations as they are published (undecodable ones are skipped: the next one comes)."""
    subject = subjects.val(account) if account else subjects.ALL_VALUATIONS
    queue: asyncio.Queue[bytes] = asyncio.Queue()

    async def collect(msg) -> None:
        queue.put_nowait(msg.data)

    sub = await nc.subscribe(subject, cb=collect)
    try:
        while True:
            data = await queue.get()
            try:
                yield VALUATIONS.decode(data, subject=subject)
            except MessageDecodeError:
                continue
    finally:
        await sub.unsubscribe()
