"""Whether an intent is still fresh enough to execute. Pure.

An intent can sit in INTENTS while no router runs, or be redelivered long after it was sent;
executing it then trades at a moment the client did not choose. Its age counts from the
earlier of the client's own stamp and the time the stream stored it: a client whose clock runs
ahead cannot make an old intent look new, and one whose clock runs behind is told so with the
figures rather than trading on a misreading."""

from __future__ import annotations

from janus_common.messages import OrderIntent, RejectReason

from .decide import Rejection

NS = 1_000_000_000


def check_fresh(intent: OrderIntent, stored_ns: int | None, now_ns: int, max_age_s: float) -> Rejection | None:
    sent = intent.ts if stored_ns is None else min(intent.ts, stored_ns)
    age_s = (now_ns - sent) / NS
    if age_s <= max_age_s:
        return None
    stored = "" if stored_ns is None else f", stored {(now_ns - stored_ns) / NS:.3f} s ago"
    return Rejection(RejectReason.STALE,
                     f"intent is {age_s:.3f} s old (sent {(now_ns - intent.ts) / NS:.3f} s ago{stored}); "
                     f"this account executes intents up to {max_age_s:g} s old")
