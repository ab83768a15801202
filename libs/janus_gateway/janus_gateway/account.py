"""Positions and account values as the broker reports them, published when they change:
debounced (a burst of fills makes one snapshot), and retried with backoff when the broker or
NATS fails (a dropped snapshot would leave positions stale until the next change)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from nats.js import JetStreamContext

from janus_common import bus, subjects
from janus_common.backoff import Backoff
from janus_common.messages import AccountValues, Broker, Position, PositionSnapshot

from .adapter import AccountValuesReport

__all__ = ["AccountPublisher"]

log = structlog.get_logger()

DEBOUNCE_S = 0.3


class AccountPublisher:
    def __init__(self, js: JetStreamContext, alias: str, broker: Broker, *,
                 positions: Callable[[], Awaitable[list[Position]]],
                 values: Callable[[], Awaitable[AccountValuesReport | None]],
                 debounce: float = DEBOUNCE_S) -> None:
        self.js = js
        self.alias = alias
        self.broker = broker
        self.positions = positions
        self.values = values
        self.debounce = debounce
        self.dirty = asyncio.Event()
        self._last_positions: list[Position] | None = None
        self._last_values: AccountValuesReport | None = None

    def changed(self) -> None:
        """Something moved (a fill, a position or value update): publish soon."""
        self.dirty.set()

    async def work(self, ready: asyncio.Event) -> None:
        retry = Backoff(initial=self.debounce, cap=10.0)
        while True:
            await self.dirty.wait()
            await asyncio.sleep(self.debounce)
            self.dirty.clear()
            if not ready.is_set():
                continue  # the reconcile after the next connect publishes (forced)
            try:
                await self.publish()
                retry.reset()
            except Exception as exc:
                log.warning("account_publish_failed", error=type(exc).__name__, detail=str(exc))
                await retry.sleep()
                self.dirty.set()

    async def publish(self, *, force: bool = False) -> None:
        positions = await self.positions()
        # What was last published is remembered only once JetStream acknowledged it: a snapshot
        # lost in an outage is published again, not skipped as "unchanged".
        if force or positions != self._last_positions:
            await bus.publish(self.js, subjects.evt_position(self.alias),
                              PositionSnapshot(account=self.alias, broker=self.broker, positions=positions))
            self._last_positions = positions
        values = await self.values()
        if values is not None and values.values and (force or values != self._last_values):
            await bus.publish(self.js, subjects.evt_account(self.alias), AccountValues(
                account=self.alias, broker=self.broker, currency=values.currency, cash=values.cash,
                net_liquidation=values.net_liquidation, buying_power=values.buying_power,
                values=values.values))
            self._last_values = values
