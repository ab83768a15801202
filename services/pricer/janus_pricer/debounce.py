"""At most one valuation per account per window, however many ticks arrive. Pure.

An account that changes is *pending*; it is due once a full window has passed since its last
snapshot (at once if it never had one). Emitting records the time, so two snapshots of one
account are never closer than the window, and a pending change waits at most one window.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Debounce:
    window_ns: int
    last_emit: dict[str, int] = field(default_factory=dict)
    pending: frozenset[str] = frozenset()


def touch(state: Debounce, accounts: Iterable[str]) -> Debounce:
    """Mark accounts as changed. Cheap when they already are (the burst case)."""
    accounts = frozenset(accounts)
    if accounts <= state.pending:
        return state
    return Debounce(state.window_ns, state.last_emit, state.pending | accounts)


def deadline(state: Debounce, account: str) -> int | None:
    """When ``account`` may be emitted next (None = any time)."""
    last = state.last_emit.get(account)
    return None if last is None else last + state.window_ns


def next_due(state: Debounce) -> int | None:
    """The earliest time a pending account becomes due; None when nothing is pending."""
    if not state.pending:
        return None
    times = [deadline(state, a) for a in state.pending]
    if None in times:
        return 0  # an account never emitted is due at once
    return min(t for t in times if t is not None)


def take_due(state: Debounce, now: int) -> tuple[frozenset[str], Debounce]:
    """The pending accounts due at ``now``, and the state after emitting them at ``now``."""
    due = frozenset(a for a in state.pending
                    if (d := deadline(state, a)) is None or d <= now)
    if not due:
        return due, state
    return due, Debounce(state.window_ns, {**state.last_emit, **{a: now for a in due}},
                         state.pending - due)
