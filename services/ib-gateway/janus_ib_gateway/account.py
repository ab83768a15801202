"""Positions and account values as IB reports them, published when they change (debounced)."""

from __future__ import annotations

import asyncio

import structlog
from ib_async import IB
from nats.js import JetStreamContext

from janus_common import bus, subjects
from janus_common.messages import AccountValues, Broker, Position, PositionSnapshot

from .mapping import canonical_from_ib

log = structlog.get_logger()


def positions_of(ib: IB, account_number: str) -> list[Position]:
    out = []
    for p in ib.positions(account_number):
        c = p.contract
        named = canonical_from_ib(c.secType, c.symbol, c.lastTradeDateOrContractMonth, c.right, c.strike)
        if named is None or p.position == 0:
            continue
        symbol, asset_class = named
        mult = float(c.multiplier) if c.multiplier else 1.0
        out.append(Position(symbol=symbol, asset_class=asset_class, qty=p.position, avg_cost=p.avgCost / mult,
                            multiplier=mult, currency=c.currency or "USD", broker_symbol=c.localSymbol or c.symbol,
                            con_id=c.conId or None))
    return sorted(out, key=lambda p: p.symbol)


class AccountDesk:
    def __init__(self, ib: IB, js: JetStreamContext, alias: str, account_number: str, debounce: float = 0.3):
        self.ib = ib
        self.js = js
        self.alias = alias
        self.account_number = account_number
        self.debounce = debounce
        self._dirty = asyncio.Event()
        self._last_positions: list[Position] | None = None
        self._last_values: tuple | None = None

    def attach(self) -> None:
        self.ib.positionEvent += lambda _p: self._dirty.set()
        self.ib.accountValueEvent += lambda _v: self._dirty.set()

    async def work(self) -> None:
        while True:
            await self._dirty.wait()
            await asyncio.sleep(self.debounce)  # coalesce a burst of updates into one snapshot
            self._dirty.clear()
            try:
                await self.publish()
            except Exception:
                log.exception("account_publish_failed")

    async def publish(self, *, force: bool = False) -> None:
        positions = positions_of(self.ib, self.account_number)
        if force or positions != self._last_positions:
            self._last_positions = positions
            await bus.publish(self.js, subjects.evt_position(self.alias),
                              PositionSnapshot(account=self.alias, broker=Broker.IB, positions=positions))
        values = {v.tag: v.value for v in self.ib.accountValues(self.account_number)
                  if v.currency in ("USD", "") and v.tag in ("NetLiquidation", "TotalCashValue", "BuyingPower",
                                                              "AvailableFunds", "GrossPositionValue")}
        key = tuple(sorted(values.items()))
        if values and (force or key != self._last_values):
            self._last_values = key

            def num(tag: str) -> float | None:
                try:
                    return float(values[tag])
                except (KeyError, ValueError):
                    return None

            await bus.publish(self.js, subjects.evt_account(self.alias), AccountValues(
                account=self.alias, broker=Broker.IB, cash=num("TotalCashValue"),
                net_liquidation=num("NetLiquidation"), buying_power=num("BuyingPower"), values=values))
