"""Service discovery through the NATS micro protocol ($SRV.PING / $SRV.INFO)."""

from __future__ import annotations

import asyncio

import msgspec
from nats.aio.client import Client as NATS


class ServiceInstance(msgspec.Struct, frozen=True):
    name: str
    id: str
    version: str
    metadata: dict[str, str] = {}
    endpoints: list[str] = []


async def discover(nc: NATS, *, window: float = 0.5) -> list[ServiceInstance]:
    """Every service instance that answers ``$SRV.INFO`` within ``window`` seconds.

    A scatter-gather has no natural end (any number of instances may answer), so it waits for a
    fixed window: that is the protocol's contract, not a stand-in for synchronisation.
    """
    inbox = nc.new_inbox()
    found: dict[str, ServiceInstance] = {}

    async def collect(msg) -> None:
        try:
            info = msgspec.json.decode(msg.data)
            found[info["id"]] = ServiceInstance(
                name=info["name"], id=info["id"], version=info.get("version", ""),
                metadata=info.get("metadata") or {},
                endpoints=[e.get("subject", "") for e in info.get("endpoints") or []])
        except (msgspec.DecodeError, KeyError, TypeError):
            pass  # not a micro service reply; ignore it

    sub = await nc.subscribe(inbox, cb=collect)
    await nc.publish("$SRV.INFO", b"", reply=inbox)
    await asyncio.sleep(window)
    await sub.unsubscribe()
    return sorted(found.values(), key=lambda s: (s.name, s.id))
