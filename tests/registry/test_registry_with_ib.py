"""The registry with the real IB gateway (and the IB simulator behind it) answering its
look-ups: hit, miss → unique fill, ambiguous, not found, holdings fill with a future, harmony."""

from __future__ import annotations

import asyncio

import pytest
from contract_months import front
from ibgw_helpers import running_gateway
from registry_helpers import resolve, rows, start_registry

from janus_common import bus, subjects
from janus_common import messages as m
from janus_ib_sim import IBSimulator

pytestmark = pytest.mark.integration

BRK = {"symbol": "BRK.B", "asset_class": "EQUITY",
       "ib": {"symbol": "BRK B", "sec_type": "STK", "exchange": "SMART", "primary_exchange": "NYSE"}}


async def test_registry_fills_itself_from_the_ib_gateway(nc, js, nats_url, pg_dsn):
    async with IBSimulator(seed=9, tick_interval=0.02) as sim, running_gateway(nats_url, sim.port):
        registry = await start_registry(nats_url, pg_dsn, [BRK])
        try:
            aapl = await resolve(nc, "AAPL")
            assert isinstance(aapl, m.Resolved) and aapl.source == "lookup" and aapl.record.ib.con_id == 265598
            assert aapl.record.ib.min_tick == 0.01  # contract details minTick, kept for the router's tick check
            again = await resolve(nc, "AAPL")
            assert again.source == "cache" and again.record == aapl.record

            es_month = front("ES")
            es = await resolve(nc, es_month.canonical, asset_class="FUTURE")
            assert (es.record.ib.contract_month, es.record.ib.last_trade_date, es.record.ib.multiplier) == (
                es_month.yyyymm, es_month.last_trade_date, 50.0)
            assert es.record.ib.min_tick == 0.25

            # 50 concurrent resolves of one missing symbol: one look-up (a passive listener on the
            # look-up subject sees every request) and one row.
            lookups: list[bytes] = []

            async def count(msg):
                lookups.append(msg.data)

            spy = await nc.subscribe(subjects.rpc_lookup("ib"), cb=count)
            replies = await asyncio.gather(*(resolve(nc, "MSFT") for _ in range(50)))
            await nc.flush()
            await spy.unsubscribe()
            assert all(isinstance(r, m.Resolved) and r.record.ib.con_id == 272093 for r in replies)
            assert [m.LOOKUP_REQUEST.decode(d).symbol for d in lookups] == ["MSFT"]
            assert [r["symbol"] for r in await rows(pg_dsn)].count("MSFT") == 1

            dual = await resolve(nc, "DUAL")
            assert isinstance(dual, m.RpcError) and dual.reason is m.RejectReason.AMBIGUOUS_SYMBOL
            assert len(dual.candidates) == 2
            missing = await resolve(nc, "ZZZZ")
            assert isinstance(missing, m.RpcError) and missing.reason is m.RejectReason.UNKNOWN_SYMBOL
            assert {r["symbol"] for r in await rows(pg_dsn)} == {"AAPL", es_month.canonical, "BRK.B", "MSFT"}

            # Holdings-driven fill: a future bought in the account appears in the registry.
            nq_month = front("NQ", 1)
            sim.external_order(nq_month.con_id, "BUY", 1, "MKT", account="DU1000001")
            await _wait_for_row(pg_dsn, nq_month.canonical, nc)
            nq = (await resolve(nc, nq_month.canonical, asset_class="FUTURE")).record
            assert nq.asset_class == "FUTURE" and nq.ib.con_id == nq_month.con_id
            assert nq.ib.last_trade_date == nq_month.last_trade_date

            # Harmony: BRK.B came from config without a conId; IB fills it, nothing is overwritten.
            before = {r["symbol"]: r for r in await rows(pg_dsn)}
            summary = await bus.request(nc, subjects.RPC_HARMONY, m.HarmonyRequest(), m.HARMONY_REPLY, timeout=60)
            assert isinstance(summary, m.HarmonySummary) and summary.ok and summary.per_broker["ib"].filled >= 1
            after = {r["symbol"]: r for r in await rows(pg_dsn)}
            brk = (await resolve(nc, "BRK.B")).record
            assert brk.ib.con_id == 72063691 and brk.ib.primary_exchange == "NYSE"
            for symbol, row in before.items():
                for column, value in row.items():
                    if value is not None and column not in ("provenance", "updated_at"):
                        assert after[symbol][column] == value, (symbol, column)
        finally:
            await registry.stop()


async def _wait_for_row(dsn: str, symbol: str, nc) -> dict:
    written: asyncio.Queue = asyncio.Queue()

    async def on_msg(msg):
        await written.put(m.REGISTRY_EVENTS.decode(msg.data))

    sub = await nc.subscribe(subjects.EVT_REGISTRY, cb=on_msg)
    try:
        while not [r for r in await rows(dsn) if r["symbol"] == symbol]:
            event = await asyncio.wait_for(written.get(), 20)  # the registry announces every write
            if event.record.symbol == symbol:
                break
    finally:
        await sub.unsubscribe()
    return next(r for r in await rows(dsn) if r["symbol"] == symbol)
