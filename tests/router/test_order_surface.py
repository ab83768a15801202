"""The order surface, decided purely: trailing stops, GTD/OPG/on-close rules, brackets as exit legs,
what each broker takes (capabilities), and modifications — each against rules written from the
issue's and the brokers' words, not from the code."""

from __future__ import annotations

import time

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from janus_common import projections
from janus_common.capabilities import CAPABILITIES, BracketStyle, narrowed
from janus_common.messages import (
    EXIT_LEGS,
    Broker,
    BrokerSide,
    IbContract,
    LegRole,
    ModifyIntent,
    OrderFilled,
    OrderIntent,
    OrderModified,
    OrderRouted,
    OrderType,
    PositionDecision,
    PositionEffect,
    RegistryRecord,
    RejectReason,
    Side,
    Tif,
    WebullInstrument,
)
from janus_router.decide import Rejection, Route, plan_route, validate
from janus_router.modify import ModifyPlan, plan_modify
from janus_router.rules import AccountRules

MANY = settings(max_examples=300, deadline=None)
NOW = time.time_ns()
IB_RECORD = RegistryRecord(symbol="AAPL", asset_class="EQUITY", ib=IbContract(symbol="AAPL", sec_type="STK"))
WB_RECORD = RegistryRecord(symbol="AAPL", asset_class="EQUITY", webull=WebullInstrument(symbol="AAPL"))


def _intent(**kw) -> OrderIntent:
    base = dict(account="a", symbol="AAPL", side=Side.BUY, order_type=OrderType.MARKET, qty=10.0)
    base.update(kw)
    return OrderIntent(**base)


def _route(intent: OrderIntent, broker: Broker = Broker.IB, position: float = 0.0) -> Route | Rejection:
    rules = AccountRules("a", broker, allow_short=True)
    record = IB_RECORD if broker is Broker.IB else WB_RECORD
    return plan_route(intent, record, rules, rules.caps(), broker_position=position, in_flight_buys=0,
                      in_flight_sells=0)


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw, reason",
    [
        ({"order_type": OrderType.TRAILING_STOP}, RejectReason.MISSING_TRAIL),
        ({"order_type": OrderType.TRAILING_STOP, "trail_amount": 1.0, "trail_percent": 2.0}, RejectReason.MISSING_TRAIL),
        ({"order_type": OrderType.TRAILING_STOP, "trail_amount": -1.0}, RejectReason.INVALID_PRICE),
        ({"order_type": OrderType.TRAILING_STOP, "trail_percent": 100.0}, RejectReason.INVALID_PRICE),
        ({"order_type": OrderType.TRAILING_STOP, "trail_amount": 1.0, "stop_price": 5.0}, RejectReason.INVALID_PRICE),
        ({"order_type": OrderType.TRAILING_STOP_LIMIT, "trail_amount": 1.0}, RejectReason.MISSING_LIMIT_PRICE),
        ({"order_type": OrderType.LIMIT, "limit_price": 5.0, "trail_amount": 1.0}, RejectReason.INVALID_PRICE),
        ({"order_type": OrderType.LIMIT_ON_CLOSE}, RejectReason.MISSING_LIMIT_PRICE),
        ({"order_type": OrderType.MARKET_ON_CLOSE, "tif": Tif.GTC}, RejectReason.TIF_UNSUPPORTED),
        ({"tif": Tif.GTD}, RejectReason.INVALID_EXPIRY),
        ({"tif": Tif.GTD, "expire_at": NOW - 1_000_000_000}, RejectReason.INVALID_EXPIRY),
        ({"expire_at": NOW + 1_000_000_000}, RejectReason.INVALID_EXPIRY),
        ({"tif": Tif.OPG, "order_type": OrderType.STOP, "stop_price": 5.0}, RejectReason.TIF_UNSUPPORTED),
        ({"order_type": OrderType.LIMIT, "limit_price": 100.0, "take_profit": 99.0}, RejectReason.INVALID_BRACKET),
        ({"order_type": OrderType.LIMIT, "limit_price": 100.0, "stop_loss": 101.0}, RejectReason.INVALID_BRACKET),
        ({"side": Side.SELL, "order_type": OrderType.LIMIT, "limit_price": 100.0, "take_profit": 101.0},
         RejectReason.INVALID_BRACKET),
        ({"take_profit": 90.0, "stop_loss": 95.0}, RejectReason.INVALID_BRACKET),
        ({"order_type": OrderType.TRAILING_STOP, "trail_amount": 1.0, "take_profit": 120.0},
         RejectReason.INVALID_BRACKET),
        ({"take_profit": float("nan")}, RejectReason.INVALID_PRICE),
    ],
)
def test_what_the_new_fields_refuse(kw, reason):
    rejection = validate(_intent(**kw), NOW)
    assert rejection is not None and rejection.reason is reason and rejection.message


@pytest.mark.parametrize("kw", [
    {"order_type": OrderType.TRAILING_STOP, "trail_amount": 0.5},
    {"order_type": OrderType.TRAILING_STOP, "trail_percent": 2.5},
    {"order_type": OrderType.TRAILING_STOP_LIMIT, "trail_amount": 0.5, "limit_offset": 0.1},
    {"order_type": OrderType.MARKET_ON_CLOSE},
    {"order_type": OrderType.LIMIT_ON_CLOSE, "limit_price": 10.0},
    {"tif": Tif.GTD, "expire_at": NOW + 60_000_000_000},
    {"tif": Tif.FOK, "order_type": OrderType.LIMIT, "limit_price": 10.0},
    {"tif": Tif.OPG, "order_type": OrderType.LIMIT, "limit_price": 10.0},
    {"order_type": OrderType.LIMIT, "limit_price": 100.0, "take_profit": 110.0, "stop_loss": 95.0},
    {"side": Side.SELL, "order_type": OrderType.LIMIT, "limit_price": 100.0, "take_profit": 90.0, "stop_loss": 105.0},
])
def test_what_the_new_fields_accept(kw):
    assert validate(_intent(**kw), NOW) is None


@MANY
@given(st.sampled_from(list(Side)), st.floats(1, 1000), st.floats(0.01, 50), st.floats(0.01, 50))
def test_a_bracket_validates_exactly_when_its_exits_straddle_the_entry(side, entry, up, down):
    """The model: a BUY's take-profit above the entry and stop-loss below; a SELL the mirror."""
    tp, sl = (entry + up, entry - down) if side is Side.BUY else (entry - up, entry + down)
    intent = _intent(side=side, order_type=OrderType.LIMIT, limit_price=entry, take_profit=tp, stop_loss=sl)
    expected_ok = tp > 0 and sl > 0 and (tp != entry and sl != entry)
    found = validate(intent, NOW)
    assert (found is None) == expected_ok, found
    swapped = _intent(side=side, order_type=OrderType.LIMIT, limit_price=entry, take_profit=sl, stop_loss=tp)
    assert validate(swapped, NOW) is not None


# --- capabilities ---------------------------------------------------------------------------------


def test_each_broker_refuses_what_it_cannot_express_naming_what_it_can():
    trailing_pct = _intent(order_type=OrderType.TRAILING_STOP, trail_percent=2.0)
    assert isinstance(_route(trailing_pct, Broker.IB), Route)
    assert isinstance(_route(trailing_pct, Broker.WEBULL), Route)
    moc = _route(_intent(order_type=OrderType.MARKET_ON_CLOSE), Broker.WEBULL)
    assert isinstance(moc, Rejection) and moc.reason is RejectReason.ORDER_TYPE_UNSUPPORTED
    assert "TRAILING_STOP" in moc.message and "LIMIT" in moc.message  # what it takes instead
    fok = _route(_intent(tif=Tif.FOK, order_type=OrderType.LIMIT, limit_price=5.0), Broker.WEBULL)
    assert isinstance(fok, Rejection) and fok.reason is RejectReason.TIF_UNSUPPORTED and "DAY, GTC" in fok.message
    rth = _route(_intent(outside_rth=True, order_type=OrderType.LIMIT, limit_price=5.0), Broker.WEBULL)
    assert isinstance(rth, Rejection) and rth.reason is RejectReason.OUTSIDE_RTH_UNSUPPORTED
    paper = AccountRules("p", Broker.PAPER)
    bracket = plan_route(_intent(take_profit=200.0), RegistryRecord(symbol="AAPL", asset_class="EQUITY"), paper,
                         paper.caps(), broker_position=0, in_flight_buys=0, in_flight_sells=0)
    assert isinstance(bracket, Rejection) and bracket.reason is RejectReason.BRACKET_UNSUPPORTED


def test_an_accounts_narrowing_keeps_the_rest_of_the_table():
    caps = narrowed(CAPABILITIES[Broker.IB], [OrderType.MARKET, OrderType.LIMIT])
    assert caps.order_types == {OrderType.MARKET, OrderType.LIMIT}
    assert caps.modify and caps.brackets is BracketStyle.NATIVE and caps.tifs == CAPABILITIES[Broker.IB].tifs


# --- brackets ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("broker", [Broker.IB, Broker.WEBULL])
def test_a_bracket_is_its_entry_and_two_exit_legs_one_cancels_the_other(broker):
    intent = _intent(order_type=OrderType.LIMIT, limit_price=100.0, take_profit=110.0, stop_loss=95.0, tif=Tif.GTC)
    route = _route(intent, broker)
    assert isinstance(route, Route)
    entry, tp, sl = route.orders
    assert (entry.leg, entry.role, entry.parent_leg, entry.exit_legs) == (0, LegRole.ENTRY, None, (2, 3))
    assert (tp.leg, tp.role, tp.order_type, tp.limit_price, tp.side) == (
        EXIT_LEGS[LegRole.TAKE_PROFIT], LegRole.TAKE_PROFIT, OrderType.LIMIT, 110.0, BrokerSide.SELL)
    assert (sl.leg, sl.role, sl.order_type, sl.stop_price, sl.side) == (
        EXIT_LEGS[LegRole.STOP_LOSS], LegRole.STOP_LOSS, OrderType.STOP, 95.0, BrokerSide.SELL)
    for exit_ in (tp, sl):
        assert exit_.parent_leg == 0 and exit_.oca_group == intent.intent_id and exit_.qty == intent.qty
        assert exit_.tif is Tif.GTC and exit_.exit_legs == (2, 3)


def test_a_bracket_whose_entry_would_cross_zero_at_webull_is_refused():
    intent = _intent(side=Side.SELL, take_profit=90.0)
    found = _route(intent, Broker.WEBULL, position=5.0)  # sells 5 long, shorts 5: two orders
    assert isinstance(found, Rejection) and found.reason is RejectReason.INVALID_BRACKET


def test_working_quantities_count_one_exit_of_a_bracket_not_both():
    intent = _intent(order_type=OrderType.LIMIT, limit_price=100.0, take_profit=110.0, stop_loss=95.0)
    route = _route(intent)
    assert isinstance(route, Route)
    routed = OrderRouted(account="a", intent_id=intent.intent_id, intent=intent, broker=Broker.IB,
                         decision=route.decision, orders=list(route.orders))
    ledger = projections.apply(projections.Ledger(), routed)
    assert projections.in_flight(ledger, "a", "AAPL") == (10.0, 10.0)  # not 20 sells
    fill = OrderFilled(account="a", intent_id=intent.intent_id, broker=Broker.IB, leg=0, fill_id="f1",
                       symbol="AAPL", side=BrokerSide.BUY, qty=10.0, price=100.0)
    ledger = projections.apply(ledger, fill)
    assert projections.in_flight(ledger, "a", "AAPL") == (0.0, 10.0)


# --- modifications -------------------------------------------------------------------------------------


def _routed_view(intent: OrderIntent, broker: Broker = Broker.IB) -> projections.OrderView:
    route = _route(intent, broker)
    assert isinstance(route, Route)
    ledger = projections.apply(projections.Ledger(), OrderRouted(
        account="a", intent_id=intent.intent_id, intent=intent, broker=broker, decision=route.decision,
        orders=list(route.orders)))
    view = projections.order(ledger, "a", intent.intent_id)
    assert view is not None
    return view


def test_a_modify_names_every_figure_as_it_is_to_be():
    intent = _intent(order_type=OrderType.LIMIT, limit_price=100.0)
    view = _routed_view(intent)
    plan = plan_modify(ModifyIntent(intent_id=intent.intent_id, account="a", limit_price=101.0), view,
                       CAPABILITIES[Broker.IB])
    assert isinstance(plan, ModifyPlan)
    (order,) = plan.orders
    assert (order.leg, order.qty, order.limit_price, order.stop_price) == (0, 10.0, 101.0, None)
    assert plan.before[0].limit_price == 100.0 and plan.after[0].limit_price == 101.0


@pytest.mark.parametrize("kw, reason", [
    ({}, RejectReason.NOTHING_TO_MODIFY),
    ({"stop_price": 90.0}, RejectReason.INVALID_PRICE),  # a LIMIT has no stop price
    ({"qty": 0.0}, RejectReason.INVALID_QTY),
    ({"limit_price": -1.0}, RejectReason.INVALID_PRICE),
    ({"trail_amount": 1.0}, RejectReason.INVALID_PRICE),
    ({"role": LegRole.STOP_LOSS, "stop_price": 90.0}, RejectReason.NOTHING_TO_MODIFY),  # no bracket
])
def test_a_modify_refuses_with_a_reason(kw, reason):
    intent = _intent(order_type=OrderType.LIMIT, limit_price=100.0)
    found = plan_modify(ModifyIntent(intent_id=intent.intent_id, account="a", **kw), _routed_view(intent),
                        CAPABILITIES[Broker.IB])
    assert isinstance(found, Rejection) and found.reason is reason, found


def test_a_modify_of_a_finished_unknown_or_unmodifiable_order_is_refused():
    intent = _intent(order_type=OrderType.LIMIT, limit_price=100.0)
    modify = ModifyIntent(intent_id=intent.intent_id, account="a", limit_price=101.0)
    unknown = plan_modify(modify, None, CAPABILITIES[Broker.IB])
    assert isinstance(unknown, Rejection) and unknown.reason is RejectReason.UNKNOWN_INTENT
    view = _routed_view(intent)
    filled = msgspec.structs.replace(view, legs=tuple(msgspec.structs.replace(
        leg, filled=10.0, status=projections.OrderState.FILLED) for leg in view.legs))
    finished = plan_modify(modify, filled, CAPABILITIES[Broker.IB])
    assert isinstance(finished, Rejection) and finished.reason is RejectReason.ORDER_FINISHED
    paper = plan_modify(modify, view, CAPABILITIES[Broker.PAPER])
    assert isinstance(paper, Rejection) and paper.reason is RejectReason.MODIFY_UNSUPPORTED


def test_a_modify_may_not_shrink_below_what_is_filled():
    intent = _intent(order_type=OrderType.LIMIT, limit_price=100.0)
    view = _routed_view(intent)
    part = msgspec.structs.replace(view, legs=tuple(msgspec.structs.replace(leg, filled=4.0) for leg in view.legs))
    found = plan_modify(ModifyIntent(intent_id=intent.intent_id, account="a", qty=4.0), part, CAPABILITIES[Broker.IB])
    assert isinstance(found, Rejection) and found.reason is RejectReason.INVALID_QTY and "4" in found.message
    ok = plan_modify(ModifyIntent(intent_id=intent.intent_id, account="a", qty=5.0), part, CAPABILITIES[Broker.IB])
    assert isinstance(ok, ModifyPlan) and ok.orders[0].qty == 5.0


def test_a_brackets_exit_is_modified_by_its_role_and_its_entry_keeps_its_size():
    intent = _intent(order_type=OrderType.LIMIT, limit_price=100.0, take_profit=110.0, stop_loss=95.0)
    view = _routed_view(intent)
    plan = plan_modify(ModifyIntent(intent_id=intent.intent_id, account="a", role=LegRole.STOP_LOSS, stop_price=96.0),
                       view, CAPABILITIES[Broker.IB])
    assert isinstance(plan, ModifyPlan) and [(o.leg, o.stop_price) for o in plan.orders] == [(3, 96.0)]
    resize = plan_modify(ModifyIntent(intent_id=intent.intent_id, account="a", qty=20.0), view,
                         CAPABILITIES[Broker.IB])
    assert isinstance(resize, Rejection) and resize.reason is RejectReason.MODIFY_UNSUPPORTED


def test_what_the_broker_took_is_what_the_next_modify_starts_from():
    intent = _intent(order_type=OrderType.STOP_LIMIT, limit_price=99.0, stop_price=100.0)
    route = _route(intent)
    assert isinstance(route, Route)
    ledger = projections.apply(projections.Ledger(), OrderRouted(
        account="a", intent_id=intent.intent_id, intent=intent, broker=Broker.IB, decision=route.decision,
        orders=list(route.orders)))
    ledger = projections.apply(ledger, OrderModified(account="a", intent_id=intent.intent_id, broker=Broker.IB, leg=0,
                                                     modify_id="m1", qty=12.0, limit_price=98.0, stop_price=100.0))
    after = projections.order(ledger, "a", intent.intent_id)
    assert after is not None and after.legs[0].qty == 12.0
    now = projections.current(after, 0)
    assert now is not None and (now.qty, now.limit_price, now.stop_price) == (12.0, 98.0, 100.0)
    assert projections.in_flight(ledger, "a", "AAPL") == (12.0, 0.0)
    plan = plan_modify(ModifyIntent(intent_id=intent.intent_id, account="a", stop_price=101.0), after,
                       CAPABILITIES[Broker.IB])
    assert isinstance(plan, ModifyPlan) and (plan.orders[0].qty, plan.orders[0].limit_price) == (12.0, 98.0)


def test_the_position_decision_is_unchanged_by_the_new_fields():
    route = _route(_intent(side=Side.SELL, order_type=OrderType.TRAILING_STOP, trail_amount=1.0), position=10.0)
    assert isinstance(route, Route)
    assert route.decision == PositionDecision(broker_position=10.0, in_flight=-0.0, projected_position=10.0,
                                              allow_short=True, locate_required=False,
                                              effect=PositionEffect.CLOSE_LONG)
