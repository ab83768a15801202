"""The gRPC trade-event stream as the SDK's TradeEventsClient sees it."""

from __future__ import annotations

from decimal import Decimal

import grpc
import pytest

from conftest import EventListener
from helpers import new_order, place, server_error

ACCT = "SIMWB0001"
ORDER_EVENT = 1024


def test_subscribe_success_and_pings(sim, events):
    # The fixture already saw on_connect (eventType SubscribeSuccess); pings arrive every 0.2 s.
    for _ in range(2):
        events.next("log", timeout=3, match=lambda it: "eventType: Ping" in it[2])
    assert sim.subscribe_count == 1


def test_fill_events(sim, trade, events):
    sim.pause_matching()
    coid = place(trade, ACCT, "AAPL", "BUY", 250)
    for _ in range(3):
        sim.match_now()
    first = events.next_event(client_order_id=coid)
    assert (first["scene_type"], first["order_status"], first["filled_qty"]) == ("FILLED", "PARTIAL_FILLED", "100")
    assert first["account_id"] == ACCT and first["symbol"] == "AAPL" and first["side"] == "BUY"
    assert first["order_type"] == "MARKET" and first["instrument_id"] and first["order_id"]
    second = events.next_event(client_order_id=coid)
    assert (second["scene_type"], second["filled_qty"], second["last_filled_qty"]) == ("FILLED", "200", "100")
    final = events.next_event(client_order_id=coid)
    assert (final["scene_type"], final["order_status"], final["filled_qty"]) == ("FINAL_FILLED", "FILLED", "250")
    assert Decimal(final["filled_price"]) > 0 and final["filled_time"]


def test_event_type_and_content_type(sim, trade, events):
    coid = place(trade, ACCT, "MSFT", "BUY", 1)
    item = events.next("event", match=lambda it: it[2].get("client_order_id") == coid)
    assert item[1] == ORDER_EVENT and isinstance(item[2], dict)  # the SDK decoded the JSON payload


def test_place_failed_cancel_and_modify_events(sim, trade, events):
    sim.pause_matching()
    bad = new_order("TSLA", "SHORT", 1)
    server_error(lambda: trade.order_v3.place_order(ACCT, [bad]))
    ev = events.next_event(client_order_id=bad["client_order_id"])
    assert (ev["scene_type"], ev["order_status"]) == ("PLACE_FAILED", "FAILED")

    coid = place(trade, ACCT, "SPY", "BUY", 3, "LIMIT", limit="100.00")
    trade.order_v3.replace_order(ACCT, [{"client_order_id": coid, "limit_price": "101.00"}])
    ev = events.next_event(client_order_id=coid)
    assert (ev["scene_type"], ev["order_status"]) == ("MODIFY_SUCCESS", "SUBMITTED")
    trade.order_v3.cancel_order(ACCT, coid)
    ev = events.next_event(client_order_id=coid)
    assert (ev["scene_type"], ev["order_status"]) == ("CANCEL_SUCCESS", "CANCELLED")
    server_error(lambda: trade.order_v3.cancel_order(ACCT, coid))
    assert events.next_event(client_order_id=coid)["scene_type"] == "CANCEL_FAILED"
    server_error(lambda: trade.order_v3.replace_order(ACCT, [{"client_order_id": coid, "quantity": "5"}]))
    assert events.next_event(client_order_id=coid)["scene_type"] == "MODIFY_FAILED"


def test_wrongly_signed_subscription_is_refused(sim):
    listener = EventListener(sim, secret="not-the-secret").start()
    try:
        listener.next("ended", timeout=10)
        assert isinstance(listener.error, grpc.RpcError)
        assert listener.error.code() == grpc.StatusCode.UNAUTHENTICATED
        assert sim.subscribe_count == 0
    finally:
        listener.close()


@pytest.mark.parametrize("n", [2])
def test_two_subscribers_both_get_events(sim, trade, n):
    listeners = [EventListener(sim).start() for _ in range(n)]
    try:
        for lst in listeners:
            lst.next("connect")
        coid = place(trade, ACCT, "QQQ", "BUY", 1)
        for lst in listeners:
            assert lst.next_event(client_order_id=coid)["scene_type"] == "FINAL_FILLED"
    finally:
        for lst in listeners:
            lst.close()
