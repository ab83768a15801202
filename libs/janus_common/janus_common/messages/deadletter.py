"""What a consumer could not process: kept on janus.dlq.{consumer} so nothing is lost."""

from __future__ import annotations

import msgspec

from .base import Message, new_id, now_ns

__all__ = [
    "DeadLetter",
]



class DeadLetter(Message, frozen=True, kw_only=True):
    event_id: str = msgspec.field(default_factory=new_id)
    ts: int = msgspec.field(default_factory=now_ns)
    consumer: str
    subject: str
    error: str  # the typed error's class name
    detail: str
    data: bytes
