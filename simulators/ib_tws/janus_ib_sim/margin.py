"""Margin and buying power, the way the simulator's accounts report and enforce them. Pure.

One model serves both the account values a client sees and the pre-trade check, so they can
never disagree: every contract needs a share of its value as initial margin (Reg T 25 % for
stocks, a flat 10 % of notional for futures — above what CME asks for ES/NQ, never below — and
the full premium for options). ``AvailableFunds`` is what the net liquidation value leaves
over the positions' margin; ``BuyingPower`` is that times four (what a 25 % stock margin
buys). An order is accepted when its margin, together with that of the account's other
working orders, fits in ``AvailableFunds``: a stock order whose cost exceeds the buying power
is refused.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .catalogue import Spec
from .market import Quote

RATES = {"STK": 0.25, "FUT": 0.10, "OPT": 1.0}
STOCK_LEVERAGE = 1 / RATES["STK"]


def rate(spec: Spec) -> float:
    return RATES.get(spec.sec_type, 1.0)


def multiplier(spec: Spec) -> float:
    try:
        value = float(spec.multiplier) if spec.multiplier else 1.0
    except ValueError:  # a configured contract with a malformed multiplier trades as 1
        return 1.0
    return value if math.isfinite(value) and value > 0 else 1.0


def opening_qty(held: float, action: str, qty: float) -> float:
    """The part of an order that opens or adds to a position (closing needs no margin)."""
    buying = action == "BUY"
    if held == 0 or (held > 0) == buying:
        return qty
    return max(qty - abs(held), 0.0)


def order_price(action: str, order_type: str, lmt: float | None, aux: float | None, quote: Quote) -> float:
    """The price an order is margined at: its own limit or stop, or the touch for a market
    order, and never less than the last trade (a far-off limit does not make a short cheap)."""
    if order_type in ("LMT", "STP LMT") and lmt is not None:
        named: float = lmt
    elif order_type == "STP" and aux is not None:
        named = aux
    else:
        named = quote.ask if action == "BUY" else quote.bid
    return max(named, quote.last)


def requirement(spec: Spec, qty: float, price: float) -> float:
    return abs(qty) * price * multiplier(spec) * rate(spec)


@dataclass(frozen=True)
class Working:
    """What the check needs of a working order: its contract, side, remaining size, margin price."""

    spec: Spec
    action: str
    remaining: float
    price: float


def positions_margin(holdings: Mapping[int, float], marks: Mapping[int, float], specs: Mapping[int, Spec]) -> float:
    return sum(requirement(specs[c], q, marks.get(c, 0.0)) for c, q in holdings.items())


def orders_margin(working: Iterable[Working], holdings: Mapping[int, float]) -> float:
    return sum(requirement(w.spec, opening_qty(holdings.get(w.spec.con_id, 0.0), w.action, w.remaining), w.price)
               for w in working)


def values(cash: float, holdings: Mapping[int, float], marks: Mapping[int, float],
           specs: Mapping[int, Spec]) -> dict[str, float]:
    """The account values IB reports (USD)."""
    net = cash + sum(q * marks.get(c, 0.0) * multiplier(specs[c]) for c, q in holdings.items())
    gross = sum(abs(q) * marks.get(c, 0.0) * multiplier(specs[c]) for c, q in holdings.items())
    init = positions_margin(holdings, marks, specs)
    available = max(net - init, 0.0)
    return {"NetLiquidation": net, "EquityWithLoanValue": net, "TotalCashValue": cash, "GrossPositionValue": gross,
            "InitMarginReq": init, "AvailableFunds": available, "ExcessLiquidity": available,
            "BuyingPower": available * STOCK_LEVERAGE}


def shortfall(new: Working, others: Iterable[Working], cash: float, holdings: Mapping[int, float],
              marks: Mapping[int, float], specs: Mapping[int, Spec]) -> tuple[float, float] | None:
    """None when ``new`` fits beside the other working orders; else (the initial margin the
    account would need, its equity with loan value) — the figures of IB's rejection."""
    if orders_margin([new], holdings) == 0:
        return None  # it only closes: never refused for margin
    v = values(cash, holdings, marks, specs)
    needed = v["InitMarginReq"] + orders_margin([new, *others], holdings)
    if needed <= v["EquityWithLoanValue"] + 1e-6:
        return None
    return needed, v["EquityWithLoanValue"]
