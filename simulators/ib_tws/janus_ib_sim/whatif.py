"""The figures of a whatIf answer: the account's margin and equity before, the change, and after
the order fills at its estimated price, plus its commission. Pure; the same margin model the
account values and the pre-trade check use (margin.py), so the three never disagree."""

from __future__ import annotations

from collections.abc import Mapping

from . import margin
from .catalogue import Spec


def figures(cash: float, holdings: Mapping[int, float], marks: Mapping[int, float], specs: Mapping[int, Spec],
            spec: Spec, action: str, qty: float, price: float, fee: float) -> list[str]:
    """IB's order: initMarginBefore, maintMarginBefore, equityWithLoanBefore, initMarginChange,
    maintMarginChange, equityWithLoanChange, initMarginAfter, maintMarginAfter,
    equityWithLoanAfter, commission, minCommission, maxCommission, commissionCurrency — as text,
    the way TWS sends them (ib_async keeps the margins as strings)."""
    signed = qty if action == "BUY" else -qty
    before = margin.values(cash, holdings, marks, specs)
    after_holdings = dict(holdings)
    after_holdings[spec.con_id] = after_holdings.get(spec.con_id, 0.0) + signed
    after_marks = {**marks, spec.con_id: marks.get(spec.con_id, price)}
    after_cash = cash - signed * price * margin.multiplier(spec) - fee
    after = margin.values(after_cash, after_holdings, after_marks, {**specs, spec.con_id: spec})
    init_b, init_a = before["InitMarginReq"], after["InitMarginReq"]
    eq_b, eq_a = before["EquityWithLoanValue"], after["EquityWithLoanValue"]
    # One margin model: maintenance is the same requirement as initial.
    values = [init_b, init_b, eq_b, init_a - init_b, init_a - init_b, eq_a - eq_b, init_a, init_a, eq_a]
    return [f"{v:.2f}" for v in values] + [f"{fee:.2f}", f"{fee:.2f}", f"{fee:.2f}", spec.currency]
