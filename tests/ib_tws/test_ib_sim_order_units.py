"""The pure pieces of the order surface: the placeOrder reader against ib_async's own encoder,
the session clock and IB's date/time fields, trailing stops against a model in whole ticks,
groups (brackets, OCA) and whatIf figures."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from ib_async import ComboLeg, Contract, Order, Stock, TagValue
from ib_async.client import Client
from ib_async.wrapper import Wrapper

from janus_ib_sim import groups, hours, margin, trailing, whatif
from janus_ib_sim.book import OrderError, SimOrder
from janus_ib_sim.catalogue import STATIC_CATALOGUE, listed
from janus_ib_sim.orderwire import OrderRequest, parse

NOW = datetime.now(timezone.utc)
SPECS = {s.con_id: s for s in listed(STATIC_CATALOGUE, NOW.date())}
AAPL = next(s for s in SPECS.values() if s.symbol == "AAPL" and s.sec_type == "STK")


# --- placeOrder, as ib_async writes it ----------------------------------------------------


def encoded(contract: Contract, order: Order, order_id: int = 7) -> list[str]:
    """The fields ib_async's Client.placeOrder sends at server version 178."""
    client = Client(Wrapper(None))  # type: ignore[arg-type]
    client._serverVersion = 178
    client.connState = Client.CONNECTED
    sent: list[str] = []
    client.sendMsg = sent.append  # type: ignore[method-assign]
    client.placeOrder(order_id, contract, order)
    return sent[0].split("\0")[:-1]


maybe_price = st.none() | st.sampled_from([0.01, 0.5, 1.25, 150.0, 190.37])
blocks = st.fixed_dictionaries({
    "deltaNeutralOrderType": st.sampled_from(["", "LMT"]),
    "hedgeType": st.sampled_from(["", "D"]),
    "algoStrategy": st.sampled_from(["", "Adaptive"]),
    "scalePriceIncrement": st.sampled_from([None, 0.05]),
    "bag": st.booleans(),
})


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["MKT", "LMT", "STP", "TRAIL", "TRAIL LIMIT", "MOC", "LOC", "PEG BENCH"]),
       st.sampled_from(["DAY", "GTC", "GTD", "OPG", "FOK", "IOC"]), maybe_price, maybe_price, maybe_price,
       maybe_price, maybe_price, st.booleans(), st.booleans(), st.booleans(), st.integers(0, 3),
       st.integers(0, 10_000), st.sampled_from(["", "grp-1"]), st.sampled_from(["", "20991231 23:59:59 UTC"]),
       blocks)
def test_the_reader_finds_every_field_wherever_the_blocks_put_it(kind, tif, lmt, aux, trail_stop, pct, offset, rth,
                                                                 transmit, what_if, oca_type, parent, oca, gtd, b):
    unset = 1.7976931348623157e308
    order = Order(action="SELL", totalQuantity=3, orderType=kind, lmtPrice=lmt if lmt is not None else unset,
                  auxPrice=aux if aux is not None else unset, tif=tif, outsideRth=rth, transmit=transmit,
                  whatIf=what_if, ocaType=oca_type, parentId=parent, ocaGroup=oca, goodTillDate=gtd,
                  trailStopPrice=trail_stop if trail_stop is not None else unset,
                  trailingPercent=pct if pct is not None else unset,
                  lmtPriceOffset=offset if offset is not None else unset, account="DU1000001", orderRef="r-1",
                  deltaNeutralOrderType=b["deltaNeutralOrderType"], hedgeType=b["hedgeType"],
                  hedgeParam="0.5" if b["hedgeType"] else "", algoStrategy=b["algoStrategy"],
                  algoParams=[TagValue("adaptivePriority", "Normal")] if b["algoStrategy"] else [],
                  scalePriceIncrement=b["scalePriceIncrement"] or unset)
    contract: Contract = Stock("AAPL", "SMART", "USD")
    if b["bag"]:
        contract = Contract(secType="BAG", symbol="AAPL", exchange="SMART", currency="USD",
                            comboLegs=[ComboLeg(conId=1, ratio=1, action="BUY", exchange="SMART"),
                                       ComboLeg(conId=2, ratio=2, action="SELL", exchange="SMART")])
    got = parse(encoded(contract, order))
    assert got == OrderRequest(action="SELL", qty=3, order_type=kind, lmt=lmt, aux=aux, tif=tif, account="DU1000001",
                               order_ref="r-1", oca_group=oca, oca_type=oca_type, transmit=transmit,
                               parent_id=parent, outside_rth=rth, good_till=gtd, trail_stop=trail_stop,
                               trailing_pct=pct, lmt_offset=offset, what_if=what_if, conditions=0)


# --- the session clock and IB times -------------------------------------------------------


def test_the_session_opens_closes_and_reopens_by_itself():
    t0 = NOW.timestamp()
    h = hours.start(t0)
    assert h.is_open and h.until == t0 + 6.5 * 3600 and hours.may_trade(h, False)
    assert not hours.due(h, t0 + 6.5 * 3600 - 1) and hours.due(h, t0 + 6.5 * 3600)
    closed = hours.close(h, t0 + 60)
    assert not closed.is_open and closed.until == t0 + 60 + hours.DEFAULT_GAP
    assert hours.may_trade(closed, True) and not hours.may_trade(closed, False)
    reopened = hours.open_(closed, t0 + 120)
    assert reopened.is_open and reopened.until == t0 + 120 + 6.5 * 3600
    with pytest.raises(ValueError):
        hours.start(t0, 0)


instants = st.integers(0, 400 * 86400).map(lambda s: (NOW + timedelta(seconds=s)).replace(microsecond=0))


@settings(max_examples=300, deadline=None)
@given(instants)
def test_ib_times_in_each_accepted_form_mean_the_same_instant(when):
    eastern = when.astimezone(ZoneInfo("America/New_York"))
    assume(eastern.fold == 0 and eastern.replace(fold=1).utcoffset() == eastern.utcoffset())  # not the repeated hour
    ts = when.timestamp()
    assert hours.parse_ib_time(when.strftime("%Y%m%d %H:%M:%S UTC")) == ts
    assert hours.parse_ib_time(when.strftime("%Y%m%d-%H:%M:%S")) == ts
    assert hours.parse_ib_time(eastern.strftime("%Y%m%d %H:%M:%S") + " US/Eastern") == ts
    assert hours.parse_ib_time(eastern.strftime("%Y%m%d %H:%M:%S")) == ts  # no zone: TWS's own


@given(st.text(max_size=40))
def test_no_text_breaks_the_time_reader(text):
    try:
        value = hours.parse_ib_time(text)
    except ValueError:
        return
    assert math.isfinite(value)


def test_good_till_refuses_the_past_and_the_unreadable():
    now = NOW.timestamp()
    past = (NOW - timedelta(seconds=1)).strftime("%Y%m%d-%H:%M:%S")
    with pytest.raises(ValueError, match="past"):
        hours.good_till(past, now)
    for bad in ("", "tomorrow", "20991231-23:59:59 UTC", "20991231 23:59:59 Mars/Olympus", "20991331 10:00:00"):
        with pytest.raises(ValueError):
            hours.good_till(bad, now)
    assert hours.good_till((NOW + timedelta(hours=1)).strftime("%Y%m%d %H:%M:%S UTC"), now) > now


# --- trailing stops against a model in whole ticks ----------------------------------------


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(["BUY", "SELL"]), st.integers(100, 50_000), st.integers(1, 2_000),
       st.lists(st.integers(100, 50_000), min_size=1, max_size=30))
def test_a_trailing_amount_stop_is_the_best_price_seen_less_the_amount(action, start, amount, path):
    tick = 0.01
    sign = -1 if action == "SELL" else 1
    stop = trailing.initial(action, start * tick, amount * tick, None, None, tick)
    best = start
    for p in path:
        if trailing.hit(action, stop, p * tick):
            assert (p <= round(stop / tick)) if action == "SELL" else (p >= round(stop / tick))
            break
        stop = trailing.follow(action, stop, p * tick, amount * tick, None, tick)
        best = max(best, p) if action == "SELL" else min(best, p)
        want = max(best + sign * amount, 1)
        assert round(stop / tick) == want and trailing.on_tick(stop, tick)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["BUY", "SELL"]), st.floats(1, 5000), st.floats(0.01, 99.99), st.floats(1, 5000))
def test_a_percent_stop_stays_on_the_grid_and_never_moves_away(action, start, pct, later):
    tick = 0.01
    stop = trailing.initial(action, start, None, pct, None, tick)
    assert trailing.on_tick(stop, tick)
    # Rounded away from the market: never tighter than the percent asks.
    if action == "SELL":
        assert stop <= start * (1 - pct / 100) + 1e-6 or stop == tick
    else:
        assert stop >= start * (1 + pct / 100) - 1e-6
    moved = trailing.follow(action, stop, later, None, pct, tick)
    assert (moved >= stop) if action == "SELL" else (moved <= stop)


def test_trailing_refusals_follow_ib():
    ok = dict(order_type="TRAIL", amount=1.0, pct=None, trail_stop=None, offset=None, tick=0.01)
    trailing.validate(**ok)
    cases = [({"pct": 2.0}, 321), ({"amount": None}, 321), ({"amount": None, "pct": 0.0}, 321),
             ({"amount": None, "pct": 100.0}, 321), ({"amount": None, "pct": math.nan}, 321),
             ({"amount": -1.0}, 110), ({"amount": 0.005}, 110), ({"trail_stop": 190.001}, 110),
             ({"order_type": "TRAIL LIMIT"}, 321), ({"order_type": "TRAIL LIMIT", "offset": -0.5}, 110)]
    for change, code in cases:
        with pytest.raises(OrderError) as err:
            trailing.validate(**{**ok, **change})
        assert err.value.code == code, change
    assert trailing.limit_at("SELL", 195.0, 1.0, 0.01) == 194.0 and trailing.limit_at("BUY", 95.0, 1.0, 0.01) == 96.0


# --- groups -------------------------------------------------------------------------------


def order(order_id: int, perm: int, **kw) -> SimOrder:
    base = dict(client_id=1, account="DU1000001", spec=AAPL, action="SELL", qty=10.0, order_type="LMT", lmt=200.0,
                aux=None, tif="DAY", order_ref="", status="Submitted")
    return SimOrder(order_id=order_id, perm_id=perm, **{**base, **kw})


def test_a_transmitting_child_sends_its_staged_parent_first_and_its_siblings():
    req = OrderRequest(action="BUY", qty=1, order_type="LMT", lmt=1.0)
    staged = [groups.Staged(1, 10, AAPL, req), groups.Staged(1, 11, AAPL, OrderRequest(**{**req.__dict__,
                                                                                         "parent_id": 10})),
              groups.Staged(2, 10, AAPL, req), groups.Staged(1, 20, AAPL, req)]
    assert [s.order_id for s in groups.batch(staged, 1, 12, 10)] == [10, 11]
    assert groups.batch(staged, 1, 30, 0) == []


def test_oca_fills_cancel_or_reduce_as_the_type_says():
    filled = order(1, 101, oca_group="g", oca_type=1, qty=10.0, filled=10.0, status="Filled")
    other = order(2, 102, oca_group="g", oca_type=1)
    assert groups.after_fill(filled, 10.0, groups.oca_members(filled, [filled, other])) == [(other, None)]
    reducing = order(1, 101, oca_group="g", oca_type=2, filled=4.0)
    assert groups.after_fill(reducing, 4.0, [other]) == [(other, 6.0)]
    profit = order(2, 102, parent_id=1, filled=10.0, status="Filled")
    loss = order(3, 103, parent_id=1, order_type="STP", aux=150.0)
    unrelated = order(4, 104)
    assert groups.oca_members(profit, [profit, loss, unrelated]) == [loss]
    assert groups.after_fill(profit, 10.0, [loss]) == [(loss, None)]
    parent = order(1, 101, action="BUY", status="Submitted")
    assert groups.waiting(loss, parent) and not groups.waiting(loss, order(1, 101, status="Filled"))
    assert groups.children(parent, [profit, loss, unrelated]) == [loss]  # the filled one is done


def test_what_if_figures_are_the_margin_model_before_and_after():
    marks = {AAPL.con_id: 190.0}
    figures = whatif.figures(100_000.0, {}, marks, SPECS, AAPL, "BUY", 100, 190.01, 1.0)
    init_before, _, eq_before, init_change, _, eq_change, init_after, _, eq_after, fee, lo, hi, ccy = figures
    assert float(init_before) == 0 and float(init_change) == pytest.approx(margin.requirement(AAPL, 100, 190.0))
    assert float(init_after) == float(init_change) and float(eq_after) == pytest.approx(float(eq_before) - 2.0)
    assert float(eq_change) == pytest.approx(-2.0) and fee == lo == hi == "1.00" and ccy == "USD"
