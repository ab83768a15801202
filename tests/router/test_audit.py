"""`janus audit replay` over a real history: intents through the router, orders through the IB
gateway against the IB simulator; then a tampered history is caught."""

from __future__ import annotations

import asyncio
import json
import sysconfig
from pathlib import Path

import pytest
from cli_runner import janus

from janus_client.client import JanusClient
from janus_common import audit, bus, projections, subjects
from janus_common import messages as m

pytestmark = pytest.mark.integration
JANUS = Path(sysconfig.get_path("scripts")) / "janus"


async def test_audit_replay_is_clean_and_repeatable_then_catches_a_second_outcome(harness, nats_url, js):
    async with await JanusClient.connect(nats_url) as client:
        routed = await client.submit(m.OrderIntent(account="ib-1", symbol="AAPL", side=m.Side.BUY,
                                                   order_type=m.OrderType.MARKET, qty=5))
        await client.submit(m.OrderIntent(account="ib-2", symbol="AAPL", side=m.Side.SELL,
                                          order_type=m.OrderType.MARKET, qty=5))  # rejected: no shorts
    # The broker's side of the story, as a gateway would tell it.
    for event, msg_id in (
        (m.OrderSubmitted(leg=0, account="ib-1", intent_id=routed.intent_id, broker=m.Broker.IB, broker_order_id="7"), "s"),
        (m.OrderFilled(leg=0, account="ib-1", intent_id=routed.intent_id, broker=m.Broker.IB, fill_id="e1", symbol="AAPL",
                       side=m.BrokerSide.BUY, qty=5, price=190.0), "f"),
        (m.OrderStatusChanged(leg=0, account="ib-1", intent_id=routed.intent_id, broker=m.Broker.IB,
                              status=m.OrderState.FILLED, filled=5), "st"),
        (m.PositionSnapshot(account="ib-1", broker=m.Broker.IB, positions=[
            m.Position(symbol="AAPL", asset_class="EQUITY", qty=5, avg_cost=190.0)]), "p"),
    ):
        subject = subjects.evt_position("ib-1") if isinstance(event, m.PositionSnapshot) else subjects.evt_order("ib-1")
        await bus.publish(js, subject, event, msg_id=msg_id)

    code, out = await janus(nats_url, "--json", "audit", "replay")
    assert code == 0, out
    result = json.loads(out)
    first = result["report"]
    assert result["replays_agree"] and first["violations"] == [] and first["position_differences"] == []
    assert (first["routed"], first["rejected"], first["open_orders"]) == (1, 1, 0)
    code, out = await janus(nats_url, "--json", "audit", "replay")
    assert json.loads(out)["report"]["state_hash"] == first["state_hash"]  # replaying twice: same state

    code, out = await janus(nats_url, "--json", "audit", "replay", "--account", "ib-2")
    assert json.loads(out)["report"]["intents"] == 1

    # Tampering: a second outcome for the same intent, and a fill the broker never reported.
    await bus.publish(js, subjects.evt_order("ib-1"), m.OrderRejected(
        account="ib-1", intent_id=routed.intent_id, reason=m.RejectReason.INVALID_QTY, message="forged"))
    await bus.publish(js, subjects.evt_order("ib-1"), m.OrderFilled(leg=0,
        account="ib-1", intent_id=routed.intent_id, broker=m.Broker.IB, fill_id="e-forged", symbol="AAPL",
        side=m.BrokerSide.BUY, qty=1, price=1.0))
    code, out = await janus(nats_url, "audit", "replay")
    assert code == 6
    assert "one_outcome" in out and "fills_match" in out and "Janus fills imply 6" in out


def test_state_hash_ignores_map_order():
    events = [m.OrderRejected(account="a", intent_id=f"i{n}", reason=m.RejectReason.INVALID_QTY, message="x")
              for n in range(20)]
    assert audit.state_hash(projections.replay(events)) == audit.state_hash(projections.replay(reversed(events)))


async def test_janus_events_lists_and_filters(harness, nats_url):
    async with await JanusClient.connect(nats_url) as client:
        routed = await client.submit(m.OrderIntent(account="ib-1", symbol="AAPL", side=m.Side.BUY,
                                                   order_type=m.OrderType.MARKET, qty=1))
        await client.submit(m.OrderIntent(account="ib-1", symbol="NOPE", side=m.Side.BUY,
                                          order_type=m.OrderType.MARKET, qty=1))
    code, out = await janus(nats_url, "--json", "events", "--account", "ib-1", "--kind", "OrderRouted")
    assert code == 0
    [only] = [json.loads(line) for line in out.splitlines()]
    assert only["kind"] == "OrderRouted" and only["intent_id"] == routed.intent_id
    code, out = await janus(nats_url, "events", "--intent", routed.intent_id)
    assert code == 0 and len(out.splitlines()) == 1 and "OrderRouted" in out and "OPEN_LONG" in out
    code, out = await janus(nats_url, "events", "--last", "1")
    assert "UNKNOWN_SYMBOL" in out and len(out.splitlines()) == 1


async def test_janus_events_follow(harness, nats_url):
    proc = await asyncio.create_subprocess_exec(
        str(JANUS), "--nats-url", nats_url, "--json", "events", "--follow", "--kind", "OrderRejected",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert b"following" in await asyncio.wait_for(proc.stderr.readline(), 30)  # subscribed
        async with await JanusClient.connect(nats_url) as client:
            await client.submit(m.OrderIntent(account="ib-1", symbol="AAPL", side=m.Side.BUY,
                                              order_type=m.OrderType.MARKET, qty=1))
            refused = await client.submit(m.OrderIntent(account="ib-1", symbol="AAPL", side=m.Side.BUY,
                                                        order_type=m.OrderType.MARKET, qty=-1))
        seen = json.loads(await asyncio.wait_for(proc.stdout.readline(), 10))
        assert seen["kind"] == "OrderRejected" and seen["intent_id"] == refused.intent_id
    finally:
        proc.terminate()
        await proc.wait()


async def test_audit_replay_bad_input_gets_a_clear_exit_code(nc, nats_url):
    """`nc` leaves JetStream empty: no EVENTS stream until a service creates it."""
    code, _ = await janus(nats_url, "audit", "replay", "--since", "yesterday-ish")
    assert code == 2
    code, _ = await janus(nats_url, "audit", "replay")
    assert code == 1  # nothing recorded here, not a crash
    code, _ = await janus("nats://127.0.0.1:1", "audit", "replay")
    assert code == 3


async def test_janus_events_bad_input_gets_a_clear_exit_code(nc, nats_url):
    assert (await janus(nats_url, "events", "--since", "soon"))[0] == 2
    assert (await janus(nats_url, "events", "--account", "no such.alias"))[0] == 2
    assert (await janus(nats_url, "events"))[0] == 1  # no EVENTS stream yet


async def test_audit_replay_names_an_intent_that_never_got_an_outcome(nc, js, nats_url):
    """The audit reads INTENTS too: an intent stored and never answered (no router, or one that
    dead-lettered it silently) is a violation, and its answer makes the history clean."""
    waiting = m.OrderIntent(intent_id="never-answered", account="ib-1", symbol="AAPL", side=m.Side.BUY,
                            order_type=m.OrderType.MARKET, qty=1)
    await bus.publish(js, subjects.intent("ib-1"), waiting, msg_id="ib-1:never-answered")
    code, out = await janus(nats_url, "audit", "replay")
    assert code == 6, out
    assert "one_outcome" in out and "never-answered" in out and "no routing outcome" in out
    await bus.publish(js, subjects.evt_order("ib-1"), m.OrderRejected(
        account="ib-1", intent_id="never-answered", reason=m.RejectReason.UNPROCESSABLE, message="dead-lettered",
        intent=waiting))
    code, out = await janus(nats_url, "audit", "replay")
    assert code == 0, out


async def test_an_intent_the_router_fails_on_every_time_is_rejected_unprocessable(nc, js, router_config):
    """The router's dead-letter hook: after max_deliver failed attempts the intent is
    dead-lettered AND answered, once."""
    from janus_common.config import from_dict
    from janus_router.follower import EventFollower
    from janus_router.resolver import SymbolResolver
    from janus_router.router import Router
    from janus_router.rules import AccountRules

    config = from_dict(router_config, env={})
    rules = {alias: AccountRules.from_config(alias, acc) for alias, acc in config.accounts.items()}
    follower = EventFollower(js)
    await follower.start()
    router = Router(nc, js, rules, follower, SymbolResolver(nc, timeout=1.0))
    attempts: list[str] = []

    async def always_fails(intent, msg) -> None:  # a router bug that hits this intent every time
        attempts.append(intent.intent_id)
        raise RuntimeError("decision crashed")

    consumer = bus.Consumer(js, stream="INTENTS", durable="router-ib-1", filter_subject=subjects.intent("ib-1"),
                            codec=m.INTENTS, handler=always_fails, on_dead_letter=router.on_dead_letter,
                            max_deliver=3, retry_delay=0.05, batch=1, max_ack_pending=1)
    answers: asyncio.Queue = asyncio.Queue()

    async def on_event(msg):
        await answers.put(m.ORDER_EVENTS.decode(msg.data))

    await nc.subscribe(subjects.evt_order("ib-1"), cb=on_event)
    await consumer.start()
    try:
        intent = m.OrderIntent(intent_id="crashes", account="ib-1", symbol="AAPL", side=m.Side.BUY,
                               order_type=m.OrderType.MARKET, qty=1)
        await bus.publish(js, subjects.intent("ib-1"), intent, msg_id="ib-1:crashes")
        answer = await asyncio.wait_for(answers.get(), 30)
        assert isinstance(answer, m.OrderRejected) and answer.intent_id == "crashes"
        assert answer.reason is m.RejectReason.UNPROCESSABLE and "3 attempts" in answer.message
        assert attempts == ["crashes"] * 3
        async with asyncio.timeout(10):  # the letter is published just after the answer
            while consumer.stats.dead_lettered < 1:
                await asyncio.sleep(0.02)
        letters = await bus.stored(js, "DEADLETTER", subjects.dlq("router-ib-1"))
        assert len(letters) == 1
    finally:
        await consumer.stop()
        await follower.stop()
