"""An account's cash and positions. Cash account arithmetic: no margin, no fees.

Quantities are signed (a short is negative); money is Decimal dollars.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from janus_webull_sim.config import AccountConfig


@dataclass
class Position:
    quantity: int = 0
    cost: Decimal = Decimal(0)  # total cost of the open quantity (positive for long and short)

    def avg_cost(self) -> Decimal:
        return self.cost / abs(self.quantity) if self.quantity else Decimal(0)


@dataclass
class Account:
    config: AccountConfig
    cash: Decimal
    positions: dict[str, Position] = field(default_factory=dict)
    realized_pnl: Decimal = Decimal(0)

    @classmethod
    def from_config(cls, config: AccountConfig) -> Account:
        return cls(config=config, cash=Decimal(config.cash))

    @property
    def account_id(self) -> str:
        return self.config.account_id

    def quantity(self, symbol: str) -> int:
        pos = self.positions.get(symbol)
        return pos.quantity if pos else 0

    def apply_fill(self, symbol: str, side: str, qty: int, price: Decimal) -> None:
        pos = self.positions.setdefault(symbol, Position())
        signed = qty if side == "BUY" else -qty
        self.cash -= signed * price
        if pos.quantity == 0 or (pos.quantity > 0) == (signed > 0):
            pos.quantity += signed
            pos.cost += qty * price
        else:
            closing = min(qty, abs(pos.quantity))
            avg = pos.avg_cost()
            direction = 1 if pos.quantity > 0 else -1
            self.realized_pnl += direction * closing * (price - avg)
            pos.cost -= avg * closing
            pos.quantity += closing if signed > 0 else -closing
            opening = qty - closing
            if opening:
                pos.quantity += opening if signed > 0 else -opening
                pos.cost = opening * price
        if pos.quantity == 0:
            del self.positions[symbol]
