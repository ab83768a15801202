"""The simulator's futures/options calendar against an independent model built on the standard
library's month tables (no code shared with ``janus_ib_sim.expiries``)."""

from __future__ import annotations

import calendar as stdcal
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from janus_ib_sim.catalogue import STATIC_CATALOGUE, listed

DAYS = st.dates(min_value=date(2020, 1, 1), max_value=date(2090, 12, 31))
LETTERS = {1: "F", 2: "G", 3: "H", 4: "J", 5: "K", 6: "M", 7: "N", 8: "Q", 9: "U", 10: "V", 11: "X", 12: "Z"}


def model_third_friday(year: int, month: int) -> date:
    fridays = [week[stdcal.FRIDAY] for week in stdcal.monthcalendar(year, month) if week[stdcal.FRIDAY]]
    return date(year, month, fridays[2])


def model_cl_last_trade(year: int, month: int) -> date:
    before = date(year, month, 1) - timedelta(days=1)  # a day of the month before delivery
    anchor = date(before.year, before.month, 25)
    business = [anchor - timedelta(days=n) for n in range(1, 15) if (anchor - timedelta(days=n)).weekday() < 5]
    if anchor.weekday() >= 5:  # the 25th is not a business day: count from the one before it
        business = business[1:]
    return business[2]


def model_months(today: date, quarterly: bool, count: int, last) -> list[tuple[int, int]]:
    out, year, month = [], today.year, today.month
    while len(out) < count:
        if (not quarterly or month % 3 == 0) and last(year, month) >= today:
            out.append((year, month))
        year, month = (year + (month == 12), month % 12 + 1)
    return out


def _futures(specs, root):
    return [s for s in specs if s.sec_type == "FUT" and s.symbol == root]


@settings(max_examples=300, deadline=None)
@given(DAYS)
def test_listed_futures_are_the_model_s_next_expiries(today):
    specs = listed(STATIC_CATALOGUE, today)
    for root, mult, tick in (("ES", "50", 0.25), ("NQ", "20", 0.25)):
        got = _futures(specs, root)
        want = model_months(today, True, 4, model_third_friday)
        assert [(int(s.contract_month[:4]), int(s.contract_month[4:])) for s in got] == want
        for s, (year, month) in zip(got, want):
            assert s.last_trade_date == model_third_friday(year, month).strftime("%Y%m%d")
            assert s.local_symbol == f"{root}{LETTERS[month]}{year % 10}"
            assert (s.multiplier, s.min_tick) == (mult, tick)
    cl = _futures(specs, "CL")
    want = model_months(today, False, 6, model_cl_last_trade)
    assert [(int(s.contract_month[:4]), int(s.contract_month[4:])) for s in cl] == want
    assert [s.last_trade_date for s in cl] == [model_cl_last_trade(*m).strftime("%Y%m%d") for m in want]
    assert all(s.min_tick == 0.01 and s.multiplier == "1000" and s.exchange == "NYMEX" for s in cl)
    options = [s for s in specs if s.sec_type == "OPT"]
    expiries = sorted({s.last_trade_date for s in options})
    front = min(model_third_friday(y, m) for y, m in ((today.year, today.month),
                                                      (today.year + (today.month == 12), today.month % 12 + 1))
                if model_third_friday(y, m) >= today)
    assert expiries[0] == front.strftime("%Y%m%d") and len(expiries) == 2
    assert {s.strike for s in options} >= {180.0, 190.0, 200.0}
    assert all(not s.last_trade_date or s.last_trade_date >= today.strftime("%Y%m%d") for s in specs)


@settings(max_examples=200, deadline=None)
@given(DAYS, st.integers(min_value=1, max_value=400))
def test_con_ids_are_unique_and_stable_while_a_contract_is_listed(today, days):
    first = {s.local_symbol: s.con_id for s in listed(STATIC_CATALOGUE, today)}
    later = {s.local_symbol: s.con_id for s in listed(STATIC_CATALOGUE, today + timedelta(days=days))}
    assert len(set(first.values())) == len(first)  # one conId per contract
    assert all(later[k] == first[k] for k in first.keys() & later.keys())
    assert all(0 < c < 2**31 for c in first.values())  # a Java int, as IB's are
