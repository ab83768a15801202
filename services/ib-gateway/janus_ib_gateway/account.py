"""Positions and account values as IB reports them, in Janus's words (the kernel's account
publisher publishes them)."""

from __future__ import annotations

from ib_async import IB

from janus_common.messages import Position
from janus_gateway.adapter import AccountValuesReport

from .mapping import canonical_from_ib


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


VALUE_TAGS = ("NetLiquidation", "TotalCashValue", "BuyingPower", "AvailableFunds", "GrossPositionValue")


def values_of(ib: IB, account_number: str) -> AccountValuesReport:
    values = {v.tag: v.value for v in ib.accountValues(account_number)
              if v.currency in ("USD", "") and v.tag in VALUE_TAGS}

    def num(tag: str) -> float | None:
        try:
            return float(values[tag])
        except (KeyError, ValueError):
            return None

    return AccountValuesReport(cash=num("TotalCashValue"), net_liquidation=num("NetLiquidation"),
                               buying_power=num("BuyingPower"), values=values)
