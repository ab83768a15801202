"""Resolve against real NATS and Postgres: hit, miss → unique fill, ambiguous, not found,
single-flight, Webull by ticker, malformed requests."""

from __future__ import annotations

import asyncio
import json

import msgspec
import nats
import pytest

from contract_months import option_symbol
from janus_common import bus, subjects
from janus_common import messages as m
from janus_common.messages import Broker, RejectReason
from registry_helpers import NQ_MONTH, harmony, resolve, rows

pytestmark = pytest.mark.integration

BRK_MAPPING = {"symbol": "BRK.B", "asset_class": "EQUITY",
               "ib": {"symbol": "BRK B", "sec_type": "STK", "exchange": "SMART",
                      "primary_exchange": "NYSE"},
               "webull": {"symbol": "BRK.B"}}


async def test_config_mapping_is_a_hit_without_any_lookup(nc, pg_dsn, ib_gateway, registry_factory):
    await registry_factory(pg_dsn, [BRK_MAPPING])
    reply = await resolve(nc, "BRK.B")
    assert isinstance(reply, m.Resolved) and reply.source == "cache"
    assert reply.record.ib.symbol == "BRK B" and reply.record.ib.primary_exchange == "NYSE"
    assert reply.record.webull.symbol == "BRK.B"
    assert reply.record.written_by["ib.symbol"] == "config"
    assert ib_gateway.calls == []
    [row] = await rows(pg_dsn)
    assert row["ib_symbol"] == "BRK B" and json.loads(row["provenance"])["ib.symbol"]["by"] == "config"


async def test_config_mappings_are_fill_only_across_restarts(nc, pg_dsn, registry_factory):
    first = await registry_factory(pg_dsn, [BRK_MAPPING])
    await first.stop()
    changed = {**BRK_MAPPING, "ib": {**BRK_MAPPING["ib"], "primary_exchange": "ARCA", "con_id": 72063691}}
    await registry_factory(pg_dsn, [changed])
    [row] = await rows(pg_dsn)
    assert row["ib_primary_exchange"] == "NYSE"  # kept
    assert row["ib_con_id"] == 72063691  # filled


async def test_miss_is_looked_up_once_written_and_then_cached(nc, js, pg_dsn, ib_gateway, registry_factory):
    await registry_factory(pg_dsn)
    events = await nc.subscribe(subjects.EVT_REGISTRY)
    reply = await resolve(nc, "AAPL")
    assert isinstance(reply, m.Resolved) and reply.source == "lookup"
    assert reply.record.ib.con_id == 265598 and reply.record.ib.primary_exchange == "NASDAQ"
    assert reply.record.written_by["ib.con_id"] == "lookup"
    [row] = await rows(pg_dsn)
    assert (row["symbol"], row["asset_class"], row["ib_con_id"]) == ("AAPL", "EQUITY", 265598)
    stamp = json.loads(row["provenance"])["ib.con_id"]
    assert stamp["by"] == "lookup" and stamp["at"] > 0

    msg = await events.next_msg(timeout=5)
    event = m.REGISTRY_EVENTS.decode(msg.data)
    assert event.record.symbol == "AAPL" and event.source == "lookup" and "ib.con_id" in event.fields

    again = await resolve(nc, "AAPL")
    assert isinstance(again, m.Resolved) and again.source == "cache" and again.record == reply.record
    assert [c.symbol for c in ib_gateway.calls] == ["AAPL"]
    assert ib_gateway.calls[0].exchange is None  # the gateway's default filter


async def test_future_miss_keeps_contract_month_and_real_last_trade_date(nc, pg_dsn, ib_gateway,
                                                                       registry_factory):
    await registry_factory(pg_dsn)
    reply = await resolve(nc, NQ_MONTH.canonical.lower(), asset_class="FUTURE")
    assert isinstance(reply, m.Resolved)
    assert reply.record.symbol == NQ_MONTH.canonical and reply.record.exchange == "CME"
    assert reply.record.ib.contract_month == NQ_MONTH.yyyymm
    assert reply.record.ib.last_trade_date == NQ_MONTH.last_trade_date
    assert reply.record.ib.multiplier == 20.0 and reply.record.ib.trading_class == "NQ"


async def test_ambiguous_lookup_answers_candidates_and_writes_nothing(nc, pg_dsn, ib_gateway, registry_factory):
    await registry_factory(pg_dsn)
    reply = await resolve(nc, "ABC")
    assert isinstance(reply, m.RpcError) and reply.reason is RejectReason.AMBIGUOUS_SYMBOL
    assert sorted(c.ib.con_id for c in reply.candidates) == [1001, 1002]
    assert {c.exchange for c in reply.candidates} == {"NYSE", "ARCA"}
    assert await rows(pg_dsn) == []


async def test_not_found_answers_unknown_symbol_and_writes_nothing(nc, pg_dsn, ib_gateway, registry_factory):
    await registry_factory(pg_dsn)
    reply = await resolve(nc, "ZZZZ")
    assert isinstance(reply, m.RpcError) and reply.reason is RejectReason.UNKNOWN_SYMBOL
    assert "ZZZZ" in reply.message
    assert await rows(pg_dsn) == []
    # Not cached as a miss either: a second resolve asks the gateway again.
    await resolve(nc, "ZZZZ")
    assert ib_gateway.symbols() == ["ZZZZ", "ZZZZ"]


async def test_no_gateway_is_a_broker_unavailable_reply(nc, pg_dsn, registry_factory):
    await registry_factory(pg_dsn)
    reply = await resolve(nc, "AAPL")
    assert isinstance(reply, m.RpcError) and reply.reason is RejectReason.BROKER_UNAVAILABLE
    assert await rows(pg_dsn) == []


async def test_fifty_concurrent_resolves_of_one_missing_symbol_make_one_lookup_one_row(
        nc, pg_dsn, ib_gateway, registry_factory):
    await registry_factory(pg_dsn, [BRK_MAPPING])
    ib_gateway.hold = asyncio.Event()
    pending = asyncio.gather(*(resolve(nc, "MSFT") for _ in range(50)))
    await asyncio.wait_for(ib_gateway.first_call.wait(), 10)
    # While the look-up is held, a cache hit is still answered; since requests on one
    # connection are dispatched in order, when it answers all 50 above are already waiting.
    hit = await resolve(nc, "BRK.B")
    assert isinstance(hit, m.Resolved) and hit.source == "cache"
    ib_gateway.hold.set()
    replies = await asyncio.wait_for(pending, 30)
    assert all(isinstance(r, m.Resolved) and r.record.ib.con_id == 272093 for r in replies)
    assert {r.source for r in replies} == {"lookup"}  # all 50 shared the one look-up
    assert ib_gateway.symbols() == ["MSFT"]
    assert [r["symbol"] for r in await rows(pg_dsn)] == ["BRK.B", "MSFT"]


async def test_webull_only_resolve_of_an_equity_needs_only_the_ticker(nc, pg_dsn, ib_gateway, registry_factory):
    await registry_factory(pg_dsn)
    reply = await resolve(nc, "NVDA", broker=Broker.WEBULL)
    assert isinstance(reply, m.Resolved) and reply.source == "ticker"
    assert reply.record.webull.symbol == "NVDA" and reply.record.ib is None
    assert ib_gateway.calls == [] and await rows(pg_dsn) == []


async def test_ib_resolve_of_a_webull_only_mapping_fills_the_ib_half(nc, pg_dsn, ib_gateway, registry_factory):
    await registry_factory(pg_dsn, [{"symbol": "TSLA", "webull": {"symbol": "TSLA", "instrument_id": "9"}}])
    reply = await resolve(nc, "TSLA", broker=Broker.IB)
    assert isinstance(reply, m.Resolved) and reply.record.ib.con_id == 76792991
    assert reply.record.webull.instrument_id == "9"
    [row] = await rows(pg_dsn)
    prov = json.loads(row["provenance"])
    assert prov["webull.instrument_id"]["by"] == "config" and prov["ib.con_id"]["by"] == "lookup"


async def test_malformed_requests_get_error_replies_and_the_service_keeps_serving(
        nc, pg_dsn, ib_gateway, registry_factory):
    await registry_factory(pg_dsn)
    for payload in (b"\xff\x00 not msgpack", msgspec.msgpack.encode({"kind": "ResolveRequest", "symbol": 7}),
                    msgspec.msgpack.encode({"kind": "Nope"}), b""):
        raw = await nc.request(subjects.RPC_RESOLVE, payload, timeout=5)
        reply = m.RESOLVE_REPLY.decode(raw.data)
        assert isinstance(reply, m.RpcError) and reply.reason is RejectReason.MALFORMED
        raw = await nc.request(subjects.RPC_HARMONY, payload, timeout=5)
        reply = m.HARMONY_REPLY.decode(raw.data)
        assert isinstance(reply, m.RpcError) and reply.reason is RejectReason.MALFORMED
    for bad in ("aapl!!", "NQ.2613", ""):
        reply = await resolve(nc, bad)
        assert isinstance(reply, m.RpcError) and reply.reason is RejectReason.INVALID_SYMBOL, bad
    option = await resolve(nc, option_symbol("NQ", "C", "15000"))
    assert isinstance(option, m.RpcError) and option.reason is RejectReason.INVALID_SYMBOL
    assert ib_gateway.calls == []
    ok = await resolve(nc, "AAPL")
    assert isinstance(ok, m.Resolved)
    summary = await harmony(nc)
    assert isinstance(summary, m.HarmonySummary) and summary.ok


async def test_a_gateway_answering_garbage_is_a_typed_error_and_nothing_is_written(nc, pg_dsn, registry_factory):
    async def garbage(msg):
        await msg.respond(b"\x13garbage")

    await nc.subscribe(subjects.rpc_lookup("ib"), cb=garbage)
    await registry_factory(pg_dsn)
    reply = await resolve(nc, "AAPL")
    assert isinstance(reply, m.RpcError) and reply.reason is RejectReason.INTERNAL
    assert "garbage" in reply.message
    assert await rows(pg_dsn) == []


async def test_lookups_and_harmony_are_bounded_per_caller(nats_url, nc, pg_dsn, ib_gateway, registry_factory,
                                                          bus_identities):
    await registry_factory(pg_dsn, rate_limits={"resolve_lookups": {"limit": 2, "window_s": 600},
                                                "harmony": {"limit": 1, "window_s": 600}})
    # Two identities of the bus, each with its credentials and so its own inbox prefix.
    alice = await bus.connect(nats_url, "alice", creds=bus_identities.creds("operator"))
    bob = await bus.connect(nats_url, "bob", creds=bus_identities.creds("router"))
    try:
        assert isinstance(await resolve(alice, "AAPL"), m.Resolved)
        assert isinstance(await resolve(alice, "ABC"), m.RpcError)  # ambiguous: a look-up all the same
        refused = await resolve(alice, "MSFT")
        assert isinstance(refused, m.RpcError) and refused.reason is RejectReason.RATE_LIMITED
        assert (refused.limit, refused.window_s, refused.caller) == (2, 600, "operator")
        assert "MSFT" not in ib_gateway.symbols()  # refused before any look-up
        hit = await resolve(alice, "AAPL")  # answered from the cache: costs nothing
        assert isinstance(hit, m.Resolved) and hit.source == "cache"

        other = await resolve(bob, "MSFT")  # another caller is unaffected
        assert isinstance(other, m.Resolved) and other.source == "lookup"
        # The suite's admin is no identity of the registry's configuration: the shared anonymous budget.
        anonymous = await resolve(nc, "TSLA")
        assert isinstance(anonymous, m.Resolved)

        assert isinstance(await harmony(alice), m.HarmonySummary)
        again = await harmony(alice)
        assert isinstance(again, m.RpcError) and again.reason is RejectReason.RATE_LIMITED and again.caller == "operator"
        assert isinstance(await harmony(nc), m.HarmonySummary)  # the router may not ask for harmony at all
    finally:
        await alice.close()
        await bob.close()
