"""Restarts and failures: the gateway never places an order twice, never loses or doubles a
fill, and comes back by itself after the broker drops it."""

from __future__ import annotations

import asyncio

import pytest
from contract_months import front
from ibgw_helpers import new_id, place, route, running_gateway

from janus_common import bus, subjects
from janus_common import messages as m

pytestmark = pytest.mark.integration


def ready(e) -> bool:
    return e.state is m.ConnectionState.READY


async def test_gateway_restart_mid_order_no_duplicate_order_no_lost_or_doubled_fill(js, nats_url, sim, events):
    intent = new_id()
    order = place(intent, order_type=m.OrderType.LIMIT, limit_price=150.00, qty=20.0)
    async with running_gateway(nats_url, sim.port):
        await events.next(m.GatewayConnection, where=ready, timeout=20)
        await route(js, order)
        await events.next(m.OrderStatusChanged, where=lambda e: e.intent_id == intent and e.status is m.OrderState.SUBMITTED)
    # The gateway is gone. The order fills while nobody listens…
    sim.set_price("AAPL", 149.00)
    [working] = [o for o in sim.orders.values() if o.order_ref == intent]
    assert working.status == "Filled"
    # …and the router's message arrives again (a redelivery after a crash).
    await bus.publish(js, subjects.route("ib", "ib-1"), order, msg_id=f"{intent}-again")
    async with running_gateway(nats_url, sim.port):
        await events.next(m.GatewayConnection, where=ready, timeout=20)
        done = await events.next(m.OrderStatusChanged,
                                 where=lambda e: e.intent_id == intent and e.status is m.OrderState.FILLED)
        assert done.filled == 20  # what IB reports for the completed order, not 0
        marker = new_id()
        await route(js, place(marker))  # processed after the redelivered message
        await events.next(m.OrderStatusChanged, where=lambda e: e.intent_id == marker and e.status is m.OrderState.FILLED)
    fills = [e for e in events.drain() if isinstance(e, m.OrderFilled) and e.intent_id == intent]
    assert sum(f.qty for f in fills) == 20 and len({f.fill_id for f in fills}) == len(fills)
    assert len([o for o in sim.orders.values() if o.order_ref == intent]) == 1  # placed once
    # A third start replays history and publishes nothing new for the order.
    before = len(events.drain())
    async with running_gateway(nats_url, sim.port):
        await events.next(m.GatewayConnection, where=ready, timeout=20)
    repeated = [e for e in events.drain()[before:] if getattr(e, "intent_id", None) == intent]
    assert repeated == []


async def test_broker_disconnect_and_full_restart_reconnect_reconcile_resubscribe(gateway, js, events, sim, nc):
    ticks: asyncio.Queue = asyncio.Queue()

    async def on_tick(msg):
        await ticks.put(m.MARKET_DATA.decode(msg.data))

    await nc.subscribe(subjects.md_tick("AAPL"), cb=on_tick)
    reply = await bus.request(nc, subjects.RPC_MD_SUBSCRIBE, m.MarketDataSubscribe(symbols=["AAPL"], requester="t"),
                              m.MD_REPLY, timeout=10)
    assert reply.subscribed == ["AAPL"]
    await asyncio.wait_for(ticks.get(), 10)

    sim.connection_lost()
    await events.next(m.GatewayConnection, where=lambda e: e.state is m.ConnectionState.DEGRADED and e.code == 1100)
    sim.connection_restored()
    await events.next(m.GatewayConnection, where=lambda e: ready(e) and e.code == 1102)

    await sim.restart(downtime=0.5)
    await events.next(m.GatewayConnection, where=lambda e: e.state is m.ConnectionState.DISCONNECTED, timeout=10)
    await events.next(m.GatewayConnection, where=ready, timeout=30)
    while not ticks.empty():
        ticks.get_nowait()
    tick = await asyncio.wait_for(ticks.get(), 10)  # resubscribed after the reconnect
    assert tick.symbol == "AAPL" and tick.bid and tick.ask

    intent = new_id()
    await route(js, place(intent))
    await events.next(m.OrderStatusChanged, where=lambda e: e.intent_id == intent and e.status is m.OrderState.FILLED)


async def test_sync_shows_another_clients_order(gateway, nc, events, sim):
    theirs = sim.external_order("MSFT", "BUY", 7, "LMT", lmt=300.00, account="DU1000001", order_ref="tws-window")
    reply = await bus.request(nc, subjects.rpc_sync("ib-1"), m.SyncRequest(account="ib-1"), m.SYNC_REPLY, timeout=10)
    assert isinstance(reply, m.SyncDone) and reply.open_orders >= 1
    seen = await events.next(m.ExternalOrderSeen, where=lambda e: e.broker_order_id == str(theirs.perm_id))
    assert seen.qty == 7 and seen.side is m.BrokerSide.BUY and seen.account == "ib-1"


async def test_lookups_unique_ambiguous_and_none(gateway, nc):
    async def lookup(symbol, asset_class, **kw):
        return await bus.request(nc, subjects.rpc_lookup("ib"), m.LookupRequest(symbol=symbol, asset_class=asset_class, **kw),
                                 m.LOOKUP_REPLY, timeout=10)

    aapl = await lookup("AAPL", "EQUITY")
    assert isinstance(aapl, m.LookupUnique) and aapl.candidate.ib.con_id == 265598
    brk = await lookup("BRK.B", "EQUITY")
    assert isinstance(brk, m.LookupUnique) and brk.candidate.ib.symbol == "BRK B"
    nq_month = front("NQ", 1)
    nq = await lookup(nq_month.canonical, "FUTURE")
    assert isinstance(nq, m.LookupUnique)
    assert (nq.candidate.ib.contract_month, nq.candidate.ib.last_trade_date, nq.candidate.ib.multiplier) == (
        nq_month.yyyymm, nq_month.last_trade_date, 20.0)
    shop_cad = await lookup("SHOP", "EQUITY", currency="")
    assert isinstance(shop_cad, m.LookupAmbiguous) and len(shop_cad.candidates) == 2
    assert isinstance(await lookup("SHOP", "EQUITY"), m.LookupUnique)  # the default filter: US + SMART + USD
    assert isinstance(await lookup("ZZZZ", "EQUITY"), m.LookupNotFound)
    bad = await lookup(f"nq {nq_month.canonical[3:]}", "FUTURE")
    assert isinstance(bad, m.RpcError) and bad.reason is m.RejectReason.INVALID_SYMBOL
    burst = await asyncio.gather(*(lookup(s, "EQUITY") for s in ["AAPL", "MSFT", "SPY", "QQQ", "NVDA"] * 6))
    assert all(isinstance(r, m.LookupUnique) for r in burst)


async def test_market_data_entitlements(gateway, nc, sim):
    sim.require_subscription("IBM")
    sim.delayed_only("JPM")
    ticks: asyncio.Queue = asyncio.Queue()

    async def on_tick(msg):
        await ticks.put(m.MARKET_DATA.decode(msg.data))

    await nc.subscribe(subjects.md_tick("JPM"), cb=on_tick)
    reply = await bus.request(nc, subjects.RPC_MD_SUBSCRIBE,
                              m.MarketDataSubscribe(symbols=["IBM", "JPM", "NOPE"], requester="pricer"),
                              m.MD_REPLY, timeout=15)
    assert "354" in reply.failed["IBM"] and "NOPE" in reply.failed and reply.subscribed == ["JPM"]
    tick = await asyncio.wait_for(ticks.get(), 10)
    assert tick.delayed and tick.symbol == "JPM"
    gone = await bus.request(nc, subjects.RPC_MD_SUBSCRIBE,
                             m.MarketDataUnsubscribe(symbols=["JPM"], requester="pricer"), m.MD_REPLY, timeout=10)
    assert gone.subscribed == []


async def test_a_hung_tws_is_treated_as_down_and_reconnected(gateway, js, events, sim):
    sim.freeze()  # the socket stays open; reqCurrentTime goes unanswered
    await events.next(m.GatewayConnection, where=lambda e: e.state is m.ConnectionState.DISCONNECTED, timeout=15)
    sim.freeze(False)
    await events.next(m.GatewayConnection, where=ready, timeout=30)
    intent = new_id()
    await route(js, place(intent))
    await events.next(m.OrderStatusChanged, where=lambda e: e.intent_id == intent and e.status is m.OrderState.FILLED)


async def test_lookups_and_market_data_subscribes_are_bounded_per_caller(nats_url, nc, sim, events, bus_identities):
    limits = {"broker_lookups": {"limit": 1, "window_s": 600}, "md_subscribe": {"limit": 1, "window_s": 600}}
    # Identities of the bus that may ask these: the operator, and the registry (look-ups) and
    # the pricer (subscribes), each on its own inbox prefix.
    alice = await bus.connect(nats_url, "alice", creds=bus_identities.creds("operator"))
    bob = await bus.connect(nats_url, "bob", creds=bus_identities.creds("registry"))
    carol = await bus.connect(nats_url, "carol", creds=bus_identities.creds("pricer"))

    async def lookup(conn, symbol):
        return await bus.request(conn, subjects.rpc_lookup("ib"), m.LookupRequest(symbol=symbol, asset_class="EQUITY"),
                                 m.LOOKUP_REPLY, timeout=10)

    async def subscribe(conn, symbol):
        return await bus.request(conn, subjects.RPC_MD_SUBSCRIBE, m.MarketDataSubscribe(symbols=[symbol], requester="t"),
                                 m.MD_REPLY, timeout=10)

    try:
        async with running_gateway(nats_url, sim.port, rate_limits=limits):
            await events.next(m.GatewayConnection, where=ready, timeout=20)
            assert isinstance(await lookup(alice, "AAPL"), m.LookupUnique)
            refused = await lookup(alice, "MSFT")
            assert isinstance(refused, m.RpcError) and refused.reason is m.RejectReason.RATE_LIMITED
            assert (refused.limit, refused.window_s, refused.caller) == (1, 600, "operator")
            assert isinstance(await lookup(bob, "MSFT"), m.LookupUnique)

            assert isinstance(await subscribe(alice, "AAPL"), m.MarketDataSubscribed)
            refused = await subscribe(alice, "MSFT")
            assert isinstance(refused, m.RpcError) and refused.reason is m.RejectReason.RATE_LIMITED
            assert refused.caller == "operator"
            assert isinstance(await subscribe(carol, "MSFT"), m.MarketDataSubscribed)
    finally:
        await alice.close()
        await bob.close()
        await carol.close()
