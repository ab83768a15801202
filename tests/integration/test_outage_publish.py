"""Publishing through an outage (issue 16): a publish that gets no answer is sent again with the
same Nats-Msg-Id until JetStream stores it, once; state moves on only after the ack; the
router's start-up barrier survives a removed newest event; a replica count the server cannot
hold is refused with what to do. Real NATS servers throughout."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import nats.js.errors
import pytest
from nats.js.api import StreamConfig

from janus_common import bus, subjects
from janus_common import messages as m
from janus_common.embedded import EmbeddedNats, free_port
from janus_common.streams import Topology, TopologyError, ensure_streams
from janus_router.follower import EventFollower

pytestmark = pytest.mark.integration


def _intent(n: int) -> m.OrderIntent:
    return m.OrderIntent(intent_id=f"i{n}", account="ib-1", symbol="AAPL", side=m.Side.BUY,
                         order_type=m.OrderType.MARKET, qty=1.0, ts=1_000)


async def test_a_publish_during_a_server_restart_is_stored_once_when_the_server_is_back(tmp_path: Path):
    server = EmbeddedNats(tmp_path / "nats", port=free_port()).start()  # its own: this test restarts it
    nc = await bus.connect(server.url, "outage", initial_attempts=3, creds="")
    try:
        js = nc.jetstream()
        await ensure_streams(js)
        await bus.publish(js, subjects.intent("ib-1"), _intent(0), msg_id="ib-1:i0")
        await asyncio.to_thread(server.stop)
        # Published while the server is down; the server comes back while the call retries.
        publishing = asyncio.ensure_future(
            bus.publish(js, subjects.intent("ib-1"), _intent(1), msg_id="ib-1:i1", timeout=1.0))
        await asyncio.to_thread(server.start)  # same port, same store
        ack = await asyncio.wait_for(publishing, 60)
        assert not ack.duplicate
        # The same id again (a caller that did not see the ack) is recognised, not stored twice.
        again = await bus.publish(js, subjects.intent("ib-1"), _intent(1), msg_id="ib-1:i1")
        assert again.duplicate and again.seq == ack.seq
        info = await js.stream_info("INTENTS")
        assert info.state.messages == 2
    finally:
        await nc.close()
        await asyncio.to_thread(server.stop)


async def test_a_publish_the_server_never_takes_fails_typed_after_its_retry_window(tmp_path: Path):
    server = EmbeddedNats(tmp_path / "nats", port=free_port()).start()
    nc = await bus.connect(server.url, "outage", initial_attempts=3, creds="")
    try:
        js = nc.jetstream()
        await ensure_streams(js)
        await asyncio.to_thread(server.stop)
        with pytest.raises(bus.PublishFailed) as failed:
            await bus.publish(js, subjects.intent("ib-1"), _intent(2), msg_id="ib-1:i2", timeout=0.3, retry_for=1.5)
        assert failed.value.transient
    finally:
        with contextlib.suppress(Exception):  # closing a client whose server is gone
            await nc.close()
        await asyncio.to_thread(server.stop)


async def test_a_refusal_for_good_is_not_retried(js):
    # INTENTS refuses messages over its max_msg_size: that is an answer, not an outage.
    big = m.OrderIntent(intent_id="big", account="ib-1", symbol="AAPL", side=m.Side.BUY,
                        order_type=m.OrderType.MARKET, qty=1.0, ts=1, locate_ref="x" * 60)
    small = Topology(intents_max_msg_size=64)
    await ensure_streams(js, small)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(bus.PublishFailed) as refused:
        await bus.publish(js, subjects.intent("ib-1"), big, msg_id="big")
    assert not refused.value.transient
    assert loop.time() - started < bus.PUBLISH_RETRY_S / 2


async def test_the_router_barrier_holds_when_the_newest_event_was_removed(nc):
    js = nc.jetstream()
    # A stream made before EVENTS refused deletes (the flag cannot be lifted from today's).
    await js.add_stream(StreamConfig(name="EVENTS", subjects=[subjects.ALL_EVENTS], allow_direct=True))
    acks = [await js.publish(subjects.evt_account("ib-1"), b"not an event") for _ in range(3)]
    await js.delete_msg("EVENTS", acks[-1].seq)
    assert (await js.stream_info("EVENTS")).state.last_seq == acks[-1].seq  # still names the removed one
    follower = EventFollower(js)
    await follower.start()
    try:
        await follower.caught_up(timeout=10)
        assert follower.last_seq == acks[-2].seq
    finally:
        await follower.stop()


async def test_replicas_a_single_server_cannot_hold_are_refused_with_what_to_do(js):
    with pytest.raises(TopologyError) as refused:
        await ensure_streams(js, Topology(replicas=3))
    assert "nats.replicas: 3 needs a NATS cluster" in refused.value.action
    assert (await js.stream_info("INTENTS")).config.num_replicas == 1  # left as it was


async def test_an_event_is_not_counted_as_said_until_stored(nc, js):
    """The gateway's book moves an order's track on only after JetStream took its events: a fill
    whose publish failed is derived again (same msg id) from the next report."""
    from janus_gateway.adapter import FillReport
    from janus_gateway.book import OrderBook
    from janus_gateway.emit import Emitter

    emitter = Emitter(js, "ib-1")
    failures: list[bool] = []
    emitter.on_failure = lambda: failures.append(True)
    book = OrderBook(emitter, "ib-1", m.Broker.IB)
    key = m.order_key("i1", 0)
    book.track(key, symbol="AAPL", side=m.BrokerSide.BUY, qty=5)
    fill = FillReport(order_key=key, fill_id="e1", qty=5, price=10.0)
    await js.delete_stream("EVENTS")  # nothing can store the event now: the publish fails
    real_publish = bus.publish

    async def short(*args, **kwargs):
        return await real_publish(*args, **{**kwargs, "timeout": 0.3, "retry_for": 0.8})

    bus.publish = short  # type: ignore[assignment]
    try:
        with pytest.raises(bus.PublishFailed):
            await book.report(key, fill)
    finally:
        bus.publish = real_publish  # type: ignore[assignment]
    assert failures and book.tracks[key].filled == 0 and not book.tracks[key].fill_ids
    await ensure_streams(js)
    published = await book.report(key, fill)  # the same report, after the outage
    assert [type(e) for e in published] == [m.OrderFilled]
    assert book.tracks[key].filled == 5
    assert await book.report(key, fill) == []  # and never twice
    stored = await bus.history(js, "EVENTS", subjects.evt_order("ib-1"), m.ORDER_EVENTS)
    assert [e.fill_id for e in stored if isinstance(e, m.OrderFilled)] == ["e1"]


async def test_an_event_stored_with_its_ack_lost_is_not_stored_again_after_the_duplicate_window(nc):
    """Past EVENTS' duplicate window JetStream would store a re-sent copy: the emitter looks in
    the history for the msg id of an event whose publish failed before sending it again."""
    from janus_gateway.emit import SAFE_IN_WINDOW_S, Emitter

    js = nc.jetstream()
    await ensure_streams(js, Topology(events_dedup_window_s=0.2))
    emitter = Emitter(js, "ib-1")
    event = m.OrderCancelled(account="ib-1", intent_id="i1", broker=m.Broker.IB, leg=0, reason="test")
    msg_id = emitter.msg_id("cxl:i1:0")
    await bus.publish(js, subjects.evt_order("ib-1"), event, msg_id=msg_id)  # stored; say its ack was lost
    emitter._unsure[msg_id] = time.time() - SAFE_IN_WINDOW_S - 1  # and the failure was declared long ago
    await asyncio.sleep(0.3)  # the (shortened) duplicate window passes: JetStream alone would store it again
    await emitter.emit("cxl:i1:0", event)
    stored = await bus.history(js, "EVENTS", subjects.evt_order("ib-1"), m.ORDER_EVENTS)
    assert len(stored) == 1
    # Without the look-up, the copy would have gone in: the window really had passed.
    other = emitter.msg_id("cxl:i2:0")
    await bus.publish(js, subjects.evt_order("ib-1"), event, msg_id=other)
    await asyncio.sleep(0.3)
    await bus.publish(js, subjects.evt_order("ib-1"), event, msg_id=other)
    assert len(await bus.history(js, "EVENTS", subjects.evt_order("ib-1"), m.ORDER_EVENTS)) == 3


def test_what_counts_as_the_bus_away_for_a_moment():
    assert bus.is_transient(bus.PublishFailed("no ack", transient=True))
    assert not bus.is_transient(bus.PublishFailed("refused", transient=False))
    assert bus.is_transient(bus.RpcTimeout("slow")) and bus.is_transient(TimeoutError())
    assert not bus.is_transient(bus.PayloadTooLarge("s", 2, 1))
    assert not bus.is_transient(bus.UnreadableMessage("bad"))
    assert not bus.is_transient(ValueError("a bug"))


async def test_a_consumer_waits_out_transient_failures_and_dead_letters_only_the_messages_own(js):
    outcomes: list[str] = []
    failures = {"i1": 6, "i2": 99}  # i1: the bus away for six tries; i2: a bug every time

    async def handler(intent, msg) -> None:
        left = failures[intent.intent_id]
        if intent.intent_id == "i2":
            raise ValueError("decision crashed")
        if left:
            failures[intent.intent_id] = left - 1
            raise bus.PublishFailed("no JetStream ack", transient=True)
        outcomes.append(intent.intent_id)

    done = asyncio.Event()
    letters: list[str] = []

    async def on_dead_letter(intent, msg, exc) -> None:
        letters.append(intent.intent_id)
        done.set()

    consumer = bus.Consumer(js, stream="INTENTS", durable="waits", filter_subject=subjects.intent("ib-1"),
                            codec=m.INTENTS, handler=handler, on_dead_letter=on_dead_letter, max_deliver=3,
                            retry_delay=0.01, batch=1, max_ack_pending=1, transient=bus.is_transient)
    await consumer.start()
    try:
        await bus.publish(js, subjects.intent("ib-1"), _intent(1), msg_id="ib-1:i1")
        await bus.publish(js, subjects.intent("ib-1"), _intent(2), msg_id="ib-1:i2")
        await asyncio.wait_for(done.wait(), 30)
    finally:
        await consumer.stop()
    assert outcomes == ["i1"] and failures["i1"] == 0  # handled after seven deliveries, over max_deliver
    assert letters == ["i2"] and consumer.stats.dead_lettered == 1
