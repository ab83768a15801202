"""Positions and account values as Webull reports them, published when they change (debounced:
a burst of fills makes one snapshot)."""

from __future__ import annotations

import asyncio
from decimal import Decimal, InvalidOperation
from typing import Any

import structlog
from nats.js import JetStreamContext

from janus_common import bus, subjects
from janus_common.messages import AccountValues, Broker, Position, PositionSnapshot
from janus_common.symbols import AssetClass

from .orders import OrderDesk
from .webull_api import WebullApi

log = structlog.get_logger()


def _num(value: Any) -> float | None:
    try:
        return float(Decimal(str(value))) if value not in (None, "") else None
    except (InvalidOperation, ValueError):
        return None


def positions_of(rows: list[dict[str, Any]]) -> list[Position]:
    """Webull rows → Janus positions. Pure. A short is a negative quantity on both sides."""
    out = []
    for row in rows:
        qty = _num(row.get("quantity"))
        symbol = str(row.get("symbol") or "").upper()
        if not symbol or not qty:
            continue
        out.append(Position(symbol=symbol, asset_class=AssetClass.EQUITY, qty=qty,
                            avg_cost=_num(row.get("cost_price")) or 0.0, currency=str(row.get("currency") or "USD"),
                            broker_symbol=symbol))
    return sorted(out, key=lambda p: p.symbol)


class AccountDesk:
    def __init__(self, orders: OrderDesk, js: JetStreamContext, alias: str, debounce: float = 0.3) -> None:
        self.orders = orders
        self.js = js
        self.alias = alias
        self.debounce = debounce
        self.dirty = asyncio.Event()
        self._last_positions: list[Position] | None = None
        self._last_values: tuple | None = None

    @property
    def api(self) -> WebullApi:
        return self.orders.api

    async def work(self, ready: asyncio.Event) -> None:
        while True:
            await self.dirty.wait()
            await asyncio.sleep(self.debounce)
            self.dirty.clear()
            if not ready.is_set():
                continue
            try:
                await self.publish()
            except Exception as exc:
                log.warning("account_publish_failed", error=type(exc).__name__, detail=str(exc))
                self.dirty.set()

    async def publish(self, *, force: bool = False) -> None:
        positions = positions_of(await self.orders.call(self.api.positions))
        if force or positions != self._last_positions:
            self._last_positions = positions
            await bus.publish(self.js, subjects.evt_position(self.alias),
                              PositionSnapshot(account=self.alias, broker=Broker.WEBULL, positions=positions))
        balance = await self.orders.call(self.api.balance)
        values = {k: str(v) for k, v in balance.items() if isinstance(v, (str, int, float))}
        key = tuple(sorted(values.items()))
        if values and (force or key != self._last_values):
            self._last_values = key
            await bus.publish(self.js, subjects.evt_account(self.alias), AccountValues(
                account=self.alias, broker=Broker.WEBULL, cash=_num(balance.get("total_cash_balance")),
                net_liquidation=_num(balance.get("total_net_liquidation_value") or balance.get("total_asset")),
                buying_power=_num(balance.get("cash_power") or balance.get("buying_power")), values=values))
