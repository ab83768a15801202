"""Replace (modify) and trailing stops in the Webull simulator, through the official SDK (and the
gateway's WebullApi), plus the trailing arithmetic as pure functions.

Matching is paused and run on demand (``match_now``) so every step is deterministic.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import admin, detail, new_order, place, position, server_error
from janus_common.config import WebullConnection
from janus_webull_gateway.webull_api import WebullApi, WebullError
from janus_webull_sim import trailing
from janus_webull_sim.trailing import Trail

ACCT = "SIMWB0001"


@pytest.fixture
def manual(sim):
    sim.pause_matching()
    return sim


def trailing_order(symbol: str, side: str, qty: int, kind: str, step: str, **kw) -> dict:
    order = new_order(symbol, side, qty, "TRAILING_STOP_LOSS", **kw)
    order.update(trailing_type=kind, trailing_stop_step=step)
    return order


def place_order(trade, order: dict) -> str:
    res = trade.order_v3.place_order(ACCT, [order])
    assert res.status_code == 200, res.text
    return order["client_order_id"]


def buy_now(sim, trade, symbol: str, qty: int) -> None:
    place(trade, ACCT, symbol, "BUY", qty)
    sim.match_now()
    assert position(trade, ACCT, symbol)["quantity"] == str(qty)


# -- replace --------------------------------------------------------------------------------

def test_replace_a_resting_limit_price_shows_in_detail_and_events_then_fills(manual, trade, events):
    manual.set_price("AAPL", "190.00")
    coid = place(trade, ACCT, "AAPL", "BUY", 10, "LIMIT", limit="180.00")
    before = detail(trade, ACCT, coid)
    res = trade.order_v3.replace_order(ACCT, [{"client_order_id": coid, "limit_price": "185.50"}])
    assert res.json() == {"client_order_id": coid, "order_id": before["order_id"]}
    after = detail(trade, ACCT, coid)
    assert (after["limit_price"], after["status"], after["order_id"]) == ("185.50", "SUBMITTED", before["order_id"])
    ev = events.next_event(client_order_id=coid)
    assert (ev["scene_type"], ev["order_status"], ev["qty"]) == ("MODIFY_SUCCESS", "SUBMITTED", "10")

    manual.set_price("AAPL", "186.00")  # ask 186.01: above the new limit, nothing
    manual.match_now()
    assert detail(trade, ACCT, coid)["status"] == "SUBMITTED"
    manual.set_price("AAPL", "185.00")  # ask 185.01 <= 185.50
    manual.match_now()
    done = detail(trade, ACCT, coid)
    assert (done["status"], done["filled_quantity"], done["filled_price"]) == ("FILLED", "10", "185.0100")
    ev = events.next_event(client_order_id=coid, scene_type="FINAL_FILLED")
    assert ev["filled_qty"] == "10"


def test_replace_quantity_shows_in_the_event(manual, trade, events):
    coid = place(trade, ACCT, "MSFT", "BUY", 5, "LIMIT", limit="300.00")
    trade.order_v3.replace_order(ACCT, [{"client_order_id": coid, "quantity": "7", "time_in_force": "GTC"}])
    ev = events.next_event(client_order_id=coid)
    assert (ev["scene_type"], ev["qty"], ev["time_in_force"]) == ("MODIFY_SUCCESS", "7", "GTC")
    o = detail(trade, ACCT, coid)
    assert (o["quantity"], o["time_in_force"]) == ("7", "GTC")


def test_replace_quantity_below_or_at_the_filled_is_refused(manual, trade, events):
    manual.set_price("SPY", "500.00")
    coid = place(trade, ACCT, "SPY", "BUY", 250, "LIMIT", limit="510.00")
    manual.match_now()  # 100 of 250 (fill_chunk)
    assert detail(trade, ACCT, coid)["filled_quantity"] == "100"
    for qty in ("50", "100"):
        exc = server_error(lambda: trade.order_v3.replace_order(ACCT, [{"client_order_id": coid, "quantity": qty}]))
        assert (exc.get_http_status(), exc.get_error_code()) == (400, "INVALID_QUANTITY")
        ev = events.next_event(client_order_id=coid, scene_type="MODIFY_FAILED")
        assert ev["qty"] == "250"
    assert detail(trade, ACCT, coid)["quantity"] == "250"
    trade.order_v3.replace_order(ACCT, [{"client_order_id": coid, "quantity": "150"}])
    manual.match_now()
    o = detail(trade, ACCT, coid)
    assert (o["status"], o["filled_quantity"], o["quantity"]) == ("FILLED", "150", "150")


def test_replace_of_a_filled_or_cancelled_order_is_refused(manual, trade, events):
    filled = place(trade, ACCT, "IBM", "BUY", 5)
    manual.match_now()
    exc = server_error(lambda: trade.order_v3.replace_order(ACCT, [{"client_order_id": filled, "quantity": "6"}]))
    assert (exc.get_http_status(), exc.get_error_code()) == (400, "ORDER_CANNOT_BE_MODIFIED")
    assert events.next_event(client_order_id=filled, scene_type="MODIFY_FAILED")["order_status"] == "FILLED"
    cancelled = place(trade, ACCT, "IBM", "BUY", 5, "LIMIT", limit="100.00")
    trade.order_v3.cancel_order(ACCT, cancelled)
    exc = server_error(lambda: trade.order_v3.replace_order(
        ACCT, [{"client_order_id": cancelled, "limit_price": "101.00"}]))
    assert exc.get_error_code() == "ORDER_CANNOT_BE_MODIFIED"
    assert detail(trade, ACCT, cancelled)["limit_price"] == "100.00"
    exc = server_error(lambda: trade.order_v3.replace_order(ACCT, [{"client_order_id": "nosuch1", "quantity": "1"}]))
    assert (exc.get_http_status(), exc.get_error_code()) == (404, "ORDER_NOT_FOUND")


@pytest.mark.parametrize("field,value", [
    ("side", "SELL"), ("symbol", "MSFT"), ("order_type", "MARKET"), ("instrument_type", "OPTION"), ("market", "HK")])
def test_replace_changing_the_identity_is_refused(manual, trade, events, field, value):
    coid = place(trade, ACCT, "AAPL", "BUY", 3, "LIMIT", limit="150.00")
    mod = {"client_order_id": coid, "limit_price": "151.00", field: value}
    exc = server_error(lambda: trade.order_v3.replace_order(ACCT, [mod]))
    assert (exc.get_http_status(), exc.get_error_code()) == (400, "FIELD_NOT_MODIFIABLE")
    assert events.next_event(client_order_id=coid)["scene_type"] == "MODIFY_FAILED"
    o = detail(trade, ACCT, coid)
    assert (o["side"], o["symbol"], o["order_type"], o["limit_price"]) == ("BUY", "AAPL", "LIMIT", "150.00")
    # The same fields with the order's own values are accepted (Webull's older replace sent them all).
    same = {"client_order_id": coid, "limit_price": "151.00", "side": "BUY", "symbol": "AAPL", "order_type": "LIMIT"}
    trade.order_v3.replace_order(ACCT, [same])
    assert detail(trade, ACCT, coid)["limit_price"] == "151.00"


@pytest.mark.parametrize("mod,code", [
    ({"limit_price": "150.001"}, "INVALID_PRICE"),
    ({"limit_price": "-1"}, "INVALID_PRICE"),
    ({"limit_price": "1e999999999"}, "INVALID_PRICE"),  # beyond the decimal context: no overflow
    ({"stop_price": "140.00"}, "INVALID_PARAMETER"),  # a LIMIT has no stop
    ({"quantity": "2.5"}, "INVALID_QUANTITY"),
    ({"time_in_force": "IOC"}, "INVALID_PARAMETER"),
    ({"trailing_stop_step": "1.00"}, "INVALID_PARAMETER"),  # not a trailing order
    ({}, "INVALID_PARAMETER"),  # nothing to modify
])
def test_replace_values_are_checked_like_a_new_order(manual, trade, mod, code):
    coid = place(trade, ACCT, "AAPL", "BUY", 3, "LIMIT", limit="150.00")
    exc = server_error(lambda: trade.order_v3.replace_order(ACCT, [{"client_order_id": coid, **mod}]))
    assert (exc.get_http_status(), exc.get_error_code()) == (400, code)
    o = detail(trade, ACCT, coid)
    assert (o["quantity"], o["limit_price"], o["time_in_force"]) == ("3", "150.00", "DAY")


# -- trailing stops -------------------------------------------------------------------------

def test_trailing_sell_follows_a_rising_price_and_fills_on_the_way_down(manual, trade, events):
    manual.set_price("NVDA", "100.00")
    buy_now(manual, trade, "NVDA", 10)
    coid = place_order(trade, trailing_order("NVDA", "SELL", 10, "AMOUNT", "2.00", tif="GTC"))
    o = detail(trade, ACCT, coid)
    assert (o["order_type"], o["stop_price"], o["trailing_type"], o["trailing_stop_step"]) == (
        "TRAILING_STOP_LOSS", "98.00", "AMOUNT", "2.00")
    for price, stop in (("103.00", "101.00"), ("110.00", "108.00"), ("109.00", "108.00"), ("108.01", "108.00")):
        manual.set_price("NVDA", price)
        manual.match_now()
        o = detail(trade, ACCT, coid)
        assert (o["status"], o["stop_price"]) == ("SUBMITTED", stop), price  # rises with the price, never falls
    manual.set_price("NVDA", "107.50")  # through the stop: a market order at the bid
    manual.match_now()
    o = detail(trade, ACCT, coid)
    assert (o["status"], o["filled_quantity"], o["filled_price"], o["stop_price"]) == (
        "FILLED", "10", "107.4900", "108.00")
    assert events.next_event(client_order_id=coid, scene_type="FINAL_FILLED")["filled_qty"] == "10"
    assert position(trade, ACCT, "NVDA") is None


def test_trailing_buy_by_percent_follows_a_falling_price(manual, trade):
    manual.set_price("AMZN", "200.00")
    coid = place_order(trade, trailing_order("AMZN", "BUY", 4, "PERCENTAGE", "0.05"))
    assert detail(trade, ACCT, coid)["stop_price"] == "210.00"
    manual.set_price("AMZN", "180.00")
    manual.set_price("AMZN", "185.00")  # the low (180) is kept between ticks too
    manual.match_now()
    o = detail(trade, ACCT, coid)
    assert (o["status"], o["stop_price"], o["trailing_stop_step"]) == ("SUBMITTED", "189.00", "0.05")
    manual.set_price("AMZN", "189.00")
    manual.match_now()
    o = detail(trade, ACCT, coid)
    assert (o["status"], o["filled_price"]) == ("FILLED", "189.0100")


def test_replace_a_trailing_step(manual, trade, events):
    manual.set_price("META", "500.00")
    buy_now(manual, trade, "META", 2)
    coid = place_order(trade, trailing_order("META", "SELL", 2, "AMOUNT", "5.00"))
    manual.set_price("META", "520.00")
    manual.match_now()
    assert detail(trade, ACCT, coid)["stop_price"] == "515.00"
    trade.order_v3.replace_order(ACCT, [{"client_order_id": coid, "trailing_stop_step": "1.50"}])
    o = detail(trade, ACCT, coid)
    assert (o["stop_price"], o["trailing_stop_step"]) == ("518.50", "1.50")  # from the same high, 520
    assert events.next_event(client_order_id=coid)["scene_type"] == "MODIFY_SUCCESS"
    trade.order_v3.replace_order(ACCT, [{"client_order_id": coid, "trailing_type": "PERCENTAGE",
                                         "trailing_stop_step": "0.1"}])
    o = detail(trade, ACCT, coid)
    assert (o["stop_price"], o["trailing_type"], o["trailing_stop_step"]) == ("468.00", "PERCENTAGE", "0.1")
    for mod, code in (({"trailing_type": "AMOUNT"}, "INVALID_PARAMETER"),  # a new type needs its step
                      ({"trailing_stop_step": "1"}, "INVALID_TRAILING_STOP_STEP"),  # 100 %
                      ({"stop_price": "400.00"}, "INVALID_PARAMETER"),
                      ({"order_type": "STOP_LOSS"}, "FIELD_NOT_MODIFIABLE")):
        exc = server_error(lambda: trade.order_v3.replace_order(ACCT, [{"client_order_id": coid, **mod}]))
        assert exc.get_error_code() == code, mod
    assert detail(trade, ACCT, coid)["stop_price"] == "468.00"


@pytest.mark.parametrize("fields,code", [
    ({"trailing_type": None}, "INVALID_PARAMETER"),
    ({"trailing_stop_step": None}, "INVALID_PARAMETER"),
    ({"trailing_type": "POINTS"}, "INVALID_TRAILING_TYPE"),
    ({"trailing_stop_step": "0"}, "INVALID_TRAILING_STOP_STEP"),
    ({"trailing_stop_step": "-1.00"}, "INVALID_TRAILING_STOP_STEP"),
    ({"trailing_stop_step": "1.005"}, "INVALID_TRAILING_STOP_STEP"),  # AMOUNT: off the cent grid
    ({"trailing_stop_step": "NaN"}, "INVALID_TRAILING_STOP_STEP"),
    ({"trailing_stop_step": "1e999999999"}, "INVALID_TRAILING_STOP_STEP"),
    ({"trailing_stop_step": "190.00"}, "INVALID_TRAILING_STOP_STEP"),  # the SELL stop would be at zero
    ({"trailing_type": "PERCENTAGE", "trailing_stop_step": "1"}, "INVALID_TRAILING_STOP_STEP"),
    ({"trailing_type": "PERCENTAGE", "trailing_stop_step": "1.5"}, "INVALID_TRAILING_STOP_STEP"),
    ({"trailing_type": "PERCENTAGE", "trailing_stop_step": "Infinity"}, "INVALID_TRAILING_STOP_STEP"),
    ({"trailing_stop_step": ["1"]}, "INVALID_PARAMETER"),
    ({"limit_price": "180.00"}, "INVALID_PARAMETER"),
    ({"stop_price": "180.00"}, "INVALID_PARAMETER"),
])
def test_bad_trailing_fields_are_refused_with_a_code(manual, trade, fields, code):
    manual.set_price("AAPL", "190.00")
    buy_now(manual, trade, "AAPL", 1)
    order = trailing_order("AAPL", "SELL", 1, "AMOUNT", "1.00")
    for key, value in fields.items():
        if value is None:
            del order[key]
        else:
            order[key] = value
    exc = server_error(lambda: trade.order_v3.place_order(ACCT, [order]))
    assert (exc.get_http_status(), exc.get_error_code()) == (400, code)
    assert server_error(lambda: detail(trade, ACCT, order["client_order_id"])).get_error_code() == "ORDER_NOT_FOUND"


def test_trailing_fields_on_another_order_type_are_refused(manual, trade):
    order = new_order("AAPL", "BUY", 1, "LIMIT", limit="150.00")
    order.update(trailing_type="AMOUNT", trailing_stop_step="1.00")
    exc = server_error(lambda: trade.order_v3.place_order(ACCT, [order]))
    assert (exc.get_http_status(), exc.get_error_code()) == (400, "INVALID_PARAMETER")


def test_a_trailing_buy_holds_buying_power_at_its_stop(manual, trade):
    manual.set_price("MSFT", "400.00")
    power = Decimal(trade.account_v2.get_account_balance(ACCT).json()["account_currency_assets"][0]["buying_power"])
    qty = int(power / Decimal("440.00")) + 1  # fits at the ask, not at the 10 % stop
    exc = server_error(lambda: trade.order_v3.place_order(
        ACCT, [trailing_order("MSFT", "BUY", qty, "PERCENTAGE", "0.1")]))
    assert exc.get_error_code() == "INSUFFICIENT_BUYING_POWER"


# -- the gateway's wrapper --------------------------------------------------------------------

def test_replace_through_the_gateway_webull_api(manual, tmp_path):
    conn = WebullConnection(app_key=manual.app_key, app_secret=manual.app_secret, account_id=ACCT,
                            host="127.0.0.1", port=manual.http_port, grpc_host="127.0.0.1",
                            grpc_port=manual.grpc_port, tls=False)
    api = WebullApi(conn, str(tmp_path / "tokens"))
    assert api.connect() == ACCT
    manual.set_price("JPM", "200.00")
    coid = new_order("JPM", "BUY", 20, "LIMIT", limit="190.00")["client_order_id"]
    placed = api.place(new_order("JPM", "BUY", 20, "LIMIT", limit="190.00", coid=coid))
    answer = api.replace({"client_order_id": coid, "quantity": "30", "limit_price": "195.00"})
    assert answer == {"client_order_id": coid, "order_id": placed["order_id"]}
    order = api.detail(coid)["orders"][0]
    assert (order["quantity"], order["limit_price"]) == ("30", "195.00")
    with pytest.raises(WebullError) as err:
        api.replace({"client_order_id": coid, "side": "SELL", "quantity": "30"})
    assert (err.value.http_status, err.value.code, err.value.retryable) == (400, "FIELD_NOT_MODIFIABLE", False)
    manual.set_price("JPM", "194.00")
    manual.match_now()
    assert api.detail(coid)["orders"][0]["filled_quantity"] == "30"


# -- the arithmetic, pure -----------------------------------------------------------------------

cents = st.integers(1, 10_000_000)
trails = st.one_of(
    st.builds(Trail, st.just("AMOUNT"), st.integers(1, 100_000).map(lambda c: Decimal(c) / 100)),
    st.builds(Trail, st.just("PERCENTAGE"), st.integers(1, 9999).map(lambda bp: Decimal(bp) / 10000)))


@settings(max_examples=300, deadline=None)
@given(trails, st.sampled_from(["BUY", "SELL", "SHORT"]), cents, st.lists(cents, max_size=30))
def test_the_stop_only_ever_moves_in_the_orders_favour_and_keeps_its_distance(trail, side, start, prices):
    reference, stop = start, trailing.stop_for(trail, start, side)
    for i, last in enumerate(prices):
        reference = trailing.follow(reference, last, side)
        new = trailing.stop_for(trail, reference, side)
        assert (new >= stop) if trailing.sells(side) else (new <= stop)
        stop = new
        # At least the step away from the best price, and less than a cent more (grid rounding).
        gap = Decimal(abs(reference - stop))
        want = trail.step * 100 if trail.kind == "AMOUNT" else reference * trail.step
        assert want <= gap < want + 1
        if trailing.sells(side):
            assert reference == max([start, *prices[:i + 1]])
        else:
            assert reference == min([start, *prices[:i + 1]])


@given(trails, cents)
def test_reached_is_a_touch_of_the_stop(trail, stop):
    assert trailing.reached(stop, stop, "SELL") and trailing.reached(stop, stop, "BUY")
    assert trailing.reached(stop, stop - 1, "SELL") and not trailing.reached(stop, stop + 1, "SELL")
    assert trailing.reached(stop, stop + 1, "BUY") and not trailing.reached(stop, stop - 1, "BUY")


# -- the session clock ------------------------------------------------------------------------

def test_session_close_expires_day_orders_and_stops_trading_until_the_open(manual, trade, data, events):
    manual.set_price("QQQ", "480.00")
    day = place(trade, ACCT, "QQQ", "BUY", 2, "LIMIT", limit="470.00", tif="DAY")
    gtc = place(trade, ACCT, "QQQ", "BUY", 2, "LIMIT", limit="470.00", tif="GTC")
    assert admin(manual.http_port, "GET", "state", {})[1]["session"] == "open"  # open from the start
    assert admin(manual.http_port, "POST", "session", {"action": "close"}) == (200, {"session": "closed", "expired": 1})
    ev = events.next_event(client_order_id=day)
    assert (ev["scene_type"], ev["order_status"]) == ("CANCEL_SUCCESS", "CANCELLED")
    assert detail(trade, ACCT, gtc)["status"] == "SUBMITTED"

    # Closed: orders are taken and may be modified, but nothing trades and no price moves.
    market = place(trade, ACCT, "QQQ", "BUY", 1)
    trade.order_v3.replace_order(ACCT, [{"client_order_id": gtc, "limit_price": "481.00"}])
    manual.match_now(move_prices=True)
    assert data.market_data.get_snapshot(["QQQ"], "US_STOCK").json()[0]["price"] == "480.00"
    assert [detail(trade, ACCT, c)["status"] for c in (gtc, market)] == ["SUBMITTED", "SUBMITTED"]
    assert admin(manual.http_port, "GET", "state", {})[1]["session"] == "closed"

    assert admin(manual.http_port, "POST", "session", {"action": "open"}) == (200, {"session": "open"})
    manual.match_now()
    assert [detail(trade, ACCT, c)["status"] for c in (gtc, market)] == ["FILLED", "FILLED"]
    assert admin(manual.http_port, "POST", "session", {"action": "nap"})[0] == 400


def test_trails_do_not_follow_while_the_session_is_closed(manual, trade):
    manual.set_price("GOOGL", "165.00")
    buy_now(manual, trade, "GOOGL", 3)
    coid = place_order(trade, trailing_order("GOOGL", "SELL", 3, "AMOUNT", "1.00", tif="GTC"))
    manual.close_session()
    manual.set_price("GOOGL", "170.00")  # where the next session opens
    assert detail(trade, ACCT, coid)["stop_price"] == "164.00"
    manual.open_session()
    manual.match_now()
    assert detail(trade, ACCT, coid)["stop_price"] == "169.00"
