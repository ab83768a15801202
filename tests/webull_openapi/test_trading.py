"""Orders, rules, fills and the account views, all through the official SDK.

Matching is paused and run on demand (``sim.match_now()``), so each step is deterministic.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from helpers import detail, new_order, place, position, server_error

ACCT = "SIMWB0001"


@pytest.fixture
def manual(sim):
    sim.pause_matching()
    return sim


def test_accounts_instruments_snapshots(sim, trade, data):
    accounts = trade.account_v2.get_account_list().json()
    assert [a["account_id"] for a in accounts] == [ACCT]
    rows = data.instrument.list_instruments(["AAPL", "BRK.B", "NOPE"], "US_STOCK").json()
    assert [r["symbol"] for r in rows] == ["AAPL", "BRK.B"]
    assert {"instrument_id", "name", "exchange_code", "currency"} <= set(rows[0])
    snaps = data.market_data.get_snapshot(["AAPL", "MSFT", "SPY", "TSLA"], "US_STOCK").json()
    assert [s["symbol"] for s in snaps] == ["AAPL", "MSFT", "SPY", "TSLA"]
    for s in snaps:
        bid, price, ask = (Decimal(s[k]) for k in ("bid", "price", "ask"))
        assert bid < price < ask
        for v in (bid, price, ask):
            assert v == v.quantize(Decimal("0.01"))


def test_market_buy_then_sell_updates_positions_and_balance(manual, trade):
    before = Decimal(trade.account_v2.get_account_balance(ACCT).json()["total_cash_balance"])
    manual.set_price("AAPL", "190.00")
    coid = place(trade, ACCT, "AAPL", "BUY", 50)
    assert detail(trade, ACCT, coid)["status"] == "SUBMITTED"
    manual.match_now()
    o = detail(trade, ACCT, coid)
    assert (o["status"], o["filled_quantity"], Decimal(o["filled_price"])) == ("FILLED", "50", Decimal("190.01"))
    pos = position(trade, ACCT, "AAPL")
    assert (pos["quantity"], Decimal(pos["cost_price"])) == ("50", Decimal("190.01"))
    bal = trade.account_v2.get_account_balance(ACCT).json()
    assert Decimal(bal["total_cash_balance"]) == before - 50 * Decimal("190.01")
    assert Decimal(bal["total_market_value"]) == 50 * Decimal("190.00")

    sell = place(trade, ACCT, "AAPL", "SELL", 50)
    manual.match_now()
    assert detail(trade, ACCT, sell)["status"] == "FILLED"
    assert position(trade, ACCT, "AAPL") is None
    after = Decimal(trade.account_v2.get_account_balance(ACCT).json()["total_cash_balance"])
    assert after == before - 50 * Decimal("0.02")  # paid the spread both ways


@pytest.mark.parametrize("side,limit,cross", [("BUY", "99.00", "98.50"), ("SELL", "101.00", "101.50")])
def test_limit_rests_until_marketable(manual, trade, side, limit, cross):
    manual.set_price("NVDA", "100.00")
    if side == "SELL":
        place(trade, ACCT, "NVDA", "BUY", 10)
        manual.match_now()
    coid = place(trade, ACCT, "NVDA", side, 10, "LIMIT", limit=limit)
    manual.match_now()
    assert detail(trade, ACCT, coid)["status"] == "SUBMITTED"
    manual.set_price("NVDA", cross)
    manual.match_now()
    o = detail(trade, ACCT, coid)
    assert o["status"] == "FILLED"
    touch = Decimal(cross) + (Decimal("0.01") if side == "BUY" else Decimal("-0.01"))
    assert Decimal(o["filled_price"]) == touch  # the touch, better than the limit
    assert Decimal(o["limit_price"]) == Decimal(limit)


def test_stop_loss_triggers_at_stop(manual, trade):
    manual.set_price("MSFT", "420.00")
    place(trade, ACCT, "MSFT", "BUY", 10)
    manual.match_now()
    coid = place(trade, ACCT, "MSFT", "SELL", 10, "STOP_LOSS", stop="410.00")
    manual.set_price("MSFT", "410.01")
    manual.match_now()
    assert detail(trade, ACCT, coid)["status"] == "SUBMITTED"
    manual.set_price("MSFT", "409.50")
    manual.match_now()
    o = detail(trade, ACCT, coid)
    assert o["status"] == "FILLED" and Decimal(o["filled_price"]) == Decimal("409.49")
    assert Decimal(o["stop_price"]) == Decimal("410.00")


def test_buy_stop_limit_triggers_then_respects_limit(manual, trade):
    manual.set_price("META", "500.00")
    coid = place(trade, ACCT, "META", "BUY", 5, "STOP_LOSS_LIMIT", stop="505.00", limit="506.00")
    manual.match_now()
    assert detail(trade, ACCT, coid)["status"] == "SUBMITTED"
    manual.set_price("META", "507.00")  # triggers, but the ask 507.01 is above the limit
    manual.match_now()
    assert detail(trade, ACCT, coid)["status"] == "SUBMITTED"
    manual.set_price("META", "505.50")
    manual.match_now()
    o = detail(trade, ACCT, coid)
    assert o["status"] == "FILLED" and Decimal(o["filled_price"]) == Decimal("505.51")


def test_short_and_cover(manual, trade):
    manual.set_price("AMZN", "185.00")
    short = place(trade, ACCT, "AMZN", "SHORT", 20)
    manual.match_now()
    assert detail(trade, ACCT, short)["status"] == "FILLED"
    assert position(trade, ACCT, "AMZN")["quantity"] == "-20"
    cover = place(trade, ACCT, "AMZN", "BUY", 20)
    manual.match_now()
    assert detail(trade, ACCT, cover)["status"] == "FILLED"
    assert position(trade, ACCT, "AMZN") is None


def test_sell_beyond_long_is_rejected(manual, trade):
    place(trade, ACCT, "SPY", "BUY", 10)
    manual.match_now()
    order = new_order("SPY", "SELL", 11)
    exc = server_error(lambda: trade.order_v3.place_order(ACCT, [order]))
    assert exc.get_http_status() == 400 and exc.get_error_code() == "SELL_QUANTITY_EXCEEDS_POSITION"
    assert detail(trade, ACCT, order["client_order_id"])["status"] == "FAILED"
    # An open SELL reserves the long: a second SELL cannot take the same shares.
    place(trade, ACCT, "SPY", "SELL", 6, "LIMIT", limit="9999.00")
    exc = server_error(lambda: trade.order_v3.place_order(ACCT, [new_order("SPY", "SELL", 5)]))
    assert exc.get_error_code() == "SELL_QUANTITY_EXCEEDS_POSITION"
    # Without any long, SELL is rejected too: a short must say SHORT.
    exc = server_error(lambda: trade.order_v3.place_order(ACCT, [new_order("QQQ", "SELL", 1)]))
    assert exc.get_error_code() == "SELL_QUANTITY_EXCEEDS_POSITION"


def test_short_rules(manual, trade):
    exc = server_error(lambda: trade.order_v3.place_order(ACCT, [new_order("TSLA", "SHORT", 5)]))
    assert exc.get_http_status() == 400 and exc.get_error_code() == "SYMBOL_NOT_SHORTABLE"
    place(trade, ACCT, "GOOGL", "BUY", 5)
    manual.match_now()
    exc = server_error(lambda: trade.order_v3.place_order(ACCT, [new_order("GOOGL", "SHORT", 5)]))
    assert exc.get_error_code() == "SHORT_WITH_LONG_POSITION"


def test_insufficient_buying_power(manual, trade):
    exc = server_error(lambda: trade.order_v3.place_order(ACCT, [new_order("SPY", "BUY", 100000)]))
    assert exc.get_error_code() == "INSUFFICIENT_BUYING_POWER"


def test_partial_fills(manual, trade):
    coid = place(trade, ACCT, "IBM", "BUY", 250)  # fill_chunk is 100 shares per tick
    manual.match_now()
    o = detail(trade, ACCT, coid)
    assert (o["status"], o["filled_quantity"]) == ("PARTIAL_FILLED", "100")
    assert position(trade, ACCT, "IBM")["quantity"] == "100"
    manual.match_now()
    manual.match_now()
    o = detail(trade, ACCT, coid)
    assert (o["status"], o["filled_quantity"], o["quantity"]) == ("FILLED", "250", "250")


def test_cancel(manual, trade):
    coid = place(trade, ACCT, "JPM", "BUY", 10, "LIMIT", limit="150.00", tif="GTC")
    res = trade.order_v3.cancel_order(ACCT, coid)
    assert res.status_code == 200 and res.json()["client_order_id"] == coid
    assert detail(trade, ACCT, coid)["status"] == "CANCELLED"
    exc = server_error(lambda: trade.order_v3.cancel_order(ACCT, coid))
    assert exc.get_error_code() == "ORDER_CANNOT_BE_CANCELLED"
    exc = server_error(lambda: trade.order_v3.cancel_order(ACCT, "nosuchorder"))
    assert (exc.get_http_status(), exc.get_error_code()) == (404, "ORDER_NOT_FOUND")


def test_partially_filled_order_can_be_cancelled(manual, trade):
    manual.set_price("AAPL", "190.00")
    coid = place(trade, ACCT, "AAPL", "BUY", 150, "LIMIT", limit="191.00")
    manual.match_now()
    trade.order_v3.cancel_order(ACCT, coid)
    o = detail(trade, ACCT, coid)
    assert (o["status"], o["filled_quantity"]) == ("CANCELLED", "100")
    assert position(trade, ACCT, "AAPL")["quantity"] == "100"


def test_replace(manual, trade):
    manual.set_price("AAPL", "190.00")
    coid = place(trade, ACCT, "AAPL", "BUY", 10, "LIMIT", limit="180.00")
    res = trade.order_v3.replace_order(ACCT, [{"client_order_id": coid, "quantity": "20", "limit_price": "185.00"}])
    assert res.status_code == 200
    o = detail(trade, ACCT, coid)
    assert (o["quantity"], Decimal(o["limit_price"]), o["status"]) == ("20", Decimal("185.00"), "SUBMITTED")
    trade.order_v3.replace_order(ACCT, [{"client_order_id": coid, "limit_price": "195.00"}])
    manual.match_now()
    o = detail(trade, ACCT, coid)
    assert (o["status"], o["filled_quantity"]) == ("FILLED", "20")
    exc = server_error(lambda: trade.order_v3.replace_order(ACCT, [{"client_order_id": coid, "quantity": "30"}]))
    assert exc.get_error_code() == "ORDER_CANNOT_BE_MODIFIED"


def test_open_orders_v2_and_v3_pagination(manual, trade):
    coids = [place(trade, ACCT, "QQQ", "BUY", 1, "LIMIT", limit="100.00") for _ in range(13)]
    filled = place(trade, ACCT, "QQQ", "BUY", 1)
    manual.match_now()

    # v2 (get_order_open): page_size + last_client_order_id; a list of order groups.
    seen, last = [], None
    while True:
        page = trade.order_v3.get_order_open(ACCT, page_size=5, last_client_order_id=last).json()
        if not page:
            break
        seen += [g["client_order_id"] for g in page]
        last = page[-1]["client_order_id"]
    assert seen == coids

    # v3 (list_order_open): pagination_key until it is no longer returned.
    seen, key = [], None
    while True:
        body = trade.order_v3.list_order_open(ACCT, pagination_key=key).json()
        seen += [g["client_order_id"] for g in body["orders"]]
        key = body.get("pagination_key")
        if not key:
            break
    assert seen == coids and filled not in seen
    assert all(g["orders"][0]["status"] == "SUBMITTED" for g in body["orders"])


def test_day_orders_expire_at_end_of_day_gtc_stay(manual, trade):
    day = place(trade, ACCT, "SPY", "BUY", 1, "LIMIT", limit="100.00", tif="DAY")
    gtc = place(trade, ACCT, "SPY", "BUY", 1, "LIMIT", limit="100.00", tif="GTC")
    assert manual.end_of_day() == 1
    assert detail(trade, ACCT, day)["status"] == "CANCELLED"
    assert detail(trade, ACCT, gtc)["status"] == "SUBMITTED"


def test_matching_runs_on_its_own_ticks(sim, trade):
    from helpers import wait_until
    coid = place(trade, ACCT, "NVDA", "BUY", 5)
    wait_until(lambda: detail(trade, ACCT, coid)["status"] == "FILLED")


@pytest.mark.parametrize("mutate,code", [
    (lambda o: o.update(quantity="abc"), "INVALID_PARAMETER"),
    (lambda o: o.update(quantity="1.5"), "INVALID_QUANTITY"),
    (lambda o: o.update(quantity=["1"]), "INVALID_PARAMETER"),
    (lambda o: o.update(order_type="LIMIT"), "INVALID_PARAMETER"),
    (lambda o: o.update(order_type="LIMIT", limit_price="10.001"), "INVALID_PRICE"),
    (lambda o: o.update(order_type="ENHANCED_LIMIT"), "UNSUPPORTED_ORDER_TYPE"),
    (lambda o: o.update(order_type="TRAILING_STOP_LOSS"), "INVALID_PARAMETER"),  # no trailing fields
    (lambda o: o.update(side="HOLD"), "INVALID_PARAMETER"),
    (lambda o: o.update(symbol="NOPE"), "INSTRUMENT_NOT_FOUND"),
    (lambda o: o.update(client_order_id="has-dash"), "INVALID_PARAMETER"),
    (lambda o: o.update(time_in_force="IOC"), "INVALID_PARAMETER"),
])
def test_malformed_orders_get_webull_errors(manual, trade, mutate, code):
    order = new_order("AAPL", "BUY", 1)
    mutate(order)
    exc = server_error(lambda: trade.order_v3.place_order(ACCT, [order]))
    assert (exc.get_http_status(), exc.get_error_code()) == (400, code)
    assert trade.account_v2.get_account_list().status_code == 200  # still serving


def test_unknown_account_and_duplicate_client_order_id(manual, trade):
    exc = server_error(lambda: trade.account_v2.get_account_balance("NOSUCH"))
    assert (exc.get_http_status(), exc.get_error_code()) == (404, "ACCOUNT_NOT_FOUND")
    exc = server_error(lambda: trade.order_v3.place_order("NOSUCH", [new_order("AAPL", "BUY", 1)]))
    assert exc.get_error_code() == "ACCOUNT_NOT_FOUND"
    coid = place(trade, ACCT, "AAPL", "BUY", 1)
    exc = server_error(lambda: trade.order_v3.place_order(ACCT, [new_order("AAPL", "BUY", 1, coid=coid)]))
    assert exc.get_error_code() == "DUPLICATE_CLIENT_ORDER_ID"
