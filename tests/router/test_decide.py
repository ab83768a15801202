"""The router's decision table against an independent model (position × side × flags × broker)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from janus_common.messages import (
    Broker,
    BrokerSide,
    IbContract,
    OrderIntent,
    OrderType,
    PositionEffect,
    RegistryRecord,
    RejectReason,
    Side,
    Tif,
    WebullInstrument,
)
from janus_router.decide import Rejection, Route, plan_route, position_effect, validate
from janus_common.capabilities import PRICED_BY
from janus_router.rules import CAPABILITIES, AccountRules

MANY = settings(max_examples=1000, deadline=None)
quantities = st.integers(1, 1000).map(float)
positions = st.integers(-1000, 1000).map(float)
working = st.integers(0, 1000).map(float)


def model(side, qty, position, buys, sells, allow_short, locate_required, locate, explicit_short):
    """Written from DESIGN.md's words, not from the code: what the account holds after the
    order fills decides whether it opens a short; the closing part never needs permission."""
    if side is Side.BUY:
        return [(BrokerSide.BUY, qty)]
    available = position - sells
    after = available - qty
    opens_short = after < 0
    if opens_short and not allow_short:
        return RejectReason.SHORT_NOT_ALLOWED
    if opens_short and locate_required and not locate:
        return RejectReason.LOCATE_REQUIRED
    if not explicit_short:
        return [(BrokerSide.SELL, qty)]
    closing = min(qty, max(available, 0.0))
    legs = []
    if closing > 0:
        legs.append((BrokerSide.SELL, closing))
    if qty - closing > 0:
        legs.append((BrokerSide.SHORT, qty - closing))
    return legs


@MANY
@given(st.sampled_from(list(Side)), quantities, positions, working, working, st.booleans(), st.booleans(),
       st.sampled_from([None, "LOC-1"]), st.sampled_from(list(Broker)))
def test_position_effect_matches_the_model(side, qty, position, buys, sells, allow_short, locate_required,
                                           locate, broker):
    rules = AccountRules("acct", broker, allow_short, locate_required)
    caps = CAPABILITIES[broker]
    got = position_effect(side, qty, position, buys, sells, rules, caps, locate)
    expected = model(side, qty, position, buys, sells, allow_short, locate_required, locate, caps.explicit_short)
    if isinstance(expected, RejectReason):
        assert isinstance(got, Rejection) and got.reason is expected
        assert got.message
        return
    assert not isinstance(got, Rejection)
    assert list(got.legs) == expected
    assert math.isclose(sum(q for _, q in got.legs), qty)
    d = got.decision
    assert (d.broker_position, d.allow_short, d.locate_required) == (position, allow_short, locate_required)
    if side is Side.SELL:
        assert d.projected_position == position - sells and d.in_flight == -sells
        closes_only = position - sells >= qty
        assert (d.effect is PositionEffect.CLOSE_LONG) == closes_only
        if position - sells > 0 and not closes_only:
            assert d.effect is PositionEffect.CLOSE_LONG_OPEN_SHORT
    else:
        assert d.projected_position == position + buys


@pytest.mark.parametrize(
    ("broker", "position", "qty", "effect", "legs"),
    [
        (Broker.IB, 10, 4, PositionEffect.CLOSE_LONG, [(BrokerSide.SELL, 4)]),
        (Broker.IB, 10, 15, PositionEffect.CLOSE_LONG_OPEN_SHORT, [(BrokerSide.SELL, 15)]),
        (Broker.WEBULL, 10, 15, PositionEffect.CLOSE_LONG_OPEN_SHORT, [(BrokerSide.SELL, 10), (BrokerSide.SHORT, 5)]),
        (Broker.WEBULL, 0, 3, PositionEffect.OPEN_SHORT, [(BrokerSide.SHORT, 3)]),
        (Broker.IB, 0, 3, PositionEffect.OPEN_SHORT, [(BrokerSide.SELL, 3)]),
        (Broker.WEBULL, -2, 3, PositionEffect.ADD_SHORT, [(BrokerSide.SHORT, 3)]),
    ],
)
def test_sell_cases_from_the_design(broker, position, qty, effect, legs):
    rules = AccountRules("a", broker, allow_short=True)
    got = position_effect(Side.SELL, qty, position, 0, 0, rules, CAPABILITIES[broker], None)
    assert got.decision.effect is effect and list(got.legs) == legs


def _intent(**kw) -> OrderIntent:
    base = dict(account="a", symbol="AAPL", side=Side.BUY, order_type=OrderType.MARKET, qty=1.0)
    base.update(kw)
    return OrderIntent(**base)


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"qty": 0.0}, RejectReason.INVALID_QTY),
        ({"qty": -1.0}, RejectReason.INVALID_QTY),
        ({"qty": float("nan")}, RejectReason.INVALID_QTY),
        ({"order_type": OrderType.LIMIT}, RejectReason.MISSING_LIMIT_PRICE),
        ({"order_type": OrderType.STOP}, RejectReason.MISSING_STOP_PRICE),
        ({"order_type": OrderType.STOP_LIMIT, "limit_price": 1.0}, RejectReason.MISSING_STOP_PRICE),
        ({"order_type": OrderType.STOP_LIMIT, "stop_price": 1.0}, RejectReason.MISSING_LIMIT_PRICE),
        ({"order_type": OrderType.LIMIT, "limit_price": -5.0}, RejectReason.INVALID_PRICE),
        ({"order_type": OrderType.STOP, "stop_price": float("inf")}, RejectReason.INVALID_PRICE),
        ({"limit_price": 5.0}, RejectReason.INVALID_PRICE),
    ],
)
def test_validation_reasons(kw, reason):
    rejection = validate(_intent(**kw))
    assert rejection is not None and rejection.reason is reason and rejection.message


@MANY
@given(st.sampled_from(list(OrderType)), st.sampled_from(list(Side)),
       st.floats(0.01, 1e6), st.floats(0.01, 1e6))
def test_each_order_type_keeps_exactly_its_prices(order_type, side, limit, stop):
    priced_by = PRICED_BY[order_type]
    trailing = order_type in (OrderType.TRAILING_STOP, OrderType.TRAILING_STOP_LIMIT)
    intent = _intent(order_type=order_type, side=side,
                     limit_price=limit if "limit_price" in priced_by else None,
                     stop_price=stop if "stop_price" in priced_by else None,
                     limit_offset=limit if "limit_offset" in priced_by else None,
                     trail_amount=stop if trailing else None)
    assert validate(intent) is None
    record = RegistryRecord(symbol="AAPL", asset_class="EQUITY", ib=IbContract(symbol="AAPL", sec_type="STK"))
    route = plan_route(intent, record, AccountRules("a", Broker.IB, allow_short=True), CAPABILITIES[Broker.IB],
                       broker_position=0, in_flight_buys=0, in_flight_sells=0)
    assert isinstance(route, Route)
    for order in route.orders:
        assert order.order_type is order_type  # BUY STOP stays a buy stop, SELL STOP a sell stop
        assert order.side in ((BrokerSide.BUY,) if side is Side.BUY else (BrokerSide.SELL,))
        assert order.limit_price == intent.limit_price and order.stop_price == intent.stop_price
        assert (order.trail_amount, order.limit_offset) == (intent.trail_amount, intent.limit_offset)


def test_fallback_or_rejection_never_a_silent_change():
    intent = _intent(order_type=OrderType.STOP_LIMIT, limit_price=10.0, stop_price=11.0)
    record = RegistryRecord(symbol="AAPL", asset_class="EQUITY", ib=IbContract(symbol="AAPL", sec_type="STK"))
    narrow = AccountRules("a", Broker.IB, order_types=frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP}))
    rejected = plan_route(intent, record, narrow, narrow.caps(), broker_position=0, in_flight_buys=0,
                          in_flight_sells=0)
    assert isinstance(rejected, Rejection) and rejected.reason is RejectReason.ORDER_TYPE_UNSUPPORTED
    with_fallback = AccountRules("a", Broker.IB, fallback={OrderType.STOP_LIMIT: OrderType.STOP},
                                 order_types=narrow.order_types)
    routed = plan_route(intent, record, with_fallback, with_fallback.caps(), broker_position=0,
                        in_flight_buys=0, in_flight_sells=0)
    assert isinstance(routed, Route)
    assert routed.orders[0].order_type is OrderType.STOP and routed.orders[0].stop_price == 11.0
    assert routed.orders[0].limit_price is None


def test_webull_tif_and_ticker_fallback():
    record = RegistryRecord(symbol="AAPL", asset_class="EQUITY")
    rules = AccountRules("w", Broker.WEBULL, allow_short=True)
    ioc = plan_route(_intent(tif=Tif.IOC), record, rules, rules.caps(), broker_position=0, in_flight_buys=0,
                     in_flight_sells=0)
    assert isinstance(ioc, Rejection) and ioc.reason is RejectReason.TIF_UNSUPPORTED
    day = plan_route(_intent(), record, rules, rules.caps(), broker_position=0, in_flight_buys=0, in_flight_sells=0)
    assert day.orders[0].webull == WebullInstrument(symbol="AAPL")
    ib_rules = AccountRules("i", Broker.IB)
    no_ib = plan_route(_intent(), record, ib_rules, ib_rules.caps(), broker_position=0, in_flight_buys=0,
                       in_flight_sells=0)
    assert isinstance(no_ib, Rejection) and no_ib.reason is RejectReason.UNKNOWN_SYMBOL
