"""Trading states on real NATS/JetStream: halt, reduce-only and resume through JanusClient and
the `janus` command; the state is an event, so a second replica and a restarted router honour
it, and `janus audit replay` shows it."""

from __future__ import annotations

import asyncio

import pytest
from cli_runner import janus

from janus_client.client import JanusClient
from janus_common import bus, subjects
from janus_common import messages as m

pytestmark = pytest.mark.integration


def buy(account="ib-1", qty=1.0):
    return m.OrderIntent(account=account, symbol="AAPL", side=m.Side.BUY, order_type=m.OrderType.MARKET, qty=qty)


def sell(account="ib-1", qty=1.0):
    return m.OrderIntent(account=account, symbol="AAPL", side=m.Side.SELL, order_type=m.OrderType.MARKET, qty=qty)


@pytest.fixture
async def client(nc):
    return JanusClient(nc)


async def test_halt_refuses_new_orders_passes_cancels_and_resume_routes_again(harness, client):
    working = await client.submit(buy(), timeout=10)
    assert isinstance(working, m.OrderRouted)

    state, cancelled = await client.halt("ib-1", reason="fat finger on desk 3", requested_by="ops@test")
    assert isinstance(state, m.TradingStateChanged) and cancelled is None
    assert (state.state, state.previous, state.requested_by) == (m.TradingState.HALTED, m.TradingState.ACTIVE,
                                                                 "ops@test")
    refused = await client.submit(buy(), timeout=10)
    assert refused.reason is m.RejectReason.ACCOUNT_HALTED and "fat finger on desk 3" in refused.message
    assert isinstance(await client.submit(buy(account="ib-2"), timeout=10), m.OrderRouted)  # only ib-1
    assert isinstance(await client.cancel("ib-1", working.intent_id), m.CancelRouted)
    assert await client.trading_state("ib-1") is m.TradingState.HALTED

    resumed = await client.resume("ib-1", reason="checked", requested_by="ops@test")
    assert (resumed.state, resumed.previous) == (m.TradingState.ACTIVE, m.TradingState.HALTED)
    assert isinstance(await client.submit(buy(), timeout=10), m.OrderRouted)


async def test_reduce_only_lets_a_partial_sell_of_a_long_pass_and_refuses_a_buy(harness, client):
    await bus.publish(harness.js, subjects.evt_position("ib-2"), m.PositionSnapshot(
        account="ib-2", broker=m.Broker.IB,
        positions=[m.Position(symbol="AAPL", asset_class="EQUITY", qty=100.0, avg_cost=150.0)]))
    state, _ = await client.halt("ib-2", reduce_only=True, reason="limits review")
    assert state.state is m.TradingState.REDUCING
    partial = await client.submit(sell(account="ib-2", qty=40), timeout=10)
    assert isinstance(partial, m.OrderRouted) and partial.decision.effect is m.PositionEffect.CLOSE_LONG
    refused = await client.submit(buy(account="ib-2"), timeout=10)
    assert refused.reason is m.RejectReason.REDUCE_ONLY and "position 100" in refused.message
    # 60 left after the working SELL of 40: selling 61 would go short, so it does not reduce only
    crossing = await client.submit(sell(account="ib-2", qty=61), timeout=10)
    assert crossing.reason in (m.RejectReason.REDUCE_ONLY, m.RejectReason.SHORT_NOT_ALLOWED)


async def test_a_second_replica_and_a_restarted_router_honour_the_state(nats_url, registry_peer, router_runner,
                                                                        router_config, client):
    async with router_runner(nats_url, config=router_config):
        async with router_runner(nats_url, config=router_config):
            await client.halt("ib-1", reason="both replicas")
            # max_ack_pending=1 hands consecutive intents to either replica: every one refused
            outcomes = [await client.submit(buy(), timeout=10) for _ in range(6)]
            assert {o.reason for o in outcomes} == {m.RejectReason.ACCOUNT_HALTED}
    # every router stopped; a new one rebuilds the state from EVENTS
    async with router_runner(nats_url, config=router_config):
        assert (await client.submit(buy(), timeout=10)).reason is m.RejectReason.ACCOUNT_HALTED
        await client.resume("ib-1")
    async with router_runner(nats_url, config=router_config):
        assert isinstance(await client.submit(buy(), timeout=10), m.OrderRouted)


async def test_the_janus_commands_change_the_state_and_the_audit_shows_it(harness, nats_url, client):
    code, out = await janus(nats_url, "halt", "ib-1", "--reason", "end of day", "--by", "night-ops")
    assert code == 0, out
    assert "ib-1: ACTIVE -> HALTED (end of day), by night-ops" in out
    assert (await client.submit(buy(), timeout=10)).reason is m.RejectReason.ACCOUNT_HALTED
    code, out = await janus(nats_url, "audit", "replay")
    assert code == 0, out
    assert "trading state    ib-1       HALTED (end of day) by night-ops" in out
    code, out = await janus(nats_url, "resume", "ib-1")
    assert code == 0 and "HALTED -> ACTIVE" in out, out
    assert isinstance(await client.submit(buy(), timeout=10), m.OrderRouted)
    code, out = await janus(nats_url, "halt", "nobody", "--timeout", "5")
    assert code == 5 and "UNKNOWN_ACCOUNT" in out, out


async def test_a_request_for_another_account_than_its_subject_is_refused(harness, client):
    request = m.TradingStateRequest(account="ib-2", state=m.TradingState.HALTED)
    feed = await client.js.subscribe(subjects.evt_control("ib-1"), stream="EVENTS", ordered_consumer=True)
    await bus.publish(harness.js, subjects.control("ib-1"), request, msg_id=request.request_id)
    msg = await feed.next_msg(timeout=10)
    refused = m.CONTROL_EVENTS.decode(msg.data)
    assert isinstance(refused, m.ControlRejected) and refused.reason is m.RejectReason.ACCOUNT_MISMATCH
    assert await client.trading_state("ib-2") is m.TradingState.ACTIVE
    await asyncio.wait_for(feed.unsubscribe(), 5)


async def test_a_command_on_the_intents_subject_is_refused_and_an_order_on_the_control_subject_too(harness, client):
    """Clients may publish on janus.intent.<account>; halting is the operator's, on janus.control."""
    feed = await client.js.subscribe(subjects.evt_control("ib-1"), stream="EVENTS", ordered_consumer=True)
    halt = m.TradingStateRequest(account="ib-1", state=m.TradingState.HALTED, reason="from a client")
    await bus.publish(harness.js, subjects.intent("ib-1"), halt, msg_id=halt.request_id)
    refused = m.CONTROL_EVENTS.decode((await feed.next_msg(timeout=10)).data)
    assert isinstance(refused, m.ControlRejected) and refused.reason is m.RejectReason.WRONG_SUBJECT
    assert refused.request_id == halt.request_id
    assert await client.trading_state("ib-1") is m.TradingState.ACTIVE
    await asyncio.wait_for(feed.unsubscribe(), 5)

    orders = await client.follow_orders("ib-1")
    order = buy()
    await bus.publish(harness.js, subjects.control("ib-1"), order, msg_id=order.intent_id)
    rejected = await orders.next(timeout=10)
    assert isinstance(rejected, m.OrderRejected) and rejected.reason is m.RejectReason.WRONG_SUBJECT
    await orders.close()
    assert isinstance(await client.submit(buy(), timeout=10), m.OrderRouted)  # the intents subject still serves
