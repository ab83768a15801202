"""The simulator's pure order rules: field validation and the margin check, against small
independent models (hypothesis)."""

from __future__ import annotations

import math
from datetime import date
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from janus_ib_sim import margin
from janus_ib_sim.book import MAX_QTY, OrderError, validate
from janus_ib_sim.catalogue import STATIC_CATALOGUE, listed
from janus_ib_sim.market import Quote

SPECS = {s.con_id: s for s in listed(STATIC_CATALOGUE, date(2026, 12, 3))}
SAMPLE = [next(s for s in SPECS.values() if s.sec_type == kind) for kind in ("STK", "FUT", "OPT")]
MODEL_RATE = {"STK": Fraction(1, 4), "FUT": Fraction(1, 10), "OPT": Fraction(1)}

floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                   st.sampled_from([0.0, -0.0, 1e308, -1e308, 0.25, 0.01, 190.0, 190.001, 5600.25, 1e9, 1e9 + 1]))


@settings(max_examples=2000, deadline=None)
@given(st.sampled_from(SAMPLE), st.sampled_from(["BUY", "SELL", "HOLD"]), floats,
       st.sampled_from(["MKT", "LMT", "STP", "STP LMT", "TRAIL", "PEG MID"]), st.none() | floats, st.none() | floats)
def test_validation_accepts_only_finite_on_tick_values_and_answers_ib_codes(spec, action, qty, kind, lmt, aux):
    assert _model_ok(spec, action, qty, kind, lmt, aux) == _accepted(spec, action, qty, kind, lmt, aux)


def _on_tick_model(price, tick) -> bool:
    if price is None or not math.isfinite(price) or price <= 0:
        return False
    ticks = Fraction(repr(price)) / Fraction(repr(tick))  # the decimals the client meant
    return ticks < 2**53 and abs(ticks - round(ticks)) < Fraction(1, 10**6)


def _model_ok(spec, action, qty, kind, lmt, aux) -> bool:
    if action not in ("BUY", "SELL") or kind not in ("MKT", "LMT", "STP", "STP LMT", "TRAIL"):
        return False
    if not (math.isfinite(qty) and 0 < qty <= MAX_QTY) or (spec.sec_type != "STK" and qty != int(qty)):
        return False
    if any(p is not None and not math.isfinite(p) for p in (lmt, aux)):
        return False
    if kind in ("LMT", "STP LMT") and not _on_tick_model(lmt, spec.min_tick):
        return False
    if kind == "TRAIL":  # the trailing amount, when given (a percent is the other way: trailing.py)
        return aux is None or _on_tick_model(aux, spec.min_tick)
    return kind not in ("STP", "STP LMT") or _on_tick_model(aux, spec.min_tick)


def _accepted(spec, action, qty, kind, lmt, aux) -> bool:
    try:
        validate(spec, action, qty, kind, lmt, aux, "DAY")
    except OrderError as exc:
        assert exc.code in (110, 321, 387, 434)
        assert (exc.code == 434) == (qty == 0 and action in ("BUY", "SELL"))
        return False
    assert action in ("BUY", "SELL") and kind != "PEG MID"
    assert math.isfinite(qty) and 0 < qty <= MAX_QTY
    if spec.sec_type != "STK":
        assert qty == int(qty)
    used = ([lmt] if kind in ("LMT", "STP LMT") else []) + ([aux] if kind in ("STP", "STP LMT") else [])
    used += [aux] if kind == "TRAIL" and aux is not None else []
    for price in used:
        assert price is not None and math.isfinite(price) and price > 0
        ticks = Fraction(repr(price)) / Fraction(repr(spec.min_tick))
        assert abs(ticks - round(ticks)) < Fraction(1, 10**5)
    assert all(p is None or math.isfinite(p) for p in (lmt, aux))
    return True


prices = st.integers(1, 40000).map(lambda c: c / 4)
positions = st.dictionaries(st.sampled_from([s.con_id for s in SAMPLE]), st.integers(-50, 50), max_size=3)
working = st.lists(st.tuples(st.sampled_from(SAMPLE), st.sampled_from(["BUY", "SELL"]), st.integers(1, 60), prices),
                   max_size=4)


def _model_opening(held: int, action: str, qty: int) -> int:
    if held == 0 or (held > 0) == (action == "BUY"):
        return qty
    return max(0, qty - abs(held))


def _mult(spec) -> Fraction:
    return Fraction(spec.multiplier) if spec.multiplier else Fraction(1)


@settings(max_examples=1500, deadline=None)
@given(st.integers(0, 3_000_000), positions, st.dictionaries(st.sampled_from([s.con_id for s in SAMPLE]), prices),
       working, st.sampled_from(SAMPLE), st.sampled_from(["BUY", "SELL"]), st.integers(1, 80), prices)
def test_margin_check_and_values_match_a_model(cash, held, marks, others, spec, action, qty, price):
    mark = {c: Fraction(marks.get(c, 0.0)) for c in held}
    equity = cash + sum(q * mark[c] * _mult(SPECS[c]) for c, q in held.items())
    init = sum(abs(q) * mark[c] * _mult(SPECS[c]) * MODEL_RATE[SPECS[c].sec_type] for c, q in held.items())
    orders = [(spec, action, qty, price), *others]
    need = init + sum(_model_opening(held.get(s.con_id, 0), a, q) * Fraction(p) * _mult(s) * MODEL_RATE[s.sec_type]
                      for s, a, q, p in orders)
    opens = _model_opening(held.get(spec.con_id, 0), action, qty) > 0

    holdings = {c: float(q) for c, q in held.items()}
    got = margin.shortfall(margin.Working(spec, action, qty, price),
                           [margin.Working(s, a, q, p) for s, a, q, p in others], float(cash), holdings, marks, SPECS)
    if not opens or need <= equity:
        assert got is None or abs(Fraction(got[0]) - equity) < Fraction(1, 10**3)  # only at the edge
    else:
        assert got is not None
        assert math.isclose(got[0], float(need), rel_tol=1e-9) and math.isclose(got[1], float(equity), rel_tol=1e-9,
                                                                               abs_tol=1e-6)
    v = margin.values(float(cash), holdings, marks, SPECS)
    assert math.isclose(v["InitMarginReq"], float(init), rel_tol=1e-9, abs_tol=1e-6)
    assert math.isclose(v["AvailableFunds"], float(max(equity - init, 0)), rel_tol=1e-9, abs_tol=1e-6)
    assert math.isclose(v["BuyingPower"], 4 * v["AvailableFunds"], rel_tol=1e-12, abs_tol=1e-6)


def test_the_margin_price_is_never_below_the_last_trade():
    q = Quote(bid=99.99, ask=100.01, last=100.0, bid_size=1, ask_size=1, last_size=1, volume=0, high=100, low=100,
              open=100, close=100)
    assert margin.order_price("SELL", "LMT", 0.01, None, q) == 100.0  # a far-off sell limit is not cheap
    assert margin.order_price("BUY", "LMT", 150.0, None, q) == 150.0
    assert margin.order_price("BUY", "MKT", None, None, q) == 100.01
