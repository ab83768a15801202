"""A NATS connection under one identity that hears the server's refusals (shared by tests).

The server answers a publish or a subscription its permissions forbid with an asynchronous
``-ERR 'Permissions Violation ...'``; :meth:`Probe.refused` waits for the one naming a subject.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from nats.aio.client import Client as NATS

from janus_common import bus


class Probe:
    def __init__(self) -> None:
        self.nc: NATS | None = None
        self.violations: asyncio.Queue[str] = asyncio.Queue()
        self.seen: list[str] = []

    @classmethod
    async def connect(cls, url: str, creds: Path | str) -> "Probe":
        probe = cls()
        probe.nc = await bus.connect(url, f"probe-{Path(creds).stem}", initial_attempts=2, creds=creds,
                                     on_error=lambda exc: probe.violations.put_nowait(str(exc).lower()))
        return probe

    @property
    def js(self):
        assert self.nc is not None
        return self.nc.jetstream()

    async def refused(self, kind: str, subject: str, timeout: float = 5.0) -> str:
        """Wait for the server's refusal of ``kind`` (publish | subscription) to ``subject``."""
        wanted = f'permissions violation for {kind} to "{subject.lower()}"'

        async def find() -> str:
            while True:
                text = await self.violations.get()
                self.seen.append(text)
                if wanted in text:
                    return text

        return await asyncio.wait_for(find(), timeout)

    async def publish_refused(self, subject: str, data: bytes = b"x", reply: str = "") -> str:
        assert self.nc is not None
        await self.nc.publish(subject, data, reply=reply)
        await self.nc.flush()
        return await self.refused("publish", subject)

    async def subscribe_refused(self, subject: str) -> str:
        assert self.nc is not None
        await self.nc.subscribe(subject)
        await self.nc.flush()
        return await self.refused("subscription", subject)

    async def close(self) -> None:
        if self.nc is not None and not self.nc.is_closed:
            await self.nc.close()
