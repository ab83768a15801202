"""Buying power and hostile field values in the Webull simulator: the engine against an
independent model (hypothesis), and the same through Webull's official SDK."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import detail, new_order, place, server_error
from janus_webull_sim.config import AccountConfig, SimConfig
from janus_webull_sim.engine import Engine
from janus_webull_sim.errors import SimError
from janus_webull_sim.orders import MAX_QUANTITY

ACCT = "SIMWB0001"
FIELDS = ("combo_type", "client_order_id", "symbol", "instrument_type", "market", "side", "order_type",
          "quantity", "limit_price", "stop_price", "time_in_force", "entrust_type", "support_trading_session")
NASTY = ["", "0", "-1", "1e308", "1e999999999", "-1e999999999", "1e-999999999", "NaN", "Infinity", "-inf",
         "0.001", "1" * 60, "1.5", "190.00", "BUY", "SHORT", "LIMIT", "MARKET", "STOP_LOSS", "GTC", "AAPL"]
JSON = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers(min_value=-(10**30), max_value=10**30)
    | st.sampled_from(NASTY) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6)


def _engine(cash: str = "100000.00") -> Engine:
    return Engine(SimConfig(accounts=(AccountConfig(ACCT, "5MV00001", cash=cash),)), 3, lambda: 1_700_000_000.0)


def _order(**kw) -> dict:
    base = new_order("AAPL", "BUY", 10, "LIMIT", limit="150.00")
    base.update(kw)
    return base


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=5), st.sampled_from([None, "drop"]))
def test_any_field_value_is_a_webull_error_or_an_order_never_a_crash(edits, mode):
    engine = _engine()
    entry = _order(**edits)
    try:
        engine.place(ACCT, [entry] if mode is None else [entry, entry])
    except SimError as exc:
        assert exc.status in (400, 404) and exc.error_code and exc.message
    engine.tick()  # nothing stored can poison matching
    for order in engine.orders.values():
        assert 1 <= order.quantity <= MAX_QUANTITY
        assert all(p is None or 0 < p <= 100_000_000 for p in (order.limit_cents, order.stop_cents))
    assert Decimal(engine.balance(ACCT)["account_currency_assets"][0]["buying_power"]) >= 0


orders = st.lists(st.tuples(st.sampled_from(["BUY", "SHORT"]), st.integers(1, 400), st.integers(1, 40000)),
                  min_size=1, max_size=25)


@settings(max_examples=300, deadline=None)
@given(orders)
def test_open_orders_never_promise_more_than_the_cash(entries):
    """Model: with nothing filling, an order is accepted iff what it may cost, at the worse of its
    limit and the ask, fits in the cash less what the accepted open orders may cost."""
    engine = _engine("100000.00")
    ask = engine.paths["MSFT"].quote().ask
    promised = 0
    for side, qty, cents in entries:
        cost = qty * max(cents, ask)
        entry = new_order("MSFT", side, qty, "LIMIT", limit=f"{Decimal(cents) / 100:.2f}")
        try:
            engine.place(ACCT, [entry])
            accepted = True
        except SimError as exc:
            assert exc.error_code == "INSUFFICIENT_BUYING_POWER", exc.body()
            figures = f"needs {Decimal(cost) / 100:.2f} USD; the buying power is {Decimal(10_000_000 - promised) / 100:.2f}"
            assert figures in exc.message, exc.message
            accepted = False
        assert accepted == (promised + cost <= 10_000_000), (side, qty, cents, promised)
        promised += cost if accepted else 0
        power = Decimal(engine.balance(ACCT)["account_currency_assets"][0]["buying_power"])
        assert power == (Decimal(10_000_000 - promised) / 100).quantize(Decimal("0.01"))


def test_buying_power_with_working_orders_and_replace_through_the_sdk(sim, trade):
    sim.pause_matching()
    sim.set_price("MSFT", "400.00")
    bal = trade.account_v2.get_account_balance(ACCT).json()["account_currency_assets"][0]
    power = Decimal(bal["buying_power"])
    qty = int(power * Decimal("0.6") / 400)  # each alone fits, both do not
    first = place(trade, ACCT, "MSFT", "BUY", qty, "LIMIT", limit="399.00")
    second = new_order("MSFT", "BUY", qty, "LIMIT", limit="399.00")
    exc = server_error(lambda: trade.order_v3.place_order(ACCT, [second]))
    assert (exc.get_http_status(), exc.get_error_code()) == (400, "INSUFFICIENT_BUYING_POWER")
    assert detail(trade, ACCT, second["client_order_id"])["status"] == "FAILED"
    after = trade.account_v2.get_account_balance(ACCT).json()["account_currency_assets"][0]
    assert Decimal(after["buying_power"]) < power - qty * 399  # the open order holds its share
    mod = {"client_order_id": first, "quantity": str(qty * 2)}  # raising it past the cash fails too
    exc = server_error(lambda: trade.order_v3.replace_order(ACCT, [mod]))
    assert exc.get_error_code() == "INSUFFICIENT_BUYING_POWER"
    assert detail(trade, ACCT, first)["quantity"] == str(qty)
    trade.order_v3.cancel_order(ACCT, first)
    third = place(trade, ACCT, "MSFT", "BUY", qty, "LIMIT", limit="399.00")  # fits once the first is gone
    assert detail(trade, ACCT, third)["status"] == "SUBMITTED"


@pytest.mark.parametrize("field,value,code", [
    ("quantity", "1e999999999", "INVALID_QUANTITY"), ("quantity", "-5", "INVALID_QUANTITY"),
    ("quantity", "NaN", "INVALID_QUANTITY"), ("limit_price", "1e400", "INVALID_PRICE"),
    ("limit_price", "Infinity", "INVALID_PRICE"), ("limit_price", "-1.00", "INVALID_PRICE"),
    ("quantity", "9" * 50, "INVALID_PARAMETER")])
def test_bad_values_through_the_sdk_get_webull_errors_and_the_server_serves_on(sim, trade, field, value, code):
    order = new_order("AAPL", "BUY", 1, "LIMIT", limit="150.00")
    order[field] = value
    exc = server_error(lambda: trade.order_v3.place_order(ACCT, [order]))
    assert (exc.get_http_status(), exc.get_error_code()) == (400, code)
    assert detail(trade, ACCT, place(trade, ACCT, "AAPL", "BUY", 1))["status"] in ("SUBMITTED", "FILLED")


TRAIL_FIELDS = (*FIELDS, "trailing_type", "trailing_stop_step")
TRAIL_NASTY = st.sampled_from(["TRAILING_STOP_LOSS", "AMOUNT", "PERCENTAGE", "0.05", "0.999999", "1", "2.00",
                               "1e-999999999", "189.99", "190.00", "1E+2"]) | JSON
MODIFY_FIELDS = ("quantity", "limit_price", "stop_price", "time_in_force", "trailing_type", "trailing_stop_step",
                 "side", "symbol", "order_type", "client_order_id", "market")


def _invariants(engine: Engine) -> None:
    engine.tick()  # nothing stored can poison matching or the trails
    for order in engine.orders.values():
        assert 1 <= order.quantity <= MAX_QUANTITY and order.quantity >= order.filled_quantity
        assert all(p is None or 0 < p <= 100_000_000 for p in (order.limit_cents, order.stop_cents))
        if order.order_type == "TRAILING_STOP_LOSS" and order.is_open:
            assert order.trail is not None and order.stop_cents is not None and order.stop_cents > 0
    assert Decimal(engine.balance(ACCT)["account_currency_assets"][0]["buying_power"]) >= 0


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(TRAIL_FIELDS), TRAIL_NASTY, max_size=5))
def test_any_trailing_order_is_a_webull_error_or_an_order_never_a_crash(edits):
    engine = _engine()
    entry = _order(order_type="TRAILING_STOP_LOSS", limit_price=None, trailing_type="AMOUNT",
                   trailing_stop_step="1.00", side="BUY")
    entry.update(edits)
    try:
        engine.place(ACCT, [entry])
    except SimError as exc:
        assert exc.status in (400, 404) and exc.error_code and exc.message
    _invariants(engine)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["LIMIT", "STOP_LOSS_LIMIT", "TRAILING_STOP_LOSS", "MARKET"]),
       st.dictionaries(st.sampled_from(MODIFY_FIELDS), TRAIL_NASTY, max_size=4))
def test_any_modification_is_a_webull_error_or_a_change_never_a_crash(order_type, edits):
    engine = _engine()
    engine.paths["AAPL"].set(15000)
    kw: dict = {"order_type": order_type, "limit_price": "149.00", "stop_price": "151.00"}
    if order_type == "TRAILING_STOP_LOSS":
        kw = {"order_type": order_type, "limit_price": None, "trailing_type": "PERCENTAGE",
              "trailing_stop_step": "0.02"}
    elif order_type == "MARKET":
        kw = {"order_type": order_type, "limit_price": None, "quantity": "250"}
    entry = _order(**kw)
    engine.place(ACCT, [entry])
    if order_type == "MARKET":
        engine.tick(move_prices=False)  # 100 of 250: a partly filled order
    before = engine.orders[(ACCT, entry["client_order_id"])].to_json()
    try:
        engine.replace(ACCT, [{"client_order_id": entry["client_order_id"], **edits}])
    except SimError as exc:
        assert exc.status in (400, 404) and exc.error_code and exc.message
        after = engine.orders[(ACCT, entry["client_order_id"])].to_json()
        assert after == before  # a refused modification changes nothing
    _invariants(engine)
