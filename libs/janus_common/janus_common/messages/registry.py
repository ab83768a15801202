"""Registry events (janus.evt.registry)."""

from __future__ import annotations

from .base import Hash, Id, Message, Word, new_id, now_ns
from .contracts import RegistryRecord

import msgspec

__all__ = [
    "RegistryEntryWritten",
    "RegistryEvent",
]



class RegistryEntryWritten(Message, frozen=True, kw_only=True):
    event_id: Id = msgspec.field(default_factory=new_id)
    ts: int = msgspec.field(default_factory=now_ns)
    record: RegistryRecord
    source: Word  # config, lookup, holdings, harmony
    fields: list[Word]  # what this write filled
    prev_hash: Hash = ""  # the subject's hash chain, as on every Event (set by bus.publish)


RegistryEvent = RegistryEntryWritten
