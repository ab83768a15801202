"""The Webull gateway against the Webull simulator through the unmodified SDK, on real JetStream."""

from __future__ import annotations

import msgspec
import pytest
from wbgw_helpers import ALIAS, new_id, place, route

from janus_common import bus, subjects
from janus_common import messages as m
from janus_webull_gateway.mapping import client_order_id

from wbgw_fixtures import events, gateway, sdk_cwd, sim  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration


def status(intent, state, leg=0):
    return lambda e: e.intent_id == intent and e.status is state and e.leg == leg


def broker_orders(sim, coid):
    return [o for o in sim.state()["orders"] if o["client_order_id"] == coid]


async def test_market_order_end_to_end(gateway, js, events, sim):
    intent = new_id()
    await route(js, place(intent))
    submitted = await events.next(m.OrderSubmitted, where=lambda e: e.intent_id == intent)
    assert submitted.broker is m.Broker.WEBULL and submitted.broker_order_id and submitted.client_order_id == intent
    fill = await events.next(m.OrderFilled, where=lambda e: e.intent_id == intent)
    assert fill.qty == 10 and fill.price > 0 and fill.symbol == "AAPL" and fill.side is m.BrokerSide.BUY
    done = await events.next(m.OrderStatusChanged, where=status(intent, m.OrderState.FILLED))
    assert done.filled == 10 and done.avg_fill_price == fill.price
    snap = await events.next(m.PositionSnapshot, where=lambda e: any(p.symbol == "AAPL" and p.qty == 10
                                                                     for p in e.positions))
    assert snap.broker is m.Broker.WEBULL
    values = await events.next(m.AccountValues, where=lambda e: e.account == ALIAS)
    assert values.broker is m.Broker.WEBULL and values.cash and values.net_liquidation


async def test_each_order_type_end_to_end(gateway, js, events, sim):
    sim.pause_matching()
    sim.set_price("MSFT", "400.00")
    mkt, lmt, stp, stp_lmt = new_id(), new_id(), new_id(), new_id()
    await route(js, place(mkt, symbol="MSFT", qty=20.0))
    await events.next(m.OrderStatusChanged, where=status(mkt, m.OrderState.SUBMITTED))
    sim.match_now()
    await events.next(m.OrderStatusChanged, where=status(mkt, m.OrderState.FILLED))
    await route(js, place(lmt, symbol="MSFT", order_type=m.OrderType.LIMIT, limit_price=395.00, tif=m.Tif.GTC))
    await route(js, place(stp, symbol="MSFT", order_type=m.OrderType.STOP, stop_price=405.00))
    await route(js, place(stp_lmt, symbol="MSFT", side=m.BrokerSide.SELL, qty=5.0, order_type=m.OrderType.STOP_LIMIT,
                          stop_price=396.00, limit_price=395.50))
    for intent in (lmt, stp, stp_lmt):
        await events.next(m.OrderStatusChanged, where=status(intent, m.OrderState.SUBMITTED))
    sim.match_now()
    assert all(o["status"] == "SUBMITTED" for c in (lmt, stp, stp_lmt) for o in broker_orders(sim, c))

    sim.set_price("MSFT", "405.50")  # the buy stop is touched
    sim.match_now()
    fill = await events.next(m.OrderFilled, where=lambda e: e.intent_id == stp)
    assert fill.price >= 405.0
    await events.next(m.OrderStatusChanged, where=status(stp, m.OrderState.FILLED))
    sim.set_price("MSFT", "394.00")  # the limit buy is marketable; the sell stop triggers (bid below its limit)
    sim.match_now()
    await events.next(m.OrderStatusChanged, where=status(lmt, m.OrderState.FILLED))
    sim.set_price("MSFT", "396.50")  # the stop-limit's limit is marketable again
    sim.match_now()
    fill = await events.next(m.OrderFilled, where=lambda e: e.intent_id == stp_lmt)
    assert fill.side is m.BrokerSide.SELL and fill.price >= 395.50 and fill.qty == 5
    await events.next(m.OrderStatusChanged, where=status(stp_lmt, m.OrderState.FILLED))


async def test_partial_fills_each_published_once(gateway, js, events, sim):
    sim.pause_matching()
    intent = new_id()
    await route(js, place(intent, qty=250.0))
    await events.next(m.OrderStatusChanged, where=status(intent, m.OrderState.SUBMITTED))
    for _ in range(3):
        sim.match_now()
    await events.next(m.OrderStatusChanged, where=status(intent, m.OrderState.FILLED))
    fills = [e for e in events.drain() if isinstance(e, m.OrderFilled) and e.intent_id == intent]
    assert sum(f.qty for f in fills) == 250 and len({f.fill_id for f in fills}) == len(fills)
    statuses = [e for e in events.seen if isinstance(e, m.OrderStatusChanged) and e.intent_id == intent]
    assert [e.filled for e in statuses] == sorted(e.filled for e in statuses)
    assert [e.status for e in statuses].count(m.OrderState.FILLED) == 1


async def test_short_and_crossing_zero(gateway, js, events, sim):
    sim.set_price("NVDA", "120.00")
    buy = new_id()
    await route(js, place(buy, symbol="NVDA", qty=10.0))
    await events.next(m.OrderStatusChanged, where=status(buy, m.OrderState.FILLED))
    # The router split a SELL 15 against a long of 10: leg 0 SELL 10 closes, leg 1 SHORT 5 opens.
    cross = new_id()
    await route(js, place(cross, symbol="NVDA", side=m.BrokerSide.SELL, qty=10.0))
    await events.next(m.OrderStatusChanged, where=status(cross, m.OrderState.FILLED, leg=0))
    await route(js, place(cross, leg=1, symbol="NVDA", side=m.BrokerSide.SHORT, qty=5.0))
    sub1 = await events.next(m.OrderSubmitted, where=lambda e: e.intent_id == cross and e.leg == 1)
    assert sub1.client_order_id == client_order_id(f"{cross}#1") != cross and sub1.client_order_id.isalnum()
    fill1 = await events.next(m.OrderFilled, where=lambda e: e.intent_id == cross and e.leg == 1)
    assert fill1.side is m.BrokerSide.SHORT and fill1.qty == 5
    await events.next(m.OrderStatusChanged, where=status(cross, m.OrderState.FILLED, leg=1))
    await events.next(m.PositionSnapshot, where=lambda e: any(p.symbol == "NVDA" and p.qty == -5 for p in e.positions))
    # Adding to the short, then covering with BUY.
    more = new_id()
    await route(js, place(more, symbol="NVDA", side=m.BrokerSide.SHORT, qty=3.0))
    await events.next(m.OrderStatusChanged, where=status(more, m.OrderState.FILLED))
    cover = new_id()
    await route(js, place(cover, symbol="NVDA", qty=8.0))
    await events.next(m.OrderStatusChanged, where=status(cover, m.OrderState.FILLED))
    await events.next(m.PositionSnapshot, where=lambda e: not any(p.symbol == "NVDA" for p in e.positions))


async def test_crossing_zero_legs_sent_together_open_the_short_only_after_the_close(gateway, js, events, sim):
    buy = new_id()
    await route(js, place(buy, symbol="AMZN", qty=10.0))
    await events.next(m.OrderStatusChanged, where=status(buy, m.OrderState.FILLED))
    cross = new_id()  # as the router sends them: both legs at once
    await route(js, place(cross, symbol="AMZN", side=m.BrokerSide.SELL, qty=10.0, order_type=m.OrderType.LIMIT,
                          limit_price=1.00))
    await route(js, place(cross, leg=1, symbol="AMZN", side=m.BrokerSide.SHORT, qty=4.0))
    close = await events.next(m.OrderStatusChanged, where=status(cross, m.OrderState.FILLED, leg=0))
    opened = await events.next(m.OrderStatusChanged, where=status(cross, m.OrderState.FILLED, leg=1))
    assert close.ts < opened.ts
    assert not [e for e in events.drain() if isinstance(e, m.OrderBrokerRejected) and e.intent_id == cross]
    await events.next(m.PositionSnapshot, where=lambda e: any(p.symbol == "AMZN" and p.qty == -4 for p in e.positions))


async def test_the_opening_leg_is_refused_when_the_close_does_not_fill(gateway, js, events, sim):
    buy = new_id()
    await route(js, place(buy, symbol="META", qty=5.0))
    await events.next(m.OrderStatusChanged, where=status(buy, m.OrderState.FILLED))
    cross = new_id()
    await route(js, place(cross, symbol="META", side=m.BrokerSide.SELL, qty=5.0, order_type=m.OrderType.LIMIT,
                          limit_price=9999.00))  # rests: never marketable
    await route(js, place(cross, leg=1, symbol="META", side=m.BrokerSide.SHORT, qty=2.0))
    await events.next(m.OrderSubmitted, where=lambda e: e.intent_id == cross and e.leg == 0)
    await route(js, m.CancelOrder(intent_id=cross, account="wb-1", broker=m.Broker.WEBULL))
    refused = await events.next(m.OrderGatewayRefused, where=lambda e: e.intent_id == cross and e.leg == 1)
    assert refused.reason == "PRIOR_LEG_NOT_FILLED"


async def test_broker_rules_reject_once(gateway, js, events, sim):
    not_shortable = new_id()
    await route(js, place(not_shortable, symbol="TSLA", side=m.BrokerSide.SHORT, qty=1.0))
    rej = await events.next(m.OrderBrokerRejected, where=lambda e: e.intent_id == not_shortable)
    assert rej.code == "SYMBOL_NOT_SHORTABLE"
    naked_sell = new_id()
    await route(js, place(naked_sell, symbol="IBM", side=m.BrokerSide.SELL, qty=1.0))
    rej = await events.next(m.OrderBrokerRejected, where=lambda e: e.intent_id == naked_sell)
    assert rej.code == "SELL_QUANTITY_EXCEEDS_POSITION"
    fractional = new_id()
    await route(js, place(fractional, qty=1.5))
    # Janus cannot express it for Webull: the gateway refuses it, it is never sent.
    refused = await events.next(m.OrderGatewayRefused, where=lambda e: e.intent_id == fractional)
    assert refused.reason == "INVALID_QTY"
    marker = new_id()
    await route(js, place(marker, qty=1.0))
    await events.next(m.OrderStatusChanged, where=status(marker, m.OrderState.FILLED))
    # The REST 400 and the PLACE_FAILED stream event said the same thing: one rejection each.
    rejections = [e for e in events.drain() if isinstance(e, m.OrderBrokerRejected)]
    assert sorted(e.intent_id for e in rejections) == sorted([not_shortable, naked_sell])
    assert [e.intent_id for e in events.seen if isinstance(e, m.OrderGatewayRefused)] == [fractional]


async def test_cancel(gateway, js, events, sim):
    resting = new_id()
    await route(js, place(resting, order_type=m.OrderType.LIMIT, limit_price=100.00, tif=m.Tif.GTC))
    await events.next(m.OrderStatusChanged, where=status(resting, m.OrderState.SUBMITTED))
    await route(js, m.CancelOrder(intent_id=resting, account=ALIAS, broker=m.Broker.WEBULL))
    cancelled = await events.next(m.OrderCancelled, where=lambda e: e.intent_id == resting)
    assert cancelled.filled == 0
    await events.next(m.OrderStatusChanged, where=status(resting, m.OrderState.CANCELLED))
    assert broker_orders(sim, resting)[0]["status"] == "CANCELLED"


async def test_malformed_route_message_gets_an_error_event(gateway, js, nc, events, sim):
    intent = new_id()
    dead = await nc.subscribe(subjects.dlq(f"webull-gateway-{ALIAS}"))
    bad = msgspec.msgpack.encode({"kind": "PlaceOrder", "intent_id": intent, "account": ALIAS, "qty": "lots"})
    await js.publish(subjects.route("webull", ALIAS), bad)
    rej = await events.next(m.OrderGatewayRefused, where=lambda e: e.intent_id == intent)
    assert rej.reason == "MALFORMED"
    letter = m.DEAD_LETTERS.decode((await dead.next_msg(timeout=5)).data)
    assert letter.data == bad
    await js.publish(subjects.route("webull", ALIAS), b"\xc1 not msgpack")
    marker = new_id()
    await route(js, place(marker, qty=1.0))
    await events.next(m.OrderStatusChanged, where=status(marker, m.OrderState.FILLED))


async def test_lookup_and_sync_rpcs(gateway, nc, js, events, sim):
    reply = await bus.request(nc, subjects.rpc_lookup("webull"),
                              m.LookupRequest(symbol="AAPL", asset_class="EQUITY"), m.LOOKUP_REPLY)
    assert isinstance(reply, m.LookupUnique)
    assert reply.candidate.webull.symbol == "AAPL" and reply.candidate.webull.instrument_id
    missing = await bus.request(nc, subjects.rpc_lookup("webull"),
                                m.LookupRequest(symbol="NOPE", asset_class="EQUITY"), m.LOOKUP_REPLY)
    assert isinstance(missing, m.LookupNotFound)
    resting = new_id()
    await route(js, place(resting, order_type=m.OrderType.LIMIT, limit_price=50.00, tif=m.Tif.GTC))
    await events.next(m.OrderStatusChanged, where=status(resting, m.OrderState.SUBMITTED))
    done = await bus.request(nc, subjects.rpc_sync(ALIAS), m.SyncRequest(account=ALIAS), m.SYNC_REPLY)
    assert isinstance(done, m.SyncDone) and done.open_orders == 1


async def test_sdk_side_effects_tamed(gateway, js, events, sim, capfd, tmp_path):
    intent = new_id()
    await route(js, place(intent, symbol="IBM", side=m.BrokerSide.SELL, qty=1.0))  # an error answer too
    await events.next(m.OrderBrokerRejected, where=lambda e: e.intent_id == intent)
    ok = new_id()
    await route(js, place(ok, qty=1.0))
    await events.next(m.OrderStatusChanged, where=status(ok, m.OrderState.FILLED))
    out, err = capfd.readouterr()
    for secret in (sim.app_secret, "x-signature", "Signature:", "gRPC Request Details"):
        assert secret not in out and secret not in err
    # Nothing in the working directory (the SDK's default log file and ./conf token dir).
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "tokens") == []


async def test_order_for_another_account_is_refused_not_placed(gateway, js, events, sim):
    intent = new_id()
    await route(js, place(intent, account="wb-other"))  # on our subject, addressed elsewhere
    rej = await events.next(m.RouteRefused, where=lambda e: e.named_intent_id == intent)
    assert rej.reason == "ACCOUNT_MISMATCH" and rej.account == ALIAS and broker_orders(sim, intent) == []
