"""Fan-out to the browsers' server-sent-event streams. Each browser has a bounded queue; one
that cannot keep up is dropped (its EventSource reconnects and starts from a fresh state)
rather than letting its backlog grow without limit."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import structlog
from prometheus_client import Gauge

log = structlog.get_logger()

BROWSERS = Gauge("janus_web_browsers", "Browsers following the console's live stream")

QUEUE_MAX = 1_000
CLOSED = None  # the sentinel that ends a stream (shutdown, or a browser too slow)


def sse(kind: str, data: Any) -> bytes:
    """One server-sent event: ``event:`` names what the page does with ``data`` (JSON)."""
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class Hub:
    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[bytes | None]] = set()
        BROWSERS.set_function(lambda: len(self._queues))

    def join(self) -> asyncio.Queue[bytes | None]:
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=QUEUE_MAX)
        self._queues.add(queue)
        return queue

    def leave(self, queue: asyncio.Queue[bytes | None]) -> None:
        self._queues.discard(queue)

    def send(self, kind: str, data: Any) -> None:
        if not self._queues:
            return
        frame = sse(kind, data)
        for queue in list(self._queues):
            try:
                queue.put_nowait(frame)
            except asyncio.QueueFull:
                log.warning("browser_too_slow_dropped")
                self._drop(queue)

    def _drop(self, queue: asyncio.Queue[bytes | None]) -> None:
        self._queues.discard(queue)
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(CLOSED)

    def close(self) -> None:
        for queue in list(self._queues):
            self._drop(queue)

    @property
    def browsers(self) -> int:
        return len(self._queues)
