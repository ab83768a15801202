"""`janus positions` lists what the broker holds even when the valuation has not caught up: the
latest snapshot plus the fills stored after it, valued only where the valuation prices the same
quantity (positions_view.merge over EVENTS and KV; no pricer runs here, so nothing catches up)."""

from __future__ import annotations

import json

import pytest
from cli_runner import janus

from janus_common import bus, subjects
from janus_common import messages as m
from janus_common.streams import KV_VALUATIONS

pytestmark = pytest.mark.integration


def _fill(n: int, symbol: str, qty: float, price: float) -> m.OrderFilled:
    return m.OrderFilled(account="ib-1", intent_id=f"i{n}", broker=m.Broker.IB, leg=0, fill_id=f"f{n}",
                         symbol=symbol, side=m.BrokerSide.BUY, qty=qty, price=price)


async def test_positions_right_after_fills_list_them_before_any_valuation(js, nats_url):
    # A fill before the first snapshot, then the snapshot that reports it: the fill counts once.
    await bus.publish(js, subjects.evt_order("ib-1"), _fill(1, "AAPL", 10, 190.0))
    await bus.publish(js, subjects.evt_position("ib-1"), m.PositionSnapshot(account="ib-1", broker=m.Broker.IB,
        positions=[m.Position(symbol="AAPL", asset_class="EQUITY", qty=10, avg_cost=190.0)]))
    kv = await js.key_value(KV_VALUATIONS)
    await kv.put("ib-1", m.encode(m.AccountValuation(account="ib-1", broker=m.Broker.IB, positions=[
        m.PositionValuation(symbol="AAPL", qty=10, avg_cost=190.0, price=191.0, price_ts=1, price_source=m.Broker.IB,
                            market_value=1910.0, unrealized_pnl=10.0)], market_value=1910.0, unrealized_pnl=10.0)))
    code, out = await janus(nats_url, "--json", "positions")
    assert code == 0, out
    [ib1] = json.loads(out)
    assert [(p["symbol"], p["qty"], p["valued"]) for p in ib1["positions"]] == [("AAPL", 10, "VALUED")]
    assert ib1["complete"] and ib1["market_value"] == 1910.0

    # Fills the pricer has not valued yet (as right after `janus order --wait`): shown at once.
    await bus.publish(js, subjects.evt_order("ib-1"), _fill(2, "AAPL", 5, 196.0))
    await bus.publish(js, subjects.evt_order("ib-1"), _fill(3, "MSFT", 2, 400.0))
    code, out = await janus(nats_url, "--json", "positions", "--account", "ib-1")
    assert code == 0, out
    [ib1] = json.loads(out)
    rows = {p["symbol"]: p for p in ib1["positions"]}
    assert (rows["AAPL"]["qty"], rows["AAPL"]["avg_cost"], rows["AAPL"]["valued"]) == (15, 192.0, "PENDING")
    assert rows["AAPL"]["price"] == 191.0 and rows["AAPL"]["market_value"] is None
    assert (rows["MSFT"]["qty"], rows["MSFT"]["valued"], rows["MSFT"]["price"]) == (2, "PENDING", None)
    assert not ib1["complete"]
    code, table = await janus(nats_url, "positions")
    lines = {line.split()[1]: line for line in table.splitlines()[1:]}
    assert code == 0 and "unvalued" in lines["AAPL"] and "unvalued" in lines["MSFT"], table
    assert "partial" in lines["TOTAL"], table
