"""One-cancels-the-other (OCO) groups in the Webull simulator, through the official SDK: a bracket's
two exits (a take-profit LIMIT SELL and a stop-loss STOP_LOSS SELL, each for the whole long) placed
in one ``place_order`` call with ``combo_type: "OCO"``.

Matching is paused and run on demand (``match_now``) so every step is deterministic.
"""

from __future__ import annotations

import signal
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import admin, detail, new_order, place, position, server_error, wait_until
from janus_webull_sim import oco, state
from janus_webull_sim.config import AccountConfig, SimConfig
from janus_webull_sim.engine import Engine
from janus_webull_sim.errors import SimError
from janus_webull_sim.orders import MAX_QUANTITY
from test_sim_state import KEY, SECRET, _sim, _trade

ACCT = "SIMWB0001"


def oco_pair(qty: int = 10, *, limit: str = "105.00", stop: str = "95.00", symbol: str = "AAPL",
             tif: str = "GTC") -> list[dict]:
    """A take-profit and a stop-loss for a long of ``qty``: the gateway's bracket exits."""
    take = new_order(symbol, "SELL", qty, "LIMIT", limit=limit, tif=tif)
    loss = new_order(symbol, "SELL", qty, "STOP_LOSS", stop=stop, tif=tif)
    for entry in (take, loss):
        entry["combo_type"] = "OCO"
    return [take, loss]


def place_group(trade, entries: list[dict], **kw) -> dict:
    res = trade.order_v3.place_order(ACCT, entries, **kw)
    assert res.status_code == 200, res.text
    return res.json()


def available(trade, symbol: str = "AAPL") -> str | None:
    row = position(trade, ACCT, symbol)
    return row["available_quantity"] if row else None


def absent(trade, coid: str) -> bool:
    exc = server_error(lambda: trade.order_v3.get_order_detail(ACCT, coid))
    return (exc.get_http_status(), exc.get_error_code()) == (404, "ORDER_NOT_FOUND")


@pytest.fixture
def manual(sim):
    sim.pause_matching()
    sim.set_price("AAPL", "100.00")
    return sim


@pytest.fixture
def long10(manual, trade):
    place(trade, ACCT, "AAPL", "BUY", 10)
    manual.match_now()
    assert (position(trade, ACCT, "AAPL")["quantity"], available(trade)) == ("10", "10")
    return manual


# -- placing ------------------------------------------------------------------------------------

def test_an_oco_pair_for_the_whole_long_is_accepted_in_one_call(long10, trade):
    take, loss = oco_pair()
    body = place_group(trade, [take, loss])
    assert (body["client_order_id"], body["combo_type"]) == (take["client_order_id"], "OCO")
    assert [m["client_order_id"] for m in body["orders"]] == [take["client_order_id"], loss["client_order_id"]]
    assert body["order_id"] == body["orders"][0]["order_id"] != body["orders"][1]["order_id"]
    assert body["combo_order_id"] == body["order_id"] and body["client_combo_order_id"] == ""
    for entry, member in zip((take, loss), body["orders"]):
        group = trade.order_v3.get_order_detail(ACCT, entry["client_order_id"]).json()
        assert (group["combo_type"], group["combo_order_id"]) == ("OCO", body["combo_order_id"])
        o = group["orders"][0]
        assert (o["status"], o["combo_type"], o["order_id"], o["quantity"]) == ("SUBMITTED", "OCO", member["order_id"], "10")
    assert available(trade) == "0"  # promised once, not twice
    listed = trade.order_v3.list_order_open(ACCT).json()["orders"]
    assert sorted(g["client_order_id"] for g in listed if g["combo_type"] == "OCO") == sorted(
        [take["client_order_id"], loss["client_order_id"]])


def test_the_same_pair_as_two_normal_orders_is_refused_the_second_sell(long10, trade, events):
    take, loss = oco_pair()
    for entry in (take, loss):
        entry["combo_type"] = "NORMAL"
    place_group(trade, [take])
    exc = server_error(lambda: trade.order_v3.place_order(ACCT, [loss]))
    assert (exc.get_http_status(), exc.get_error_code()) == (400, "SELL_QUANTITY_EXCEEDS_POSITION")
    assert events.next_event(client_order_id=loss["client_order_id"])["scene_type"] == "PLACE_FAILED"


def test_a_client_combo_order_id_is_kept_and_unique(long10, trade):
    body = place_group(trade, oco_pair(5), client_combo_order_id="bracket1")
    assert body["client_combo_order_id"] == "bracket1"
    group = trade.order_v3.get_order_detail(ACCT, body["orders"][1]["client_order_id"]).json()
    assert group["client_combo_order_id"] == "bracket1"
    exc = server_error(lambda: trade.order_v3.place_order(ACCT, oco_pair(5), client_combo_order_id="bracket1"))
    assert exc.get_error_code() == "DUPLICATE_CLIENT_COMBO_ORDER_ID"
    exc = server_error(lambda: trade.order_v3.place_order(ACCT, oco_pair(5), client_combo_order_id="no-dash"))
    assert exc.get_error_code() == "INVALID_PARAMETER"


def _edit(index: int, **fields):
    def make() -> list[dict]:
        entries = oco_pair()
        entries[index].update(fields)
        return entries
    return make


@pytest.mark.parametrize("make,code", [
    (_edit(1, side="BUY"), "INVALID_COMBO_ORDER"),
    (_edit(1, symbol="MSFT"), "INVALID_COMBO_ORDER"),
    (_edit(1, quantity="9"), "INVALID_COMBO_ORDER"),
    (_edit(1, time_in_force="DAY"), "INVALID_COMBO_ORDER"),
    (_edit(1, order_type="MARKET", stop_price=None), "INVALID_COMBO_ORDER"),
    (_edit(1, combo_type="NORMAL"), "INVALID_COMBO_ORDER"),  # mixed combo types
    (_edit(0, combo_type="OTO"), "UNSUPPORTED_COMBO_TYPE"),
    (lambda: oco_pair()[:1], "INVALID_COMBO_ORDER"),  # an OCO of one
    (lambda: [*oco_pair(), oco_pair()[0]], "INVALID_COMBO_ORDER"),  # more than a pair
    (lambda: [oco_pair()[0]] * 2, "DUPLICATE_CLIENT_ORDER_ID"),
    (_edit(1, stop_price="95.001"), "INVALID_PRICE"),  # one member's own rules
    (_edit(0, quantity="NaN"), "INVALID_QUANTITY"),
], ids=["side", "symbol", "quantity", "tif", "market-member", "mixed", "oto", "one", "three", "same-coid",
        "bad-price", "bad-qty"])
def test_a_malformed_group_is_refused_whole(long10, trade, make, code):
    entries = make()
    exc = server_error(lambda: trade.order_v3.place_order(ACCT, entries))
    assert (exc.get_http_status(), exc.get_error_code()) == (400, code)
    assert all(absent(trade, e["client_order_id"]) for e in entries)  # nothing of it was placed
    assert available(trade) == "10"


def test_a_group_refused_by_the_account_rules_fails_every_member(long10, trade, events):
    place(trade, ACCT, "AAPL", "SELL", 4, "LIMIT", limit="120.00")  # 6 of the 10 left
    entries = oco_pair(7)
    exc = server_error(lambda: trade.order_v3.place_order(ACCT, entries))
    assert exc.get_error_code() == "SELL_QUANTITY_EXCEEDS_POSITION"
    for entry in entries:
        assert detail(trade, ACCT, entry["client_order_id"])["status"] == "FAILED"
        ev = events.next_event(client_order_id=entry["client_order_id"])
        assert (ev["scene_type"], ev["order_status"]) == ("PLACE_FAILED", "FAILED")
    assert available(trade) == "6"
    place_group(trade, oco_pair(6))
    assert available(trade) == "0"


def test_a_buy_group_promises_the_buying_power_once(manual, trade):
    manual.set_price("MSFT", "400.00")
    power = Decimal(trade.account_v2.get_account_balance(ACCT).json()["account_currency_assets"][0]["buying_power"])
    qty = int(power * Decimal("0.6") / 410)  # each member fits alone, the two together would not
    entries = [new_order("MSFT", "BUY", qty, "LIMIT", limit="390.00"),
               new_order("MSFT", "BUY", qty, "STOP_LOSS", stop="410.00")]
    for entry in entries:
        entry["combo_type"] = "OCO"
    place_group(trade, entries)
    after = Decimal(trade.account_v2.get_account_balance(ACCT).json()["account_currency_assets"][0]["buying_power"])
    assert after == power - qty * 410  # the larger member's commitment only


# -- one fill cancels the others ----------------------------------------------------------------

def test_the_price_through_the_limit_fills_it_and_cancels_the_stop(long10, trade, events):
    take, loss = oco_pair()
    place_group(trade, [take, loss])
    long10.set_price("AAPL", "106.00")  # bid 105.99 >= 105.00
    long10.match_now()
    ev = events.next_event(client_order_id=take["client_order_id"])
    assert (ev["scene_type"], ev["order_status"], ev["filled_qty"]) == ("FINAL_FILLED", "FILLED", "10")
    ev = events.next_event(client_order_id=loss["client_order_id"])
    assert (ev["scene_type"], ev["order_status"]) == ("CANCEL_SUCCESS", "CANCELLED")
    assert detail(trade, ACCT, take["client_order_id"])["filled_price"] == "105.9900"
    assert detail(trade, ACCT, loss["client_order_id"])["status"] == "CANCELLED"
    assert position(trade, ACCT, "AAPL") is None
    long10.set_price("AAPL", "90.00")  # through the stop now: it stays cancelled, nothing is sold short
    long10.match_now()
    assert detail(trade, ACCT, loss["client_order_id"])["filled_quantity"] == "0"
    assert position(trade, ACCT, "AAPL") is None


def test_the_price_through_the_stop_fills_it_and_cancels_the_limit(long10, trade, events):
    take, loss = oco_pair()
    place_group(trade, [take, loss])
    long10.set_price("AAPL", "94.00")  # last <= 95.00: the stop triggers and sells at the bid
    long10.match_now()
    ev = events.next_event(client_order_id=loss["client_order_id"])
    assert (ev["scene_type"], ev["order_status"], ev["filled_price"]) == ("FINAL_FILLED", "FILLED", "93.9900")
    ev = events.next_event(client_order_id=take["client_order_id"])
    assert (ev["scene_type"], ev["order_status"]) == ("CANCEL_SUCCESS", "CANCELLED")
    assert detail(trade, ACCT, take["client_order_id"])["status"] == "CANCELLED"
    assert position(trade, ACCT, "AAPL") is None


@pytest.mark.parametrize("stop_first", [False, True])
def test_a_gap_that_makes_both_marketable_fills_exactly_one(long10, trade, events, stop_first):
    # A take-profit under the stop: one price (98.50) has the limit marketable (bid 98.49 >= 98.00)
    # and the stop reached (98.50 <= 99.00). The first member in matching order wins.
    take, loss = oco_pair(limit="98.00", stop="99.00")
    entries = [loss, take] if stop_first else [take, loss]
    place_group(trade, entries)
    long10.set_price("AAPL", "98.50")
    long10.match_now()
    long10.match_now()  # and later passes change nothing
    winner, loser = entries
    assert detail(trade, ACCT, winner["client_order_id"])["status"] == "FILLED"
    assert detail(trade, ACCT, loser["client_order_id"])["status"] == "CANCELLED"
    assert detail(trade, ACCT, loser["client_order_id"])["filled_quantity"] == "0"
    assert events.next_event(client_order_id=loser["client_order_id"])["scene_type"] == "CANCEL_SUCCESS"
    assert position(trade, ACCT, "AAPL") is None  # 10 sold, not 20: no short from a double fill


def test_a_partial_fill_cancels_the_other_and_the_filled_member_finishes(manual, trade, events):
    place(trade, ACCT, "AAPL", "BUY", 250)
    for _ in range(3):
        manual.match_now()  # 100 a pass (fill_chunk)
    take, loss = oco_pair(250)
    place_group(trade, [take, loss])
    manual.set_price("AAPL", "106.00")
    manual.match_now()
    ev = events.next_event(client_order_id=take["client_order_id"])
    assert (ev["scene_type"], ev["order_status"], ev["filled_qty"]) == ("FILLED", "PARTIAL_FILLED", "100")
    assert events.next_event(client_order_id=loss["client_order_id"])["scene_type"] == "CANCEL_SUCCESS"
    manual.match_now()
    manual.match_now()
    assert detail(trade, ACCT, take["client_order_id"])["status"] == "FILLED"
    assert detail(trade, ACCT, loss["client_order_id"])["filled_quantity"] == "0"
    assert position(trade, ACCT, "AAPL") is None


def test_cancelling_one_member_leaves_the_other_working(long10, trade, events):
    take, loss = oco_pair()
    place_group(trade, [take, loss])
    trade.order_v3.cancel_order(ACCT, loss["client_order_id"])
    assert events.next_event(client_order_id=loss["client_order_id"])["scene_type"] == "CANCEL_SUCCESS"
    assert detail(trade, ACCT, take["client_order_id"])["status"] == "SUBMITTED"
    assert available(trade) == "0"  # the take-profit still holds the long
    long10.set_price("AAPL", "106.00")
    long10.match_now()
    assert detail(trade, ACCT, take["client_order_id"])["status"] == "FILLED"


def test_day_members_expire_together_at_the_close(long10, trade):
    take, loss = oco_pair(tif="DAY")
    place_group(trade, [take, loss])
    assert long10.close_session() == 2
    assert {detail(trade, ACCT, e["client_order_id"])["status"] for e in (take, loss)} == {"CANCELLED"}
    assert available(trade) == "10"


# -- replace ------------------------------------------------------------------------------------

def test_an_oco_member_moves_its_price_but_not_its_quantity(long10, trade, events):
    take, loss = oco_pair()
    place_group(trade, [take, loss])
    trade.order_v3.replace_order(ACCT, [{"client_order_id": take["client_order_id"], "limit_price": "107.00"}])
    trade.order_v3.replace_order(ACCT, [{"client_order_id": loss["client_order_id"], "stop_price": "96.00",
                                         "quantity": "10", "combo_type": "OCO"}])  # its own values may be sent
    assert events.next_event(client_order_id=take["client_order_id"])["scene_type"] == "MODIFY_SUCCESS"
    assert events.next_event(client_order_id=loss["client_order_id"])["scene_type"] == "MODIFY_SUCCESS"
    assert detail(trade, ACCT, take["client_order_id"])["limit_price"] == "107.00"
    assert detail(trade, ACCT, loss["client_order_id"])["stop_price"] == "96.00"
    for mod in ({"quantity": "5"}, {"time_in_force": "DAY"}, {"quantity": "5", "limit_price": "108.00"}):
        exc = server_error(lambda: trade.order_v3.replace_order(
            ACCT, [{"client_order_id": take["client_order_id"], **mod}]))
        assert (exc.get_http_status(), exc.get_error_code()) == (400, "OCO_FIELD_NOT_MODIFIABLE")
        assert events.next_event(client_order_id=take["client_order_id"])["scene_type"] == "MODIFY_FAILED"
    o = detail(trade, ACCT, take["client_order_id"])
    assert (o["quantity"], o["limit_price"], o["time_in_force"]) == ("10", "107.00", "GTC")
    long10.set_price("AAPL", "95.50")  # through the moved stop
    long10.match_now()
    assert detail(trade, ACCT, loss["client_order_id"])["status"] == "FILLED"
    assert detail(trade, ACCT, take["client_order_id"])["status"] == "CANCELLED"


# -- the engine: state and fuzz -----------------------------------------------------------------

def _engine(fill_chunk: int = 100) -> Engine:
    config = SimConfig(accounts=(AccountConfig(ACCT, "5MV00001", cash="100000.00"),), fill_chunk=fill_chunk,
                       volatility_ticks=0.0)
    return Engine(config, 3, lambda: 1_700_000_000.0)


def _long(engine: Engine, qty: int) -> None:
    engine.set_price("AAPL", "100.00")
    engine.place(ACCT, [new_order("AAPL", "BUY", qty)])
    while engine.positions(ACCT) == [] or engine.positions(ACCT)[0]["quantity"] != str(qty):
        engine.tick(move_prices=False)


def test_a_restored_engine_keeps_the_group():
    original = _engine()
    _long(original, 10)
    take, loss = oco_pair()
    original.place(ACCT, [take, loss])
    restored = _engine()
    state.restore(restored, state.snapshot(original))
    members = [restored.orders[(ACCT, e["client_order_id"])] for e in (take, loss)]
    assert {m.combo_order_id for m in members} == {original.orders[(ACCT, take["client_order_id"])].order_id}
    assert restored.sell_reserved(ACCT, "AAPL") == 10
    restored.set_price("AAPL", "94.00")
    restored.tick(move_prices=False)
    assert [m.status for m in members] == ["CANCELLED", "FILLED"]


def test_a_saved_member_without_its_group_is_unreadable():
    engine = _engine()
    _long(engine, 10)
    engine.place(ACCT, oco_pair())
    data = state.snapshot(engine)
    with pytest.raises(state.StateUnreadable):
        state.decode(data.replace(b'"combo_order_id":"SIMO', b'"combo_order_id":null,"x":"'))


def test_process_keeps_the_group_across_a_restart(tmp_path):
    path = tmp_path / "wb.state"
    take, loss = oco_pair()
    with _sim(tmp_path, path) as first:
        port = first.wait_for("listening")["http_port"]
        trade = _trade(port)
        assert admin(port, "POST", "price", {"symbol": "AAPL", "price": "100.00"})[0] == 200
        bought = place(trade, ACCT, "AAPL", "BUY", 10)
        wait_until(lambda: detail(trade, ACCT, bought)["status"] == "FILLED")
        group = place_group(trade, [take, loss])
        assert first.stop() == 0

    with _sim(tmp_path, path) as second:
        port = second.wait_for("listening")["http_port"]
        trade = _trade(port)
        for entry in (take, loss):
            saved = trade.order_v3.get_order_detail(ACCT, entry["client_order_id"]).json()
            assert (saved["combo_type"], saved["combo_order_id"]) == ("OCO", group["combo_order_id"])
            assert saved["orders"][0]["status"] == "SUBMITTED"
        assert available(trade) == "0"
        assert admin(port, "POST", "price", {"symbol": "AAPL", "price": "106.00"})[0] == 200
        wait_until(lambda: detail(trade, ACCT, loss["client_order_id"])["status"] == "CANCELLED")
        assert detail(trade, ACCT, take["client_order_id"])["status"] == "FILLED"
        assert second.stop(signal.SIGINT) == 0


FIELDS = ("combo_type", "client_order_id", "symbol", "side", "order_type", "quantity", "limit_price",
          "stop_price", "time_in_force", "trailing_type", "trailing_stop_step")
NASTY = st.sampled_from(["", "0", "-1", "NaN", "1e999999999", "OCO", "NORMAL", "OTO", "SELL", "BUY", "SHORT",
                         "LIMIT", "STOP_LOSS", "MARKET", "TRAILING_STOP_LOSS", "AMOUNT", "1.00", "10", "9",
                         "95.00", "105.00", "DAY", "GTC", "AAPL", "MSFT"]) | st.none() | st.integers() | st.floats()


@settings(max_examples=400, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(FIELDS), NASTY, max_size=3), min_size=0, max_size=3),
       st.none() | st.sampled_from(["", "grp1", "bad id", 7]))
def test_any_group_request_is_a_webull_error_or_a_group_never_a_crash(edits, combo_id):
    engine = _engine()
    _long(engine, 10)
    entries = oco_pair()[:len(edits)] + oco_pair()[:max(0, len(edits) - 2)]
    for entry, edit in zip(entries, edits):
        entry.update(edit)
    try:
        engine.place(ACCT, entries, combo_id)
    except SimError as exc:
        assert exc.status in (400, 404) and exc.error_code and exc.message
    for price in (10000, 10600, 9400, 10000):
        engine.paths["AAPL"].set(price)
        engine.tick(move_prices=False)  # nothing stored can poison matching
    assert engine.accounts[ACCT].quantity("AAPL") >= 0  # a SELL never sells more than the long
    for order in engine.orders.values():
        assert 1 <= order.quantity <= MAX_QUANTITY
        assert (order.combo_type == oco.OCO) == (order.combo_order_id is not None)


prices = st.lists(st.integers(9000, 11000), min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 250), st.integers(9500, 10500), st.integers(9500, 10500), st.booleans(), prices)
def test_a_group_never_fills_twice(qty, limit, stop, stop_first, path):
    """Whatever the prices do, at most one member trades, and the long is never oversold."""
    engine = _engine(fill_chunk=100)
    _long(engine, qty)
    take, loss = oco_pair(qty, limit=f"{limit / 100:.2f}", stop=f"{stop / 100:.2f}")
    entries = [loss, take] if stop_first else [take, loss]
    engine.place(ACCT, entries)
    members = [engine.orders[(ACCT, e["client_order_id"])] for e in entries]
    for cents in path:
        engine.paths["AAPL"].set(cents)
        engine.tick(move_prices=False)
        traded = [m for m in members if m.filled_quantity]
        assert len(traded) <= 1
        if traded:
            assert all(m.status == "CANCELLED" for m in members if m is not traded[0])
        assert engine.accounts[ACCT].quantity("AAPL") == qty - sum(m.filled_quantity for m in members) >= 0
