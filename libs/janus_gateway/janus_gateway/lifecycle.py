"""The connection lifecycle every gateway shares: connect → reconcile → READY (the gate opens for
route messages) → watch → on loss close the gate, back off, start again — forever, through a
broker's nightly restart. Each transition is a ``GatewayConnection`` event."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Protocol

import structlog
from nats.js import JetStreamContext

from janus_common import bus, subjects
from janus_common.backoff import Backoff
from janus_common.messages import Broker, ConnectionState, GatewayConnection, clip

from .adapter import BrokerUnavailable

__all__ = ["Connectable", "Lifecycle"]

log = structlog.get_logger()


class Connectable(Protocol):
    """The part of :class:`~janus_gateway.adapter.BrokerAdapter` the lifecycle drives."""

    async def connect(self) -> str: ...

    async def watch(self) -> str: ...

    async def disconnect(self) -> None: ...


class Lifecycle:
    def __init__(self, js: JetStreamContext, alias: str, broker: Broker, stopping: asyncio.Event, *,
                 backoff: Backoff | None = None) -> None:
        self.js = js
        self.alias = alias
        self.broker = broker
        self.stopping = stopping
        self.ready = asyncio.Event()  # the gate: route messages wait for it
        self.backoff = backoff or Backoff(initial=0.5, cap=30.0)

    async def state(self, state: ConnectionState, detail: str = "", code: int | None = None) -> None:
        log.info("gateway_state", state=str(state), detail=detail, code=code)
        with contextlib.suppress(bus.BusError):
            await bus.publish(self.js, subjects.evt_account(self.alias), GatewayConnection(
                account=self.alias, broker=self.broker, state=state, detail=clip(detail), code=code))

    async def notice(self, state: ConnectionState, detail: str, code: int | None = None) -> None:
        """DEGRADED / back to READY while connected (a data farm, the event stream, REST)."""
        if self.ready.is_set():
            await self.state(state, detail, code)

    async def run(self, broker: Connectable, reconcile: Callable[[], Awaitable[int]], where: str) -> None:
        """``reconcile`` runs after every connect, before the gate opens, and returns the
        number of open orders (for the READY detail)."""
        while not self.stopping.is_set():
            await self.state(ConnectionState.CONNECTING, where)
            try:
                account = await broker.connect()
            except Exception as exc:
                detail = exc.detail if isinstance(exc, BrokerUnavailable) else f"connect failed: {type(exc).__name__}"
                await self.state(ConnectionState.DISCONNECTED, detail)
                await broker.disconnect()
                await self.backoff.sleep(self.stopping)
                continue
            await self.state(ConnectionState.RECONCILING, account)
            try:
                open_orders = await reconcile()
            except Exception as exc:  # the broker or NATS failed us half-way: start again
                log.exception("reconcile_failed")
                await self.state(ConnectionState.DISCONNECTED, f"reconcile failed: {type(exc).__name__}")
                await broker.disconnect()
                await self.backoff.sleep(self.stopping)
                continue
            self.backoff.reset()
            self.ready.set()
            await self.state(ConnectionState.READY, f"{open_orders} open orders after reconcile")
            lost = await broker.watch()
            self.ready.clear()
            await broker.disconnect()
            if self.stopping.is_set():
                return
            await self.state(ConnectionState.DISCONNECTED, lost or "connection lost")
            await self.backoff.sleep(self.stopping)
