"""positions_view.merge: the broker's positions (snapshot + fills since) are always listed; the
valuation fills the price columns only where it prices the same quantity."""

from __future__ import annotations

import json

from janus_client.positions_view import Valued, merge, render_json, render_table
from janus_common.messages import (
    AccountValuation,
    Broker,
    BrokerSide,
    OrderFilled,
    Position,
    PositionSnapshot,
    PositionValuation,
)
from janus_common.symbols import AssetClass

NS = 1_000_000_000


def _fill(account: str, symbol: str, side: BrokerSide, qty: float, price: float, n: int = 1) -> OrderFilled:
    return OrderFilled(account=account, intent_id=f"i{n}", broker=Broker.IB, leg=0, fill_id=f"f{n}",
                       symbol=symbol, side=side, qty=qty, price=price)


def _snapshot(account: str, *positions: tuple[str, float, float]) -> PositionSnapshot:
    return PositionSnapshot(account=account, broker=Broker.IB, positions=[
        Position(symbol=s, asset_class=AssetClass.EQUITY, qty=q, avg_cost=c) for s, q, c in positions])


def _valuation(account: str, *positions: PositionValuation) -> AccountValuation:
    return AccountValuation(account=account, broker=Broker.IB, ts=5 * NS, positions=list(positions),
                            market_value=sum(p.market_value or 0 for p in positions),
                            unrealized_pnl=sum(p.unrealized_pnl or 0 for p in positions))


def test_a_fill_before_any_snapshot_or_valuation_is_a_position_at_once():
    [view] = merge({}, {"ib-1": [_fill("ib-1", "AAPL", BrokerSide.BUY, 10, 190.0)]}, [])
    [p] = view.positions
    assert (view.account, p.symbol, p.qty, p.avg_cost) == ("ib-1", "AAPL", 10, 190.0)
    assert p.valued is Valued.PENDING and p.market_value is None and not view.complete
    table = render_table([view], now_ns=0)
    assert "AAPL" in table and "unvalued" in table and "partial" in table


def test_a_valuation_of_the_old_quantity_keeps_its_price_but_not_its_value():
    snap = _snapshot("ib-1", ("AAPL", 10, 190.0))
    fills = {"ib-1": [_fill("ib-1", "AAPL", BrokerSide.BUY, 10, 200.0)]}
    old = _valuation("ib-1", PositionValuation(symbol="AAPL", qty=10, avg_cost=190.0, price=195.0, price_ts=4 * NS,
                                               price_source=Broker.IB, market_value=1950.0, unrealized_pnl=50.0))
    [view] = merge({"ib-1": snap}, fills, [old])
    [p] = view.positions
    assert p.qty == 20 and p.avg_cost == 195.0  # the average a broker computes
    assert p.price == 195.0 and p.market_value is None and p.valued is Valued.PENDING
    assert view.market_value == 0.0 and not view.complete


def test_a_current_valuation_fills_every_column():
    snap = _snapshot("wb-1", ("MSFT", -5, 400.0))
    val = _valuation("wb-1", PositionValuation(symbol="MSFT", qty=-5, avg_cost=400.0, price=410.0, price_ts=4 * NS,
                                               price_source=Broker.IB, market_value=-2050.0, unrealized_pnl=-50.0,
                                               derived=True))
    [view] = merge({"wb-1": snap}, {}, [val])
    [p] = view.positions
    assert p.valued is Valued.VALUED and p.derived and p.market_value == -2050.0
    assert view.complete and view.market_value == -2050.0 and view.unrealized_pnl == -50.0
    assert json.loads(render_json([view]))[0]["positions"][0]["valued"] == "VALUED"


def test_fills_that_close_a_position_remove_it_and_a_flip_opens_at_the_fill_price():
    snap = _snapshot("ib-1", ("AAPL", 10, 190.0), ("MSFT", 5, 400.0))
    fills = {"ib-1": [_fill("ib-1", "AAPL", BrokerSide.SELL, 10, 191.0, 1),
                      _fill("ib-1", "MSFT", BrokerSide.SHORT, 8, 405.0, 2)]}
    [view] = merge({"ib-1": snap}, fills, [])
    assert [(p.symbol, p.qty, p.avg_cost) for p in view.positions] == [("MSFT", -3, 405.0)]


def test_without_a_snapshot_the_valuation_alone_is_shown_and_accounts_are_sorted():
    val = _valuation("wb-1", PositionValuation(symbol="AAPL", qty=3, avg_cost=1.0, price=2.0, market_value=6.0,
                                               unrealized_pnl=3.0))
    views = merge({"ib-1": _snapshot("ib-1")}, {}, [val])
    assert [v.account for v in views] == ["ib-1", "wb-1"]
    assert views[0].positions == [] and views[1].positions[0].valued is Valued.VALUED
