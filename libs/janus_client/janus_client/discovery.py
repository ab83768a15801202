"""Service discovery through the NATS micro protocol ($SRV.PING / $SRV.INFO / $SRV.STATS)."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg


class ServiceInstance(msgspec.Struct, frozen=True):
    name: str
    id: str
    version: str
    metadata: dict[str, str] = {}
    endpoints: list[str] = []
    # From $SRV.STATS only: the service's own health report (janus_common.service), if it has one.
    health: dict[str, Any] | None = None

    @property
    def dead_consumers(self) -> list[str]:
        consumers = (self.health or {}).get("consumers") or {}
        return sorted(name for name, c in consumers.items() if not c.get("alive"))


def _health(endpoints: list[dict[str, Any]]) -> dict[str, Any] | None:
    for endpoint in endpoints:
        if endpoint.get("name") == "health" and isinstance(endpoint.get("data"), dict):
            return endpoint["data"]
    return None


async def discover(nc: NATS, *, window: float = 0.5, expect: int | None = None,
                   verb: str = "INFO") -> list[ServiceInstance]:
    """Every service instance that answers ``$SRV.<verb>`` within ``window`` seconds, or as soon
    as ``expect`` instances have answered.

    A scatter-gather has no natural end (any number of instances may answer): without ``expect``
    it waits the window, which is the protocol's contract, not a stand-in for synchronisation.
    """
    inbox = nc.new_inbox()
    found: dict[str, ServiceInstance] = {}
    enough = asyncio.Event()

    async def collect(msg: Msg) -> None:
        try:
            info = msgspec.json.decode(msg.data)
            found[info["id"]] = ServiceInstance(
                name=info["name"], id=info["id"], version=info.get("version", ""),
                metadata=info.get("metadata") or {},
                endpoints=[e.get("subject", "") for e in info.get("endpoints") or []],
                health=_health(info.get("endpoints") or []))
            if expect is not None and len(found) >= expect:
                enough.set()
        except (msgspec.DecodeError, KeyError, TypeError):
            pass  # not a micro service reply; ignore it

    sub = await nc.subscribe(inbox, cb=collect)
    await nc.publish(f"$SRV.{verb}", b"", reply=inbox)
    try:
        await asyncio.wait_for(enough.wait(), window)
    except asyncio.TimeoutError:
        pass
    await sub.unsubscribe()
    return sorted(found.values(), key=lambda s: (s.name, s.id))


async def wait_for_instances(nc: NATS, name: str, count: int, *, timeout: float = 30.0) -> list[ServiceInstance]:
    """Ping ``name`` until ``count`` instances answer (a starting process answers only once up)."""
    deadline = asyncio.get_running_loop().time() + timeout
    found: list[ServiceInstance] = []
    while asyncio.get_running_loop().time() < deadline:
        found = await discover(nc, verb=f"PING.{name}", expect=count, window=0.5)
        if len(found) >= count:
            return found
    return found
