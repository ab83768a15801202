"""The pricer against a real JetStream: bursts, restarts, bad input, market-data requests."""

from __future__ import annotations

import asyncio
import time

import pytest
from structlog.testing import capture_logs

from contract_months import front
from janus_common import bus, subjects
from janus_common import messages as m
from janus_common.symbols import AssetClass
from janus_client import positions_view as view
from janus_client import valuations as client
from janus_pricer.quotes import QUOTES

ES = front("ES").canonical  # a live contract month, whatever today is
NQ = front("NQ").canonical  # a live contract month, whatever today is

pytestmark = pytest.mark.integration

WINDOW_NS = 200_000_000


def _snapshot(account, broker, *lines):
    return m.PositionSnapshot(account=account, broker=broker, positions=[
        m.Position(symbol=s, asset_class=AssetClass.FUTURE if mult != 1 else AssetClass.EQUITY,
                   qty=q, avg_cost=c, multiplier=mult) for s, q, c, mult in lines])


class Valuations:
    """Every valuation published, in arrival order, and a way to wait for one."""

    def __init__(self) -> None:
        self.seen: list[m.AccountValuation] = []
        self._changed = asyncio.Condition()

    async def start(self, nc) -> "Valuations":
        async def collect(msg):
            async with self._changed:
                self.seen.append(m.VALUATIONS.decode(msg.data, subject=msg.subject))
                self._changed.notify_all()

        self.sub = await nc.subscribe(subjects.ALL_VALUATIONS, cb=collect)
        await nc.flush()
        return self

    async def until(self, predicate, timeout: float = 20.0) -> m.AccountValuation:
        async def wait():
            async with self._changed:
                while True:
                    for v in self.seen:
                        if predicate(v):
                            return v
                    await self._changed.wait()
        return await asyncio.wait_for(wait(), timeout)


def _price(v: m.AccountValuation, symbol: str) -> float | None:
    return next(p.price for p in v.positions if p.symbol == symbol)


async def test_burst_of_10000_ticks_one_snapshot_per_window_last_price_quantity_kept(
        js, nc, pricer_factory):
    await bus.publish(js, subjects.evt_position("ib-1"), _snapshot(
        "ib-1", m.Broker.IB, ("AAPL", 100, 150.0, 1), (NQ, -2, 15000.0, 20)))
    await bus.publish(js, subjects.evt_position("wb-1"), _snapshot(
        "wb-1", m.Broker.WEBULL, ("AAPL", 10, 140.0, 1)))
    vals = await Valuations().start(nc)
    async with pricer_factory(debounce_ms=200):
        # both accounts are valued once their positions are known (no price yet)
        for account in ("ib-1", "wb-1"):
            first = await vals.until(lambda v, a=account: v.account == a)
            assert _price(first, "AAPL") is None
        prices = [round(100 + i * 0.01, 2) for i in range(10_000)]
        started = time.monotonic_ns()
        for price in prices:
            await nc.publish(subjects.md_tick("AAPL"),
                             m.encode(m.Tick(symbol="AAPL", last=price, bid=price - 0.01,
                                             ask=price + 0.01)))
        await nc.flush()
        for account in ("ib-1", "wb-1"):
            await vals.until(lambda v, a=account: v.account == a and _price(v, "AAPL") == prices[-1])
        # the KV bucket serves late joiners the same thing, and the CLI's table shows it
        latest = {v.account: v for v in await client.latest(js)}
        assert _price(latest["ib-1"], "AAPL") == prices[-1]
        assert "AAPL" in view.render_table(latest.values())
    burst_s = (time.monotonic_ns() - started) / 1e9
    await nc.flush()

    expected_qty = {"ib-1": {"AAPL": 100, NQ: -2}, "wb-1": {"AAPL": 10}}
    for account in ("ib-1", "wb-1"):
        mine = [v for v in vals.seen if v.account == account]
        gaps = [b.ts - a.ts for a, b in zip(mine, mine[1:])]
        assert all(g >= WINDOW_NS for g in gaps), gaps  # at most one snapshot per window
        assert len(mine) <= burst_s * 1e9 / WINDOW_NS + 2
        assert _price(mine[-1], "AAPL") == prices[-1]  # the last snapshot uses the last price
        for v in mine:  # prices never change a quantity
            assert {p.symbol: p.qty for p in v.positions} == expected_qty[account]
        last = mine[-1]
        aapl = next(p for p in last.positions if p.symbol == "AAPL")
        assert aapl.price_source == m.Broker.IB and aapl.derived == (account == "wb-1")
        assert aapl.market_value == pytest.approx(expected_qty[account]["AAPL"] * prices[-1])
    assert len(vals.seen) < 10_000 / 10  # debounced: nowhere near one per tick


async def test_restart_restores_the_cache_from_kv_and_the_market_stream(js, nc, pricer_factory):
    await bus.publish(js, subjects.evt_position("ib-1"), _snapshot(
        "ib-1", m.Broker.IB, ("AAPL", 5, 100.0, 1), (ES, 1, 5000.0, 50), ("MSFT", 3, 300, 1)))
    vals = await Valuations().start(nc)
    async with pricer_factory():
        await bus.publish(js, subjects.md_tick("AAPL"), m.Tick(symbol="AAPL", last=123.45))
        await bus.publish(js, subjects.md_bar(ES), m.Bar(
            symbol=ES, ts=time.time_ns(), open=1, high=1, low=1, close=5010.25))
        await vals.until(lambda v: _price(v, "AAPL") == 123.45 and _price(v, ES) == 5010.25)
    # While it is down: MARKET loses everything it had (only KV still knows AAPL and ES), and
    # one new tick arrives (only MARKET knows MSFT).
    await js.purge_stream("MARKET")
    await bus.publish(js, subjects.md_tick("MSFT"), m.Tick(symbol="MSFT", last=410.5))
    vals.seen.clear()
    async with pricer_factory() as ctx:
        first = await vals.until(lambda v: v.account == "ib-1")
        assert {p.symbol: p.price for p in first.positions} == \
            {"AAPL": 123.45, ES: 5010.25, "MSFT": 410.5}
        assert ctx.pricer.stats.restored_from_kv >= 2
        assert ctx.pricer.stats.restored_from_market == 1
        assert {p.symbol: p.qty for p in first.positions} == {"AAPL": 5, ES: 1, "MSFT": 3}
        es = next(p for p in first.positions if p.symbol == ES)
        assert es.market_value == pytest.approx(5010.25 * 50)
        assert es.unrealized_pnl == pytest.approx((5010.25 - 5000.0) * 50)


async def test_malformed_ticks_are_logged_typed_and_the_pricer_keeps_serving(js, nc, pricer_factory):
    await bus.publish(js, subjects.evt_position("ib-2"), _snapshot(
        "ib-2", m.Broker.IB, ("AAPL", 7, 100.0, 1)))
    await bus.publish(js, subjects.evt_position("nobody"), _snapshot(
        "nobody", m.Broker.IB, ("AAPL", 1, 1.0, 1)))
    vals = await Valuations().start(nc)
    with capture_logs() as logs:
        async with pricer_factory() as ctx:
            await vals.until(lambda v: v.account == "ib-2")
            await nc.publish(subjects.md_tick("AAPL"), b"\xff\x00 not msgpack \x13")
            await nc.publish(subjects.md_bar("AAPL"), m.encode(m.Tick(symbol="MSFT", last=1.0)))
            await js.publish(subjects.md_tick("AAPL"), b"\x81\xa4kind\xa4Tick")  # no symbol
            await nc.publish(subjects.md_tick("AAPL"), m.encode(m.Tick(symbol="AAPL", last=99.5)))
            v = await vals.until(lambda v: v.account == "ib-2" and _price(v, "AAPL") == 99.5)
            assert v.positions[0].qty == 7
            assert ctx.pricer.stats.decode_errors == 2 and ctx.pricer.stats.mismatched == 1
    errors = [e for e in logs if e["event"] == "market_data_decode_error"]
    assert len(errors) == 2 and {e["error"] for e in errors} == {"MessageDecodeError"}
    assert {e["family"] for e in errors} == {"market-data"}
    assert errors[0]["subject"] == "janus.md.tick.AAPL" and errors[0]["size"] == 16
    assert [e["symbol"] for e in logs if e["event"] == "market_data_symbol_mismatch"] == ["MSFT"]
    unknown = [e for e in logs if e["event"] == "unknown_account"]
    assert [e["account"] for e in unknown] == ["nobody"] and unknown[0]["error"] == "UNKNOWN_ACCOUNT"
    assert not any(v.account == "nobody" for v in vals.seen)


async def test_asks_market_data_for_held_symbols_and_survives_no_responders(js, nc, pricer_factory):
    await bus.publish(js, subjects.evt_position("ib-1"), _snapshot(
        "ib-1", m.Broker.IB, ("AAPL", 5, 100.0, 1), (NQ, 1, 15000.0, 20), ("IBM", 0, 1, 1)))
    vals = await Valuations().start(nc)
    with capture_logs() as logs:
        async with pricer_factory() as ctx:
            md = ctx.pricer.md
            md.retry_max_s = 0.5
            # nobody serves janus.rpc.md.subscribe yet: logged, retried, valuations still flow
            await vals.until(lambda v: v.account == "ib-1")
            await asyncio.wait_for(md.unavailable.wait(), 10)
            await nc.publish(subjects.md_tick("AAPL"), m.encode(m.Tick(symbol="AAPL", last=101.0)))
            await vals.until(lambda v: _price(v, "AAPL") == 101.0)

            requests: asyncio.Queue = asyncio.Queue()

            async def gateway(msg):
                request = m.MD_REQUEST.decode(msg.data)
                await requests.put(request)
                failed = {"BAD": "no such contract"} if "BAD" in request.symbols else {}
                await msg.respond(m.encode(m.MarketDataSubscribed(
                    subscribed=[s for s in request.symbols if s not in failed], failed=failed)))

            await nc.subscribe(subjects.RPC_MD_SUBSCRIBE, cb=gateway)
            first = await asyncio.wait_for(requests.get(), 10)
            assert isinstance(first, m.MarketDataSubscribe)
            assert first.symbols == ["AAPL", NQ] and first.requester == "janus-pricer"
            await asyncio.wait_for(md.settled.wait(), 10)

            # a client asks the pricer for MSFT (and for nonsense); the pricer asks the gateway
            reply = await bus.request(nc, "janus.rpc.pricer.subscribe", m.MarketDataSubscribe(
                symbols=["msft", "not a symbol!"], requester="cli-1"), m.MD_REPLY)
            assert reply.subscribed == ["MSFT"] and list(reply.failed) == ["not a symbol!"]
            assert (await asyncio.wait_for(requests.get(), 10)).symbols == ["MSFT"]

            # AAPL is sold out: nobody needs it any more
            await bus.publish(js, subjects.evt_position("ib-1"), _snapshot(
                "ib-1", m.Broker.IB, ("AAPL", 0, 100.0, 1), (NQ, 1, 15000.0, 20)))
            drop = await asyncio.wait_for(requests.get(), 10)
            assert isinstance(drop, m.MarketDataUnsubscribe) and drop.symbols == ["AAPL"]
            await asyncio.wait_for(md.settled.wait(), 10)
            assert md.active == {NQ, "MSFT"}
    unavailable = [e for e in logs if e["event"] == "md_subscribe_unavailable"]
    assert unavailable and unavailable[0]["reason"] in ("RPC_NO_RESPONDERS", "RPC_TIMEOUT")


async def test_a_tick_from_the_future_is_refused_never_frozen_into_the_cache_or_kv(js, nc, pricer_factory):
    await bus.publish(js, subjects.evt_position("ib-1"), _snapshot("ib-1", m.Broker.IB, ("AAPL", 2, 100.0, 1)))
    vals = await Valuations().start(nc)
    hour = 3600 * 1_000_000_000
    with capture_logs() as logs:
        async with pricer_factory() as ctx:
            await vals.until(lambda v: v.account == "ib-1")
            await nc.publish(subjects.md_tick("AAPL"), m.encode(m.Tick(symbol="AAPL", last=999.0,
                                                                       ts=time.time_ns() + hour)))
            await nc.publish(subjects.md_bar("AAPL"), m.encode(m.Bar(
                symbol="AAPL", ts=time.time_ns() + hour, open=1, high=1, low=1, close=998.0)))
            # a truthful tick sent after them is the price, which a frozen cache would have ignored
            await nc.publish(subjects.md_tick("AAPL"), m.encode(m.Tick(symbol="AAPL", last=101.0)))
            await vals.until(lambda v: _price(v, "AAPL") == 101.0)
            assert ctx.pricer.stats.from_future == 2
            assert ctx.pricer.quotes["AAPL"].last == 101.0 and ctx.pricer.quotes["AAPL"].close is None
    kv = await js.key_value("janus_prices")
    stored = QUOTES.decode((await kv.get("AAPL")).value)  # written at the latest on stop
    refused = [e for e in logs if e["event"] == "market_data_from_future"]
    assert [e["error"] for e in refused] == ["FutureTimestamp"] * 2 and refused[0]["ahead_s"] > 3000
    assert all(v.positions[0].price in (None, 101.0) for v in vals.seen)
    assert (stored.last, stored.close) == (101.0, None) and stored.ts <= time.time_ns()


async def test_subscribes_are_bounded_per_caller_and_unsubscribes_always_pass(nats_url, js, nc, pricer_factory,
                                                                             bus_identities):
    # Two identities that may ask the pricer, each on its own inbox prefix.
    alice = await bus.connect(nats_url, "alice", creds=bus_identities.creds("operator"))
    bob = await bus.connect(nats_url, "bob", creds=bus_identities.creds("router"))

    async def ask(conn, request):
        return await bus.request(conn, subjects.RPC_PRICER_SUBSCRIBE, request, m.MD_REPLY, timeout=10)

    try:
        async with pricer_factory(rate_limits={"md_subscribe": {"limit": 2, "window_s": 600}}):
            for symbol in ("AAPL", "MSFT"):
                ok = await ask(alice, m.MarketDataSubscribe(symbols=[symbol], requester="alice"))
                assert isinstance(ok, m.MarketDataSubscribed) and ok.subscribed == [symbol]
            refused = await ask(alice, m.MarketDataSubscribe(symbols=["TSLA"], requester="alice"))
            assert isinstance(refused, m.RpcError) and refused.reason is m.RejectReason.RATE_LIMITED
            assert (refused.limit, refused.window_s, refused.caller) == (2, 600, "operator")
            gone = await ask(alice, m.MarketDataUnsubscribe(symbols=["AAPL"], requester="alice"))
            assert isinstance(gone, m.MarketDataSubscribed)  # not charged: giving back is always fine
            other = await ask(bob, m.MarketDataSubscribe(symbols=["TSLA"], requester="bob"))
            assert isinstance(other, m.MarketDataSubscribed) and other.subscribed == ["TSLA"]
    finally:
        await alice.close()
        await bob.close()
