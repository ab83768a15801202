"""An event collector for tests that wait for events in any order (shared by the gateway suites)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


@dataclass
class Events:
    """Every event seen, in order. ``next`` returns the first unclaimed match, waiting if needed,
    so a test can look for events in any order without losing the ones it skipped."""

    queue: asyncio.Queue
    seen: list = None
    claimed: set = None

    def __post_init__(self) -> None:
        self.seen, self.claimed = [], set()

    def _match(self, kind, where):
        for event in self.seen:
            key = getattr(event, "event_id", id(event))
            if key not in self.claimed and (kind is None or isinstance(event, kind)) and where(event):
                self.claimed.add(key)
                return event
        return None

    async def next(self, kind=None, timeout: float = 10.0, where=lambda e: True):
        async def find():
            while (found := self._match(kind, where)) is None:
                self.seen.append(await self.queue.get())
            return found
        return await asyncio.wait_for(find(), timeout)

    def drain(self) -> list:
        while not self.queue.empty():
            self.seen.append(self.queue.get_nowait())
        return self.seen
