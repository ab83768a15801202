"""The table the CLI prints: one line per position, a TOTAL per account, flags and ages."""

from __future__ import annotations

import json

from contract_months import front
from janus_common.messages import AccountValuation, Broker, PositionValuation
from janus_client.positions_view import NS, render_json, render_table

ES = front("ES").canonical  # a live contract month, whatever today is
NQ = front("NQ").canonical  # a live contract month, whatever today is


def _valuations():
    return [
        AccountValuation(account="wb-1", broker=Broker.WEBULL, ts=0, market_value=1500.0,
                         unrealized_pnl=50.0, positions=[
                             PositionValuation(symbol="AAPL", qty=10, avg_cost=145.0, price=150.0,
                                               price_ts=100 * NS, price_source=Broker.IB,
                                               market_value=1500.0, unrealized_pnl=50.0,
                                               derived=True)]),
        AccountValuation(account="ib-1", broker=Broker.IB, ts=0, positions=[
            PositionValuation(symbol=NQ, qty=-2, avg_cost=15000.0, multiplier=20.0),
            PositionValuation(symbol=ES, qty=1, avg_cost=5000.0, multiplier=50.0,
                              price=5010.0, price_ts=0, price_source=Broker.IB,
                              market_value=250500.0, unrealized_pnl=500.0, stale=True)]),
    ]


def test_table_lists_positions_and_totals_with_provenance():
    text = render_table(_valuations(), now_ns=102 * NS)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["ACCOUNT", "SYMBOL", "QTY"]
    body = [line.split() for line in lines[1:]]
    assert [(r[0], r[1]) for r in body] == [("ib-1", ES), ("ib-1", NQ),
                                            ("ib-1", "TOTAL"), ("wb-1", "AAPL"), ("wb-1", "TOTAL")]
    assert body[0][-1] == "stale" and "250,500.00" in body[0]
    assert body[1][-1] == "no-price" and body[1][2] == "-2"
    assert body[3][-2:] == ["2.0s", "derived"] and body[3][-3] == "ib"
    assert len({len(line) for line in lines[:1]}) == 1


def test_empty_and_json():
    assert render_table([]) == "no positions"
    data = json.loads(render_json(_valuations()))
    assert [d["account"] for d in data] == ["ib-1", "wb-1"]
    assert data[1]["positions"][0]["derived"] is True
