"""Control-interface scenarios, each observed through the official SDK."""

from __future__ import annotations

import time

import grpc
from webull.core.exception.exceptions import ClientException
from webull.trade.trade_client import TradeClient

from conftest import make_api
from helpers import admin, detail, place, server_error, wait_until

ACCT = "SIMWB0001"


def _pings(listener, n: int) -> None:
    for _ in range(n):
        listener.next("log", timeout=3, match=lambda it: "eventType: Ping" in it[2])


def test_silent_stream_orders_fill_visible_by_polling_only(sim, trade, events):
    sim.silent_stream(True)
    coid = place(trade, ACCT, "AAPL", "BUY", 5)
    wait_until(lambda: detail(trade, ACCT, coid)["status"] == "FILLED")
    # The connection stays up and keeps pinging; an event sent at fill time would precede these.
    _pings(events, 2)
    assert not [it for it in events.seen if it[0] == "event" and it[2]["client_order_id"] == coid]
    sim.silent_stream(False)
    after = place(trade, ACCT, "AAPL", "BUY", 5)
    assert events.next_event(client_order_id=after)["scene_type"] == "FINAL_FILLED"


def test_silent_stream_without_pings(sim, trade, events):
    sim.silent_stream(True, pings=False)
    seen_before = len(events.seen)
    coid = place(trade, ACCT, "MSFT", "BUY", 1)
    wait_until(lambda: detail(trade, ACCT, coid)["status"] == "FILLED")
    # Ping interval is 0.2 s: wait for the stream to prove it is alive again afterwards instead.
    sim.silent_stream(False)
    _pings(events, 1)
    assert not [it for it in events.seen[seen_before:] if it[0] == "event"]


def test_stream_drop_and_sdk_reconnect(sim, trade, events):
    assert sim.drop_stream() == 1
    err = events.next("log", match=lambda it: "StatusCode.UNAVAILABLE" in it[2])
    assert "grpc error" in err[2]
    events.next("connect")  # the SDK's retry loop subscribed again
    assert sim.subscribe_count == 2
    coid = place(trade, ACCT, "NVDA", "BUY", 1)
    assert events.next_event(client_order_id=coid)["scene_type"] == "FINAL_FILLED"


def test_stream_outage_loses_events_until_reconnect(sim, trade, events):
    sim.drop_stream(refuse_reconnect=True)
    # The SDK keeps retrying while subscriptions are refused.
    for _ in range(2):
        events.next("log", match=lambda it: "StatusCode.UNAVAILABLE" in it[2])
    coid = place(trade, ACCT, "SPY", "BUY", 1)
    wait_until(lambda: detail(trade, ACCT, coid)["status"] == "FILLED")
    sim.stream_up()
    events.next("connect")
    later = place(trade, ACCT, "SPY", "BUY", 1)
    assert events.next_event(client_order_id=later)["scene_type"] == "FINAL_FILLED"
    assert not [it for it in events.seen if it[0] == "event" and it[2]["client_order_id"] == coid]


def test_http_5xx_and_429_bursts(sim, trade):
    sim.http_errors(503, 2)
    for _ in range(2):
        exc = server_error(lambda: trade.account_v2.get_account_list())
        assert (exc.get_http_status(), exc.get_error_code()) == (503, "SERVICE_UNAVAILABLE")
    assert trade.account_v2.get_account_list().status_code == 200
    sim.http_errors(429, 1)
    exc = server_error(lambda: trade.account_v2.get_account_position(ACCT))
    assert (exc.get_http_status(), exc.get_error_code()) == (429, "TOO_MANY_REQUESTS")
    sim.http_errors(500, 1)
    exc = server_error(lambda: place(trade, ACCT, "AAPL", "BUY", 1, coid="notplaced1"))
    assert exc.get_http_status() == 500
    assert server_error(lambda: detail(trade, ACCT, "notplaced1")).get_http_status() == 404


def test_http_error_after_execution_is_ambiguous(sim, trade):
    sim.pause_matching()
    sim.http_errors(502, 1, executed=True)
    exc = server_error(lambda: place(trade, ACCT, "AAPL", "BUY", 1, "LIMIT", limit="100.00", coid="placedanyway"))
    assert exc.get_http_status() == 502
    assert detail(trade, ACCT, "placedanyway")["status"] == "SUBMITTED"


def test_slow_responses(sim, trade):
    sim.slow_responses(0.4, count=1)
    t0 = time.monotonic()
    assert trade.account_v2.get_account_list().status_code == 200
    assert time.monotonic() - t0 >= 0.4
    t0 = time.monotonic()
    trade.account_v2.get_account_list()
    assert time.monotonic() - t0 < 0.4


def test_slow_responses_past_the_client_timeout(sim):
    trade = TradeClient(make_api(sim, timeout=0.3))
    sim.slow_responses(1.0, count=1)
    try:
        trade.account_v2.get_account_list()
    except ClientException as exc:
        assert exc.get_error_code() == "SDK.HttpError"
    else:
        raise AssertionError("expected a read timeout")
    assert trade.account_v2.get_account_list().status_code == 200


def test_admin_http_interface(sim, trade):
    port = sim.http_port
    assert admin(port, "POST", "price", {"symbol": "AAPL", "price": "201.37"})[0] == 200
    status, body = admin(port, "POST", "scenario",
                         {"name": "http_errors", "status": 429, "count": 1})
    assert status == 200 and body["faults"]["http_errors"] == [429]
    assert server_error(lambda: trade.account_v2.get_account_list()).get_http_status() == 429
    assert admin(port, "POST", "scenario", {"name": "nope"})[0] == 400
    assert admin(port, "POST", "price", {"symbol": "AAPL", "price": "1.001"})[0] == 400
    status, state = admin(port, "GET", "state")
    assert status == 200 and state["accounts"][ACCT]["balance"]["account_id"] == ACCT
    assert "AAPL" in state["prices"]


def test_garbage_on_the_wire_gets_webull_error(sim, trade):
    import socket
    with socket.create_connection(("127.0.0.1", sim.http_port), timeout=5) as s:
        s.sendall(b"NONSENSE\r\n\r\n")
        data = s.recv(65536)
    assert data.startswith(b"HTTP/1.1 400") and b'"error_code"' in data
    assert trade.account_v2.get_account_list().status_code == 200
