"""Valuation math, as properties: long/short, futures multiplier, missing price, stale price,
derived flag; the quantity is always the position's own."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from contract_months import front
from janus_common.messages import Broker, Position
from janus_common.symbols import AssetClass
from janus_pricer.quotes import NS, Mark, PriceKind, Quote, mark
from janus_pricer.valuation import value_account, value_position

NQ = front("NQ").canonical  # a live contract month, whatever today is

prices = st.floats(min_value=0.01, max_value=1e6, allow_nan=False, allow_infinity=False)
qtys = st.floats(min_value=-1e5, max_value=1e5, allow_nan=False).filter(lambda q: abs(q) >= 1e-3)
multipliers = st.sampled_from([1.0, 2.0, 5.0, 20.0, 50.0, 100.0, 1000.0])
brokers = st.sampled_from(list(Broker))


def _position(qty: float, avg_cost: float, multiplier: float = 1.0) -> Position:
    return Position(symbol=NQ if multiplier != 1 else "AAPL",
                    asset_class=AssetClass.FUTURE if multiplier != 1 else AssetClass.EQUITY,
                    qty=qty, avg_cost=avg_cost, multiplier=multiplier)


def _mark(price: float, source: Broker = Broker.IB, stale: bool = False) -> Mark:
    return Mark(price=price, ts=1, kind=PriceKind.LAST, source=source, delayed=False, stale=stale)


@given(qty=qtys, cost=prices, price=prices, mult=multipliers)
def test_long_and_short_signs(qty, cost, price, mult):
    v = value_position(_position(qty, cost, mult), Broker.IB, _mark(price))
    assert v.qty == qty and v.avg_cost == cost and v.multiplier == mult
    assert math.copysign(1, v.market_value) == math.copysign(1, qty)
    assert math.isclose(v.market_value, qty * price * mult, rel_tol=1e-12)
    if price > cost:
        assert (v.unrealized_pnl > 0) == (qty > 0)  # a long gains when the price rises
    elif price < cost:
        assert (v.unrealized_pnl > 0) == (qty < 0)  # a short gains when it falls
    else:
        assert v.unrealized_pnl == 0


@given(qty=qtys, cost=prices, price=prices, mult=multipliers)
def test_short_is_the_mirror_of_long(qty, cost, price, mult):
    long = value_position(_position(abs(qty), cost, mult), Broker.IB, _mark(price))
    short = value_position(_position(-abs(qty), cost, mult), Broker.IB, _mark(price))
    assert short.market_value == -long.market_value
    assert short.unrealized_pnl == -long.unrealized_pnl


@given(qty=qtys, cost=prices, price=prices, mult=multipliers)
def test_futures_multiplier_scales_value_and_pnl(qty, cost, price, mult):
    one = value_position(_position(qty, cost, 1.0), Broker.IB, _mark(price))
    many = value_position(_position(qty, cost, mult), Broker.IB, _mark(price))
    assert math.isclose(many.market_value, one.market_value * mult, rel_tol=1e-9)
    assert math.isclose(many.unrealized_pnl, one.unrealized_pnl * mult, rel_tol=1e-9, abs_tol=1e-6)
    assert many.price == one.price == price  # the price itself is per unit


@given(qty=qtys, cost=prices, mult=multipliers, broker=brokers)
def test_missing_price_values_nothing_and_keeps_the_position(qty, cost, mult, broker):
    v = value_position(_position(qty, cost, mult), broker, None)
    assert (v.price, v.market_value, v.unrealized_pnl, v.price_source) == (None, None, None, None)
    assert not v.derived and not v.stale
    assert (v.qty, v.avg_cost, v.multiplier) == (qty, cost, mult)


@given(position_broker=brokers, price_broker=brokers, qty=qtys, price=prices)
def test_derived_iff_price_from_another_broker(position_broker, price_broker, qty, price):
    v = value_position(_position(qty, 10.0), position_broker, _mark(price, price_broker))
    assert v.derived == (price_broker != position_broker)
    assert v.price_source == price_broker


@given(age_s=st.floats(min_value=0, max_value=1000), bound_s=st.floats(min_value=0.1, max_value=500),
       price=prices)
def test_stale_iff_older_than_the_bound(age_s, bound_s, price):
    now = 10_000 * NS
    ts = now - int(age_s * NS)
    quote = Quote(symbol="AAPL", source=Broker.IB, ts=ts, last=price, last_ts=ts)
    m = mark(quote, now, int(bound_s * NS))
    assert m is not None and m.price == price and m.ts == ts
    assert m.stale == (now - ts > int(bound_s * NS))
    v = value_position(_position(5, 1.0), Broker.IB, m)
    assert v.stale == m.stale and v.market_value == 5 * price  # stale still values, flagged


@given(st.lists(st.tuples(qtys, prices, st.one_of(st.none(), prices), multipliers), max_size=8),
       brokers)
def test_account_totals_add_the_priced_positions(lines, broker):
    now = 1000 * NS
    positions, quotes = [], {}
    for i, (qty, cost, price, mult) in enumerate(lines):
        symbol = f"S{i}"
        positions.append(Position(symbol=symbol, asset_class=AssetClass.EQUITY, qty=qty,
                                  avg_cost=cost, multiplier=mult))
        if price is not None:
            quotes[symbol] = Quote(symbol=symbol, source=Broker.IB, ts=now, last=price, last_ts=now)
    v = value_account("acct", broker, positions, quotes, now=now, stale_after_ns=60 * NS)
    assert [p.qty for p in v.positions] == [p.qty for p in positions]
    assert v.ts == now and v.account == "acct" and v.broker == broker
    priced = [p for p in v.positions if p.price is not None]
    assert len(priced) == len(quotes)
    assert math.isclose(v.market_value, sum(p.market_value for p in priced), rel_tol=1e-9, abs_tol=1e-6)
    assert math.isclose(v.unrealized_pnl, sum(p.unrealized_pnl for p in priced), rel_tol=1e-9,
                        abs_tol=1e-6)
    assert all(p.derived == (broker != Broker.IB) for p in priced)
