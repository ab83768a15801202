"""What the ``janus positions`` / ``janus watch`` commands call. Adapter over NATS.

``latest`` reads the last valuation per account from KV (a late joiner's view); live ones come
from ``JanusClient.follow_valuations``. Render with :mod:`janus_client.positions_view`.
"""

from __future__ import annotations


import nats.js.errors
from nats.js import JetStreamContext

from janus_common import subjects
from janus_common.messages import VALUATIONS, AccountValuation
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
