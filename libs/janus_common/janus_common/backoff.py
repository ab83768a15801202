"""The one exponential backoff of Janus: reconnect loops, retried calls, restarts."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

__all__ = ["Backoff"]


@dataclass
class Backoff:
    """Delays ``initial``, ``initial × factor``, … up to ``cap``; :meth:`reset` after a success."""

    initial: float = 0.5
    cap: float = 30.0
    factor: float = 2.0
    _next: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._next = self.initial

    def reset(self) -> None:
        self._next = self.initial

    def next_delay(self, at_least: float = 0.0) -> float:
        delay = max(self._next, at_least)
        self._next = min(self._next * self.factor, self.cap)
        return delay

    async def sleep(self, stopping: asyncio.Event | None = None, *, at_least: float = 0.0) -> None:
        """Wait the next delay, or less if ``stopping`` is set meanwhile."""
        delay = self.next_delay(at_least)
        if stopping is None:
            await asyncio.sleep(delay)
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stopping.wait(), delay)
