"""Scenario switches the control interface flips; the servers consult them on every request."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

ERROR_CODES = {429: "TOO_MANY_REQUESTS", 500: "INTERNAL_ERROR", 502: "BAD_GATEWAY", 503: "SERVICE_UNAVAILABLE",
               504: "GATEWAY_TIMEOUT"}


@dataclass(frozen=True)
class HttpFault:
    status: int
    # True: the request is carried out and only the answer is an error (an ambiguous outcome).
    executed: bool = False

    def body(self) -> dict[str, str]:
        code = ERROR_CODES.get(self.status, "SERVER_ERROR")
        return {"error_code": code, "message": f"simulated {self.status} ({code.lower()})"}


@dataclass
class Faults:
    http_errors: deque[HttpFault] = field(default_factory=deque)
    http_delay: float = 0.0
    http_delay_count: int | None = None  # None: every request until cleared
    stream_silent: bool = False  # order events are dropped, the stream itself stays up
    stream_silent_pings: bool = False  # silent stream also stops pinging
    stream_down: bool = False  # new subscriptions are refused with UNAVAILABLE

    def next_http_fault(self) -> HttpFault | None:
        return self.http_errors.popleft() if self.http_errors else None

    def next_delay(self) -> float:
        if self.http_delay <= 0:
            return 0.0
        if self.http_delay_count is not None:
            if self.http_delay_count <= 0:
                return 0.0
            self.http_delay_count -= 1
        return self.http_delay

    def clear(self) -> None:
        self.http_errors.clear()
        self.http_delay = 0.0
        self.http_delay_count = None
        self.stream_silent = False
        self.stream_silent_pings = False
        self.stream_down = False

    def to_json(self) -> dict[str, Any]:
        return {
            "http_errors": [f.status for f in self.http_errors], "http_delay": self.http_delay,
            "http_delay_count": self.http_delay_count, "stream_silent": self.stream_silent,
            "stream_silent_pings": self.stream_silent_pings, "stream_down": self.stream_down,
        }
