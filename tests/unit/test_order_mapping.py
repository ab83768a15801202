"""How the new order surface maps to each broker's own fields (pure): IB's Order fields through
ib_async's names, Webull's new_orders/modify_orders entries as the official SDK sends them."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from janus_client.surface_cmd import parse_expiry
from janus_common import audit, projections
from janus_common.messages import (
    Broker,
    BrokerSide,
    IbContract,
    LegRole,
    ModifyOrder,
    OrderFilled,
    OrderIntent,
    OrderRouted,
    OrderType,
    PlaceOrder,
    PositionDecision,
    PositionEffect,
    RejectReason,
    Side,
    Tif,
)
from janus_ib_gateway.mapping import order_fields, transmits
from janus_webull_gateway.mapping import RouteError, new_order, replace_order


def _place(**kw) -> PlaceOrder:
    base = dict(intent_id="i1", account="a", broker=Broker.IB, symbol="AAPL", side=BrokerSide.SELL,
                order_type=OrderType.MARKET, qty=10.0, ib=IbContract(symbol="AAPL", sec_type="STK"))
    base.update(kw)
    return PlaceOrder(**base)


def test_ib_trailing_stops_carry_the_amount_in_aux_price_or_the_percent():
    by_amount = order_fields(_place(order_type=OrderType.TRAILING_STOP, trail_amount=1.5), "DU1")
    assert (by_amount.order_type, by_amount.aux_price, by_amount.trailing_percent) == ("TRAIL", 1.5, None)
    by_pct = order_fields(_place(order_type=OrderType.TRAILING_STOP, trail_percent=2.0), "DU1")
    assert (by_pct.aux_price, by_pct.trailing_percent) == (None, 2.0)
    limit = order_fields(_place(order_type=OrderType.TRAILING_STOP_LIMIT, trail_amount=1.0, limit_offset=0.1), "DU1")
    assert (limit.order_type, limit.lmt_price_offset) == ("TRAIL LIMIT", 0.1)
    assert order_fields(_place(order_type=OrderType.MARKET_ON_CLOSE), "DU1").order_type == "MOC"
    assert order_fields(_place(order_type=OrderType.LIMIT_ON_CLOSE, limit_price=5.0), "DU1").order_type == "LOC"


@pytest.mark.parametrize("tif", list(Tif))
def test_ib_takes_every_janus_tif_and_gtd_in_utc(tif):
    expire = int(datetime(2031, 1, 2, 3, 4, 5, tzinfo=timezone.utc).timestamp() * 1e9) if tif is Tif.GTD else None
    fields = order_fields(_place(tif=tif, expire_at=expire, outside_rth=True), "DU1")
    assert fields.tif == str(tif) and fields.outside_rth
    assert fields.good_till_date == ("20310102-03:04:05" if tif is Tif.GTD else "")


def test_an_ib_bracket_transmits_with_its_last_exit_only():
    entry = _place(exit_legs=(2, 3))
    tp = _place(leg=2, role=LegRole.TAKE_PROFIT, parent_leg=0, oca_group="i1", exit_legs=(2, 3))
    sl = _place(leg=3, role=LegRole.STOP_LOSS, parent_leg=0, oca_group="i1", exit_legs=(2, 3))
    assert [transmits(o) for o in (entry, tp, sl)] == [False, False, True]
    assert transmits(_place()) and transmits(_place(leg=2, role=LegRole.TAKE_PROFIT, exit_legs=(2,)))
    fields = order_fields(sl, "DU1")
    assert (fields.oca_group, fields.oca_type) == ("janus-i1", 1)


def test_webull_trailing_stop_and_replace_entries():
    body = new_order(_place(broker=Broker.WEBULL, order_type=OrderType.TRAILING_STOP, trail_percent=5.0), "c1")
    assert (body["order_type"], body["trailing_type"], body["trailing_stop_step"]) == (
        "TRAILING_STOP_LOSS", "PERCENTAGE", "0.05")  # Webull writes 5 % as 0.05
    body = new_order(_place(broker=Broker.WEBULL, order_type=OrderType.TRAILING_STOP, trail_amount=2.0), "c1")
    assert (body["trailing_type"], body["trailing_stop_step"]) == ("AMOUNT", "2.0")
    assert "stop_price" not in body and "limit_price" not in body
    with pytest.raises(RouteError) as refused:
        new_order(_place(broker=Broker.WEBULL, order_type=OrderType.LIMIT, limit_price=5.0, outside_rth=True), "c1")
    assert refused.value.reason is RejectReason.OUTSIDE_RTH_UNSUPPORTED
    entry = replace_order(ModifyOrder(intent_id="i1", account="a", broker=Broker.WEBULL, modify_id="m",
                                      qty=30.0, limit_price=195.5), "c1")
    assert entry == {"client_order_id": "c1", "quantity": "30", "limit_price": "195.5"}


def test_parse_expiry_takes_iso_times_and_offsets_from_now():
    now = time.time_ns()
    assert parse_expiry("+30s", now) == now + 30_000_000_000
    assert parse_expiry("+2h", now) == now + 7_200_000_000_000
    assert parse_expiry("2031-01-02T03:04:05Z", now) == int(datetime(2031, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
                                                            .timestamp() * 1e9)
    with pytest.raises(ValueError):
        parse_expiry("tomorrow", now)


def test_the_audit_finds_a_bracket_with_both_exits_filled():
    intent = OrderIntent(account="a", symbol="AAPL", side=Side.BUY, order_type=OrderType.MARKET, qty=10.0,
                         take_profit=110.0, stop_loss=90.0)
    orders = [_place(side=BrokerSide.BUY, intent_id=intent.intent_id, exit_legs=(2, 3)),
              *(_place(intent_id=intent.intent_id, leg=leg, role=role, parent_leg=0, oca_group=intent.intent_id,
                       exit_legs=(2, 3)) for leg, role in ((2, LegRole.TAKE_PROFIT), (3, LegRole.STOP_LOSS)))]
    decision = PositionDecision(broker_position=0, in_flight=0, projected_position=0, allow_short=False,
                                locate_required=False, effect=PositionEffect.OPEN_LONG)
    ledger = projections.apply(projections.Ledger(), OrderRouted(account="a", intent_id=intent.intent_id,
                                                                 intent=intent, broker=Broker.IB, decision=decision,
                                                                 orders=orders))

    def fill(leg: int, side: BrokerSide) -> OrderFilled:
        return OrderFilled(account="a", intent_id=intent.intent_id, broker=Broker.IB, leg=leg, fill_id=f"f{leg}",
                           symbol="AAPL", side=side, qty=10.0, price=100.0)

    ledger = projections.replay([fill(0, BrokerSide.BUY), fill(2, BrokerSide.SELL)], ledger)
    assert not [f for f in audit.check(ledger).violations if f.check == "one_exit"]
    ledger = projections.apply(ledger, fill(3, BrokerSide.SELL))
    found = [f for f in audit.check(ledger).violations if f.check == "one_exit"]
    assert len(found) == 1 and found[0].intent_id == intent.intent_id
