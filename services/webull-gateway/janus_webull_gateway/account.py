"""Positions and account values as Webull reports them, in Janus's words (the kernel's account
publisher publishes them). Pure."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from janus_common.messages import Position
from janus_common.symbols import AssetClass
from janus_gateway.adapter import AccountValuesReport


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


def values_of(balance: dict[str, Any]) -> AccountValuesReport:
    values = {k: str(v) for k, v in balance.items() if isinstance(v, (str, int, float))}
    return AccountValuesReport(
        cash=_num(balance.get("total_cash_balance")),
        net_liquidation=_num(balance.get("total_net_liquidation_value") or balance.get("total_asset")),
        buying_power=_num(balance.get("cash_power") or balance.get("buying_power")), values=values)
