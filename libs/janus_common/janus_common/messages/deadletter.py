"""What a consumer could not process: kept on janus.dlq.{consumer} so nothing is lost."""

from __future__ import annotations

import msgspec

from .base import Hash, Id, Message, Subject, Text, Word, new_id, now_ns

# How much of the refused bytes a letter carries: enough to recognise the message, and small
# enough that the letter always fits (the original may be as large as the server's max payload).
HEAD_BYTES = 1024

__all__ = [
    "DeadLetter",
    "HEAD_BYTES",
]



class DeadLetter(Message, frozen=True, kw_only=True):
    """A refused message, described: its size, its SHA-256 and its first bytes (``data``), and
    where it is stored (``stream``/``stream_seq``), where the whole of it can still be read."""

    event_id: Id = msgspec.field(default_factory=new_id)
    ts: int = msgspec.field(default_factory=now_ns)
    consumer: Word
    subject: Subject
    error: Word  # the typed error's class name
    detail: Text
    # Letters written before sizes were bounded carry the whole message here; they stay readable.
    data: bytes
    size: int | None = None  # of the original payload
    sha256: Hash | None = None
    stream: Word | None = None
    stream_seq: int | None = None
    truncated: bool = False
