"""The pre-trade checks in the running router, on real NATS/JetStream, with the SHIPPED default
limits: reference prices come from the pricer's KV bucket (written here the way the pricer
writes it), the position and working orders from EVENTS; a refused intent sends nothing to
the broker."""

from __future__ import annotations

import asyncio
import time

import pytest

from janus_common import bus, subjects
from janus_common import messages as m
from janus_common.prices import Quote
from janus_common.streams import KV_PRICES

from contract_months import front

pytestmark = pytest.mark.integration


ES_FRONT = front("ES").canonical


@pytest.fixture
def router_config(router_config) -> dict:
    """The routing tests' accounts with the SHIPPED limits (no top-level override but a short
    first-price wait), and tighter ones on ib-2 and wb-1 to reach them quickly."""
    accounts = router_config["accounts"]
    return {"accounts": {
        **accounts,
        "ib-2": {**accounts["ib-2"], "risk": {"max_orders_per_minute": 3, "max_open_orders": 5}},
        "wb-1": {**accounts["wb-1"], "risk": {"max_open_orders": 2, "max_position": 300}}},
        "risk": {"reference_wait_s": 0.5}}


@pytest.fixture(autouse=True)
def instruments(registry_peer):
    aapl = registry_peer.records["AAPL"]
    registry_peer.records["AAPL"] = m.RegistryRecord(
        symbol="AAPL", asset_class="EQUITY", ib=m.IbContract(**{**_fields(aapl.ib), "min_tick": 0.01}),
        webull=aapl.webull)
    registry_peer.records[ES_FRONT] = m.RegistryRecord(
        symbol=ES_FRONT, asset_class="FUTURE", exchange="CME",
        ib=m.IbContract(symbol="ES", sec_type="FUT", exchange="CME", con_id=5002, multiplier=50.0,
                        contract_month="20" + ES_FRONT[3:], min_tick=0.25))


def _fields(struct) -> dict:
    return {f: getattr(struct, f) for f in struct.__struct_fields__}


async def price(js, symbol: str, last: float, age_s: float = 0.0) -> None:
    kv = await js.key_value(KV_PRICES)
    ts = time.time_ns() - int(age_s * 1e9)
    await kv.put(symbol, m.encode(Quote(symbol=symbol, source=m.Broker.IB, last=last, last_ts=ts, ts=ts)))


def intent(account="ib-1", symbol="AAPL", side=m.Side.BUY, qty=1.0, **kw):
    kind = m.OrderType.LIMIT if "limit_price" in kw else m.OrderType.MARKET
    return m.OrderIntent(account=account, symbol=symbol, side=side, order_type=kw.pop("order_type", kind),
                         qty=qty, **kw)


async def decide(h, i):
    await h.send(i)
    return await h.outcome(i.intent_id)


async def no_route(h) -> None:
    """Nothing reached ROUTES: the stream is the gateways' only input."""
    assert (await h.js.stream_info("ROUTES")).state.messages == 0


async def test_the_issue_orders_are_refused_with_their_figures_and_nothing_reaches_the_broker(harness):
    await price(harness.js, "AAPL", 200.0)
    await price(harness.js, ES_FRONT, 6000.0)
    cases = [
        (intent(qty=100_000_000), m.RejectReason.RISK_MAX_QTY, ["100,000,000", "10,000"]),
        (intent(qty=10, limit_price=1e308), m.RejectReason.PRICE_OUT_OF_BAND, ["1e+308", "200"]),
        (intent(qty=10, limit_price=2000.0), m.RejectReason.PRICE_OUT_OF_BAND, ["900 %", "200", "10 %"]),
        (intent(qty=10, limit_price=200.005), m.RejectReason.PRICE_NOT_ON_TICK, ["200.005", "0.01"]),
        (intent(qty=5000, limit_price=201.0), m.RejectReason.RISK_MAX_NOTIONAL, ["1,005,000", "1,000,000"]),
        (intent(symbol=ES_FRONT, qty=1.5), m.RejectReason.FRACTIONAL_QTY, ["1.5", "whole contracts"]),
        (intent(symbol=ES_FRONT, qty=4), m.RejectReason.RISK_MAX_NOTIONAL, ["1,200,000", "50"]),
        (intent(qty=float("nan")), m.RejectReason.INVALID_QTY, ["nan"]),
    ]
    for i, reason, figures in cases:
        got = await decide(harness, i)
        assert isinstance(got, m.OrderRejected) and got.reason is reason, (i, got)
        for figure in figures:
            assert figure in got.message, (figure, got.message)
    await no_route(harness)
    ok = await decide(harness, intent(qty=10, limit_price=199.5))
    assert isinstance(ok, m.OrderRouted)


async def test_no_fresh_price_is_refused_unless_one_arrives_within_the_wait(harness):
    got = await decide(harness, intent(qty=1))
    assert got.reason is m.RejectReason.NO_REFERENCE_PRICE and "there is none at all" in got.message
    await price(harness.js, "AAPL", 200.0, age_s=120)
    got = await decide(harness, intent(qty=1))
    assert got.reason is m.RejectReason.NO_REFERENCE_PRICE and "60 s" in got.message
    await no_route(harness)

    # The router asks the pricer for the symbol and waits for its price: a fresh one written
    # while the router waits lets the order through.
    asked = asyncio.Event()

    async def pricer(msg):
        request = m.MD_REQUEST.decode(msg.data)
        assert isinstance(request, m.MarketDataSubscribe) and request.symbols == ["AAPL"]
        asked.set()
        await msg.respond(m.encode(m.MarketDataSubscribed(subscribed=["AAPL"])))

    await harness.nc.subscribe(subjects.RPC_PRICER_SUBSCRIBE, cb=pricer)
    late = intent(qty=1)
    await harness.send(late)
    await asyncio.wait_for(asked.wait(), 5)
    await price(harness.js, "AAPL", 200.0)
    assert isinstance(await harness.outcome(late.intent_id), m.OrderRouted)


async def test_rate_and_open_orders_are_counted_from_the_events(harness):
    await price(harness.js, "AAPL", 200.0)
    for _ in range(3):  # ib-2: 3 orders a minute
        assert isinstance(await decide(harness, intent(account="ib-2")), m.OrderRouted)
    got = await decide(harness, intent(account="ib-2"))
    assert got.reason is m.RejectReason.RATE_LIMITED and "routed 3 orders in the last 60 s" in got.message
    for _ in range(2):  # wb-1: 2 working orders at most (nothing fills them here)
        assert isinstance(await decide(harness, intent(account="wb-1")), m.OrderRouted)
    got = await decide(harness, intent(account="wb-1"))
    assert got.reason is m.RejectReason.RISK_MAX_OPEN_ORDERS and "has 2 working orders" in got.message


async def test_max_position_counts_the_broker_position_and_working_orders(harness):
    await price(harness.js, "AAPL", 200.0)
    await bus.publish(harness.js, subjects.evt_position("wb-1"), m.PositionSnapshot(
        account="wb-1", broker=m.Broker.WEBULL,
        positions=[m.Position(symbol="AAPL", asset_class="EQUITY", qty=250.0, avg_cost=100.0)]))
    assert isinstance(await decide(harness, intent(account="wb-1", qty=40)), m.OrderRouted)
    got = await decide(harness, intent(account="wb-1", qty=11))  # 250 + 40 working + 11 = 301 > 300
    assert got.reason is m.RejectReason.RISK_MAX_POSITION and "to 301" in got.message
    assert isinstance(await decide(harness, intent(account="wb-1", qty=10)), m.OrderRouted)  # exactly 300
