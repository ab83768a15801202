"""The per-subject hash chain of EVENTS, as pure functions.

Each event stored on a subject carries ``prev_hash``: the SHA-256 (hex) of the bytes stored
just before it on the same subject, or "" for the subject's first event. Walking a subject in
stream order and recomputing the links tells whether an event was removed, edited or inserted
after the fact. It is tamper-evidence against edits of the store, not a signature: someone who
rewrites every later event of the subject too is not caught by this alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable

import msgspec

GENESIS = ""


def link(data: bytes) -> str:
    """The hash the next event on the same subject must carry."""
    return hashlib.sha256(data).hexdigest()


class Stored(msgspec.Struct, frozen=True):
    """One message as the stream holds it."""

    subject: str
    seq: int
    data: bytes
    content_type: str | None = None  # its Content-Type header (a JSON intent); None: MessagePack


class ChainBreak(msgspec.Struct, frozen=True):
    subject: str
    seq: int
    reason: str  # BAD_LINK | UNREADABLE
    detail: str


def breaks(
    records: Iterable[Stored],
    prev_hash_of: Callable[[bytes], str | None],
    *,
    anchored: bool = True,
) -> list[ChainBreak]:
    """Every place where the chain does not hold, in stream order.

    ``prev_hash_of`` reads an event's ``prev_hash`` from its bytes (None if unreadable).
    ``anchored``: the records start at the subject's beginning, so its first event must carry
    GENESIS; when False (a replay from a time), a subject's first record is trusted as the anchor.
    """
    tip: dict[str, str] = {}
    found: list[ChainBreak] = []
    for record in sorted(records, key=lambda r: r.seq):
        carried = prev_hash_of(record.data)
        expected = tip.get(record.subject, GENESIS if anchored else None)
        tip[record.subject] = link(record.data)
        if carried is None:
            found.append(ChainBreak(record.subject, record.seq, "UNREADABLE", "no prev_hash can be read"))
        elif expected is not None and carried != expected:
            what = "the subject's first event must start the chain" if expected == GENESIS else \
                "the event stored before it on this subject is not the one it was chained to"
            found.append(ChainBreak(record.subject, record.seq, "BAD_LINK",
                                    f"{what} (carries {carried[:12] or '<genesis>'}, "
                                    f"expected {expected[:12] or '<genesis>'})"))
    return found
