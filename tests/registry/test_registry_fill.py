"""Holdings-driven fill, harmony and cache coherence against real NATS and Postgres."""

from __future__ import annotations

import asyncio
import json

import msgspec

import pytest

from contract_months import option_symbol
from janus_common import bus, subjects
from janus_common import messages as m
from janus_common.messages import Broker
from janus_common.symbols import AssetClass
from registry_helpers import NQ_MONTH, harmony, resolve, rows

pytestmark = pytest.mark.integration


async def test_ib_holdings_fill_missing_entries_future_as_root_yymm_options_not_persisted(
        nc, js, pg_dsn, ib_gateway, registry_factory):
    await registry_factory(pg_dsn, [{"symbol": "MSFT"}])
    written = await nc.subscribe(subjects.EVT_REGISTRY)
    webull = m.PositionSnapshot(account="wb-1", broker=Broker.WEBULL, positions=[
        m.Position(symbol="TSLA", asset_class=AssetClass.EQUITY, qty=5, avg_cost=200)])
    ib = m.PositionSnapshot(account="ib-1", broker=Broker.IB, positions=[
        m.Position(symbol=option_symbol("NQ", "C", "15000"), asset_class=AssetClass.OPTION, qty=1, avg_cost=100,
                   multiplier=20),
        m.Position(symbol="MSFT", asset_class=AssetClass.EQUITY, qty=3, avg_cost=400),  # present
        m.Position(symbol="AAPL", asset_class=AssetClass.EQUITY, qty=10, avg_cost=150, con_id=265598),
        m.Position(symbol="ABC", asset_class=AssetClass.EQUITY, qty=1, avg_cost=1),  # ambiguous
        m.Position(symbol="NQ", asset_class=AssetClass.FUTURE, qty=-1, avg_cost=15000,
                   multiplier=20, con_id=NQ_MONTH.con_id),  # not canonical: keyed from the match
    ])
    await bus.publish(js, subjects.evt_position("wb-1"), webull)
    await bus.publish(js, subjects.evt_position("ib-1"), ib)
    got = [m.REGISTRY_EVENTS.decode((await written.next_msg(timeout=10)).data) for _ in range(2)]
    assert sorted(e.record.symbol for e in got) == ["AAPL", NQ_MONTH.canonical]
    assert all(e.source == "holdings" for e in got)
    table = {r["symbol"]: r for r in await rows(pg_dsn)}
    assert sorted(table) == ["AAPL", "MSFT", NQ_MONTH.canonical]
    nq = table[NQ_MONTH.canonical]
    assert (nq["asset_class"], nq["ib_contract_month"], nq["ib_last_trade_date"], nq["ib_multiplier"]) == \
        ("FUTURE", NQ_MONTH.yyyymm, NQ_MONTH.last_trade_date, 20.0)
    assert json.loads(nq["provenance"])["ib.con_id"]["by"] == "holdings"
    # Options and present entries are not looked up; the Webull snapshot is not IB's.
    assert ib_gateway.symbols() == ["AAPL", "ABC", "NQ"]
    assert ib_gateway.calls[-1].con_id == NQ_MONTH.con_id
    reply = await resolve(nc, NQ_MONTH.canonical, asset_class="FUTURE")
    assert isinstance(reply, m.Resolved) and reply.source == "cache"


async def test_harmony_fills_missing_fields_for_each_connected_broker_type_and_never_overwrites(
        nc, pg_dsn, ib_gateway, webull_gateway, registry_factory):
    await registry_factory(pg_dsn, [
        # A deliberately different primary exchange: harmony must keep it.
        {"symbol": "AAPL", "ib": {"symbol": "AAPL", "sec_type": "STK", "primary_exchange": "ARCA"}},
        {"symbol": "MSFT", "webull": {"symbol": "MSFT", "instrument_id": "keep-me"}},
        {"symbol": "ABC"},
        {"symbol": "QQQQ"},
        # Complete for IB: never looked up there again (no re-validation).
        {"symbol": "TSLA", "ib": {"symbol": "TSLA", "sec_type": "STK", "primary_exchange": "NASDAQ",
                                 "con_id": 76792991, "min_tick": 0.01}},
    ])
    before = {r["symbol"]: r for r in await rows(pg_dsn)}
    summary = await harmony(nc)
    assert isinstance(summary, m.HarmonySummary) and summary.ok, summary
    ib, wb = summary.per_broker["ib"], summary.per_broker["webull"]
    assert (ib.checked, ib.filled, ib.ambiguous, ib.not_found, ib.failed) == (4, 2, 1, 1, 0)
    # MSFT is complete for Webull (config gave ticker and instrument id): not looked up.
    assert (wb.checked, wb.filled, wb.not_found) == (4, 1, 3)
    assert "MSFT" not in webull_gateway.symbols()
    assert "TSLA" not in ib_gateway.symbols()

    after = {r["symbol"]: r for r in await rows(pg_dsn)}
    assert after["AAPL"]["ib_primary_exchange"] == "ARCA"  # never overwritten
    assert after["AAPL"]["ib_con_id"] == 265598 and after["AAPL"]["webull_instrument_id"] == "913256135"
    assert after["MSFT"]["webull_instrument_id"] == "keep-me" and after["MSFT"]["ib_con_id"] == 272093
    for symbol in ("ABC", "QQQQ"):
        assert after[symbol]["ib_con_id"] is None
    prov = json.loads(after["AAPL"]["provenance"])
    assert prov["ib.con_id"]["by"] == "harmony" and prov["ib.primary_exchange"]["by"] == "config"
    # Every field present before is unchanged, value and provenance alike.
    for symbol, row in before.items():
        old_prov = json.loads(row["provenance"])
        new_prov = json.loads(after[symbol]["provenance"])
        for field, stamp in old_prov.items():
            assert new_prov[field] == stamp
            column = field.replace(".", "_")
            assert after[symbol][column] == row[column]

    again = await harmony(nc)
    assert again.ok and again.per_broker["ib"].filled == 0 and again.per_broker["webull"].filled == 0
    assert again.per_broker["ib"].checked == 2  # only ABC and QQQQ still lack IB fields


async def test_harmony_skips_broker_types_without_a_connected_gateway(nc, pg_dsn, ib_gateway, registry_factory):
    await registry_factory(pg_dsn, [{"symbol": "AAPL"}])
    summary = await harmony(nc)
    assert summary.ok and set(summary.per_broker) == {"ib"}
    assert summary.per_broker["ib"].filled == 1


async def test_a_write_on_one_replica_reaches_the_other_replicas_cache(nc, pg_dsn, ib_gateway,
                                                                      webull_gateway, registry_factory):
    a = await registry_factory(pg_dsn, [{"symbol": "AAPL", "ib": {"symbol": "AAPL", "sec_type": "STK"}}])
    b = await registry_factory(pg_dsn)
    b.registry.applied = asyncio.Queue()
    assert not b.registry.cache["AAPL"].has("ib.con_id")

    summary = await a.app.harmonizer.run(m.HarmonyRequest())
    assert summary.ok
    event = await asyncio.wait_for(b.registry.applied.get(), 10)
    assert event.record.symbol == "AAPL" and event.source == "harmony"
    reply = await b.registry.resolve(m.ResolveRequest(symbol="AAPL"))
    assert reply.source == "cache" and reply.record.ib.con_id == 265598
    assert reply.record.webull.instrument_id == "913256135"

    # A miss resolved on B is a cache hit on A afterwards, without a second look-up.
    a.registry.applied = asyncio.Queue()
    assert isinstance(await b.registry.resolve(m.ResolveRequest(symbol="MSFT")), m.Resolved)
    while (await asyncio.wait_for(a.registry.applied.get(), 10)).record.symbol != "MSFT":
        pass
    hit = await a.registry.resolve(m.ResolveRequest(symbol="MSFT"))
    assert hit.source == "cache" and ib_gateway.symbols().count("MSFT") == 1


async def test_a_forged_registry_event_changes_no_cache_and_a_genuine_write_still_arrives(
        nc, pg_dsn, ib_gateway, registry_factory):
    a = await registry_factory(pg_dsn)
    b = await registry_factory(pg_dsn)
    aapl = await a.registry.resolve(m.ResolveRequest(symbol="AAPL", broker=Broker.IB))
    assert isinstance(aapl, m.Resolved) and aapl.record.ib.con_id == 265598
    b.registry.applied = asyncio.Queue()

    # BRK.B with AAPL's conId, published by anyone on core NATS. (Without bus permissions the
    # EVENTS stream stores it too; the replicas then re-read BRK.B from Postgres, which has none.)
    lie = msgspec.structs.replace(aapl.record, symbol="BRK.B")
    await nc.publish(subjects.EVT_REGISTRY, m.encode(m.RegistryEntryWritten(
        record=lie, source="lookup", fields=["ib.con_id"])))
    await nc.flush()
    # A genuine write on A after it: B applies events in stream order, so once MSFT is applied
    # everything published before it has been too.
    assert isinstance(await a.registry.resolve(m.ResolveRequest(symbol="MSFT")), m.Resolved)
    while (await asyncio.wait_for(b.registry.applied.get(), 10)).record.symbol != "MSFT":
        pass

    assert "BRK.B" not in a.registry.cache and "BRK.B" not in b.registry.cache
    hit = await b.registry.resolve(m.ResolveRequest(symbol="MSFT"))
    assert hit.source == "cache" and hit.record.ib.con_id == 272093  # the genuine write reached B
    brk = await b.registry.resolve(m.ResolveRequest(symbol="BRK.B", broker=Broker.IB))
    assert isinstance(brk, m.Resolved) and brk.source == "lookup" and brk.record.ib.con_id == 72063691
    assert [r["ib_con_id"] for r in await rows(pg_dsn) if r["symbol"] == "BRK.B"] == [72063691]


async def test_harmony_stops_asking_a_gateway_that_keeps_failing(nc, pg_dsn, ib_gateway, registry_factory):
    symbols = [f"S{i:03d}" for i in range(40)]
    ib_gateway.table = {s: m.RpcError(reason=m.RejectReason.BROKER_UNAVAILABLE, message="TWS down")
                        for s in symbols}
    await registry_factory(pg_dsn, [{"symbol": s} for s in symbols])
    before = await rows(pg_dsn)
    summary = await harmony(nc)
    assert summary.ok and summary.per_broker["ib"].failed == 40
    assert summary.per_broker["ib"].filled == 0
    assert len(ib_gateway.calls) < 40  # gave up instead of waiting on every entry
    assert await rows(pg_dsn) == before
