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

from . import metrics
from .adapter import BrokerUnavailable

__all__ = ["Connectable", "Lifecycle"]

log = structlog.get_logger()

STATE_RETRY_S = 5.0


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
        self._resync = asyncio.Event()
        metrics.CONNECTED.labels(alias, str(broker)).set(0)  # the series exists before the first connect

    def resync(self) -> None:
        """The bus was away (a NATS reconnect) or refused an event: while connected, reconcile
        with the broker again, so whatever the history lacks is published (by msg id: once)."""
        self._resync.set()

    async def state(self, state: ConnectionState, detail: str = "", code: int | None = None) -> None:
        log.info("gateway_state", state=str(state), detail=detail, code=code)
        up = state in (ConnectionState.READY, ConnectionState.DEGRADED)
        metrics.CONNECTED.labels(self.alias, str(self.broker)).set(1 if up else 0)
        with contextlib.suppress(bus.BusError):
            # News, not a record to wait for: a short retry, so a NATS outage does not hold up
            # the broker connection's own loop.
            await bus.publish(self.js, subjects.evt_account(self.alias), GatewayConnection(
                account=self.alias, broker=self.broker, state=state, detail=clip(detail), code=code),
                retry_for=STATE_RETRY_S)

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
            self._resync.clear()  # this reconcile covered whatever asked for one before it
            self.ready.set()
            await self.state(ConnectionState.READY, f"{open_orders} open orders after reconcile")
            lost = await self._watch(broker, reconcile)
            self.ready.clear()
            await broker.disconnect()
            if self.stopping.is_set():
                return
            await self.state(ConnectionState.DISCONNECTED, lost or "connection lost")
            await self.backoff.sleep(self.stopping)

    async def _watch(self, broker: Connectable, reconcile: Callable[[], Awaitable[int]]) -> str:
        """``broker.watch()``, reconciling again whenever :meth:`resync` asks, until the broker
        connection is lost."""
        watch = asyncio.ensure_future(broker.watch())
        try:
            while True:
                wanted = asyncio.ensure_future(self._resync.wait())
                await asyncio.wait({watch, wanted}, return_when=asyncio.FIRST_COMPLETED)
                if watch.done():
                    wanted.cancel()
                    return watch.result()
                self._resync.clear()
                try:
                    open_orders = await reconcile()
                    log.info("gateway_resynced", open_orders=open_orders)
                except Exception as exc:  # the bus may still be away: try again a little later
                    log.warning("gateway_resync_failed", error=type(exc).__name__, detail=str(exc)[:200])
                    await self.backoff.sleep(self.stopping)
                    self._resync.set()
        finally:
            if not watch.done():
                watch.cancel()
