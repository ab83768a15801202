"""Mark-to-market of positions. Pure: a position, a price, a clock in; a valuation out.

The quantity, average cost and multiplier of a valuation are always the position's own:
prices never change a quantity.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from janus_common.messages import AccountValuation, Broker, Position, PositionValuation

from .quotes import Mark, Quote, mark


def value_position(position: Position, broker: Broker, price: Mark | None) -> PositionValuation:
    """Market value ``qty × price × multiplier`` and unrealized PnL
    ``(price − avg_cost) × qty × multiplier``; both None without a price. ``derived`` when the
    price comes from another broker than the one holding the position."""
    base = PositionValuation(symbol=position.symbol, qty=position.qty, avg_cost=position.avg_cost,
                             multiplier=position.multiplier)
    if price is None:
        return base
    units = position.qty * position.multiplier
    return PositionValuation(
        symbol=position.symbol, qty=position.qty, avg_cost=position.avg_cost,
        multiplier=position.multiplier, price=price.price, price_ts=price.ts,
        price_source=price.source, market_value=units * price.price,
        unrealized_pnl=units * (price.price - position.avg_cost),
        derived=price.source != broker, stale=price.stale,
    )


def value_account(
    account: str,
    broker: Broker,
    positions: Iterable[Position],
    quotes: Mapping[str, Quote],
    *,
    now: int,
    stale_after_ns: int,
) -> AccountValuation:
    """Every position of the account valued with the cache; totals add the priced ones."""
    valued = [value_position(p, broker, mark(quotes.get(p.symbol), now, stale_after_ns))
              for p in positions]
    return AccountValuation(
        ts=now, account=account, broker=broker, positions=valued,
        market_value=sum(v.market_value for v in valued if v.market_value is not None),
        unrealized_pnl=sum(v.unrealized_pnl for v in valued if v.unrealized_pnl is not None),
    )
