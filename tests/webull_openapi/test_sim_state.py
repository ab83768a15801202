"""``--state FILE``: the book survives a restart; an unreadable file is set aside, never fatal."""

from __future__ import annotations

import signal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs
from webull.trade.trade_client import TradeClient

from conftest import make_api
from helpers import admin, detail, new_order, place, position, server_error, wait_until
from janus_webull_sim import state
from janus_webull_sim.config import DEFAULT_INSTRUMENTS, AccountConfig, SimConfig
from janus_webull_sim.engine import Engine
from janus_webull_sim.errors import BadRequest, SimError
from janus_webull_sim.main import load_state, parse_args
from janus_webull_sim.orders import ORDER_TYPES
from janus_webull_sim.prices import fmt_cents
from sim_process import SimProcess

ACCT, ACCT2 = "SIMWB0001", "SIMWB0002"
CONFIG = SimConfig(accounts=(AccountConfig(ACCT, "1"), AccountConfig(ACCT2, "2", cash="20000.00")),
                   fill_chunk=7, volatility_ticks=3.0)


def fresh(config: SimConfig = CONFIG) -> Engine:
    return Engine(config, 3, lambda: 1_700_000_000.0)


def assert_same(a: Engine, b: Engine) -> None:
    assert a.accounts == b.accounts
    assert list(a.orders.items()) == list(b.orders.items())
    assert (a.order_seq, a.request_seq) == (b.order_seq, b.request_seq)
    def prices(e: Engine) -> dict[str, tuple[int, int]]:
        return {s: (p.last, p.volume) for s, p in e.paths.items()}

    assert prices(a) == prices(b)


# -- the pure pair ------------------------------------------------------------------------------

SYMBOLS = ("AAPL", "TSLA", "SPY")
coids = st.integers(0, 15).map(lambda n: f"C{n}")  # few ids, so duplicates happen
cents = st.integers(18500, 19500)
ops = st.one_of(
    st.tuples(st.just("place"), st.sampled_from((ACCT, ACCT2)), coids, st.sampled_from(SYMBOLS),
              st.sampled_from(("BUY", "SELL", "SHORT")), st.integers(1, 30),
              st.sampled_from(ORDER_TYPES), cents, cents, st.sampled_from(("DAY", "GTC"))),
    st.tuples(st.just("cancel"), st.sampled_from((ACCT, ACCT2)), coids),
    st.tuples(st.just("replace"), st.sampled_from((ACCT, ACCT2)), coids, st.integers(1, 40)),
    st.tuples(st.just("tick"), st.booleans()),
    st.tuples(st.just("price"), st.sampled_from(SYMBOLS), cents),
    st.tuples(st.just("end_of_day")),
)
# The random walk's generator is not saved: after a restore prices move only by hand.
ops_without_walk = ops.map(lambda op: ("tick", False) if op[0] == "tick" else op)


def run(engine: Engine, op: tuple) -> None:
    kind, *args = op
    try:
        if kind == "place":
            acct, coid, sym, side, qty, order_type, limit, stop, tif = args
            if order_type == "TRAILING_STOP_LOSS":  # a trail instead of prices: by amount or percent
                entry = new_order(sym, side, qty, order_type, tif=tif, coid=coid)
                if limit % 2:
                    entry.update(trailing_type="AMOUNT", trailing_stop_step=fmt_cents(stop % 500 + 1))
                else:
                    entry.update(trailing_type="PERCENTAGE", trailing_stop_step=f"0.0{stop % 9 + 1}")
                engine.place(acct, [entry])
            else:
                engine.place(acct, [new_order(sym, side, qty, order_type, tif=tif, coid=coid,
                                              limit=fmt_cents(limit), stop=fmt_cents(stop))])
        elif kind == "cancel":
            engine.cancel(*args)
        elif kind == "replace":
            acct, coid, qty = args
            engine.replace(acct, [{"client_order_id": coid, "quantity": str(qty)}])
        elif kind == "tick":
            engine.tick(move_prices=args[0])
        elif kind == "price":
            engine.set_price(args[0], fmt_cents(args[1]))
        else:
            engine.expire_day_orders()
    except SimError:
        pass  # refusals belong to the history too: FAILED orders, used ids, events


@settings(max_examples=150, deadline=None, database=None)
@given(st.lists(ops, max_size=40), st.lists(ops_without_walk, max_size=15))
def test_a_restored_engine_carries_on_as_the_original(history, future):
    original = fresh()
    for op in history:
        run(original, op)
    restored = fresh()
    report = state.restore(restored, state.snapshot(original))
    assert report == state.Restored(accounts=(ACCT, ACCT2), orders=len(original.orders))
    assert_same(original, restored)
    original.drain_events()
    for op in future:
        run(original, op)
        run(restored, op)
    assert_same(original, restored)
    # Same ids, same fills, same request ids: nothing a client saw before can be issued again.
    assert original.drain_events() == restored.drain_events()


def test_restored_orders_still_answer_and_refuse_their_ids():
    original = fresh()
    original.place(ACCT, [new_order("AAPL", "BUY", 10, coid="FILLED1")])
    original.tick(move_prices=False)
    original.tick(move_prices=False)
    # Sold at the bid, bought at the ask: a realized loss to carry over.
    original.place(ACCT, [new_order("AAPL", "SELL", 4, coid="SOLD1")])
    original.tick(move_prices=False)
    original.place(ACCT, [new_order("MSFT", "BUY", 3, "LIMIT", limit="1.00", coid="OPEN1")])
    assert original.accounts[ACCT].realized_pnl < 0
    restored = fresh()
    state.restore(restored, state.snapshot(original))
    assert restored.accounts == original.accounts
    assert restored.order(ACCT, "FILLED1").status == "FILLED"
    assert restored.accounts[ACCT].quantity("AAPL") == 6
    assert [o.client_order_id for o in restored.open_orders(ACCT)] == ["OPEN1"]
    with pytest.raises(BadRequest) as refused:
        restored.place(ACCT, [new_order("AAPL", "BUY", 1, coid="FILLED1")])
    assert refused.value.error_code == "DUPLICATE_CLIENT_ORDER_ID"
    assert restored.place(ACCT, [new_order("AAPL", "BUY", 1)])["order_id"] == "SIMO000000000004"


def _valid() -> bytes:
    engine = fresh()
    engine.place(ACCT, [new_order("AAPL", "BUY", 10, coid="X1")])
    engine.tick()
    return state.snapshot(engine)


@pytest.mark.parametrize("data", [
    b"", b"\x00\xff garbage", b"[]", b'{"version": 1}', b'{"version": 2, "whatever": []}',
    _valid()[:-20], _valid().replace(b'"version":1', b'"version":"1"'),
    _valid().replace(b'"order_seq":1', b'"order_seq":-1'),
    _valid().replace(b'"cash":"', b'"cash":"NaN","was":"', 1),
], ids=["empty", "binary", "list", "no-fields", "later-version", "truncated", "version-type",
        "negative-counter", "nan-cash"])
def test_unreadable_state_is_refused_and_leaves_the_engine_fresh(data):
    engine = fresh()
    with pytest.raises(state.StateUnreadable) as exc:
        state.restore(engine, data)
    assert exc.value.reason
    assert_same(engine, fresh())


def _with_a_trail() -> bytes:
    engine = fresh()
    entry = new_order("AAPL", "BUY", 3, "TRAILING_STOP_LOSS", coid="T1", tif="GTC")
    entry.update(trailing_type="PERCENTAGE", trailing_stop_step="0.05")
    engine.place(ACCT, [entry])
    return state.snapshot(engine)


@pytest.mark.parametrize("old,new", [
    (b'"trailing_step":"0.05"', b'"trailing_step":"NaN"'), (b'"trailing_step":"0.05"', b'"trailing_step":"-1"'),
    (b'"trailing_type":"PERCENTAGE"', b'"trailing_type":null'), (b'"trail_reference_cents":19000', b'"x":1'),
    (b'"stop_cents":19950', b'"stop_cents":null')])
def test_a_trailing_order_without_its_trail_is_unreadable(old, new):
    data = _with_a_trail()
    assert old in data
    restored = fresh()
    state.restore(restored, data)  # whole, it reads
    with pytest.raises(state.StateUnreadable):
        state.restore(fresh(), data.replace(old, new))


def test_a_state_of_another_configuration_restores_what_matches(tmp_path):
    original = fresh()
    for acct in (ACCT, ACCT2):
        for sym in ("AAPL", "MSFT"):
            original.place(acct, [new_order(sym, "BUY", 5, coid=f"{acct}{sym}")])
    original.tick()
    path = tmp_path / "wb.state"
    path.write_bytes(state.snapshot(original))
    # ACCT2 and MSFT are gone from this configuration; SIMWB0003 is new.
    other = SimConfig(accounts=(AccountConfig(ACCT, "1"), AccountConfig("SIMWB0003", "3")),
                      instruments=tuple(i for i in DEFAULT_INSTRUMENTS if i.symbol != "MSFT"))
    engine = fresh(other)
    with capture_logs() as logs:
        load_state(engine, path)
    assert engine.accounts[ACCT].cash == original.accounts[ACCT].cash
    assert engine.accounts[ACCT].positions == {"AAPL": original.accounts[ACCT].positions["AAPL"]}
    assert engine.accounts["SIMWB0003"] == fresh(other).accounts["SIMWB0003"]
    assert list(engine.orders) == [(ACCT, f"{ACCT}AAPL")]
    assert engine.paths["AAPL"].last == original.paths["AAPL"].last
    assert engine.order_seq == original.order_seq == 4
    skipped = [e for e in logs if e["event"] == "sim_state_skipped"]
    assert skipped == [{
        "event": "sim_state_skipped", "log_level": "warning", "path": str(path),
        "accounts": [ACCT2],
        "orders": [f"{ACCT}/{ACCT}MSFT", f"{ACCT2}/{ACCT2}AAPL", f"{ACCT2}/{ACCT2}MSFT"],
        "symbols": ["MSFT"],
    }]
    assert path.exists() and not path.with_name("wb.state.bad").exists()


def test_state_in_a_missing_directory_is_a_usage_error(tmp_path):
    with pytest.raises(SystemExit) as exc:
        parse_args(["--state", str(tmp_path / "nowhere" / "wb.state")])
    assert exc.value.code == 2


# -- the real process ---------------------------------------------------------------------------

KEY, SECRET = "state-key", "state-secret"


def _trade(http_port: int) -> TradeClient:
    return TradeClient(make_api(None, key=KEY, secret=SECRET, port=http_port))


def _sim(tmp_path, path) -> SimProcess:
    # No random walk: prices, and so the balances' market values, stay where the test puts them.
    cfg = tmp_path / "sim.toml"
    cfg.write_text("tick_interval = 0.02\nvolatility_ticks = 0.0\n")
    return SimProcess("--config", str(cfg), "--state", str(path), "--app-key", KEY,
                      "--app-secret", SECRET, cwd=tmp_path)


def test_process_keeps_its_book_across_a_restart(tmp_path):
    path = tmp_path / "wb.state"
    with _sim(tmp_path, path) as first:
        port = first.wait_for("listening")["http_port"]
        assert first.logged("sim_state_absent")
        trade = _trade(port)
        assert admin(port, "POST", "price", {"symbol": "AAPL", "price": "123.45"})[0] == 200
        filled = place(trade, ACCT, "AAPL", "BUY", 150)  # 100 a tick: a partial fill, then the rest
        wait_until(lambda: detail(trade, ACCT, filled)["status"] == "FILLED")
        resting = place(trade, ACCT, "MSFT", "BUY", 5, "LIMIT", limit="1.00", tif="GTC")
        refused = server_error(lambda: trade.order_v3.place_order(
            ACCT, [new_order("AAPL", "SELL", 1000, coid="REFUSED1")]))
        assert refused.get_error_code() == "SELL_QUANTITY_EXCEEDS_POSITION"
        before = admin(port, "GET", "state")[1]
        assert first.stop() == 0
    assert first.logged("sim_state_saved") and path.exists()

    with _sim(tmp_path, path) as second:
        port = second.wait_for("listening")["http_port"]
        assert second.logged("sim_state_restored")[0]["orders"] == 3
        after = admin(port, "GET", "state")[1]
        assert after["accounts"] == before["accounts"]
        assert after["orders"] == before["orders"]
        assert after["prices"]["AAPL"]["price"] == "123.45"
        trade = _trade(port)
        assert position(trade, ACCT, "AAPL")["quantity"] == "150"
        assert detail(trade, ACCT, filled)["filled_quantity"] == "150"
        assert detail(trade, ACCT, "REFUSED1")["status"] == "FAILED"
        again = server_error(lambda: trade.order_v3.place_order(
            ACCT, [new_order("AAPL", "BUY", 1, coid=filled)]))
        assert again.get_error_code() == "DUPLICATE_CLIENT_ORDER_ID"
        new_id = trade.order_v3.place_order(ACCT, [new_order("AAPL", "BUY", 1)]).json()["order_id"]
        assert new_id > max(o["order_id"] for o in before["orders"])
        assert trade.order_v3.cancel_order(ACCT, resting).status_code == 200
        assert second.stop(signal.SIGINT) == 0
    assert second.logged("sim_state_saved")


def test_process_sets_a_corrupt_state_file_aside_and_starts_fresh(tmp_path):
    path = tmp_path / "wb.state"
    garbage = b"\x00{not a state"
    path.write_bytes(garbage)
    with _sim(tmp_path, path) as sim:
        port = sim.wait_for("listening")["http_port"]
        [warning] = sim.logged("sim_state_unreadable")
        assert warning["level"] == "warning" and warning["reason"]
        assert path.with_name("wb.state.bad").read_bytes() == garbage
        assert not path.exists()
        book = admin(port, "GET", "state")[1]
        assert book["orders"] == [] and book["accounts"][ACCT]["positions"] == []
        assert book["accounts"][ACCT]["balance"]["total_cash_balance"] == "1000000.00"
        assert sim.stop() == 0
    # What the fresh run saved is a state again.
    assert state.decode(path.read_bytes()).orders == ()
