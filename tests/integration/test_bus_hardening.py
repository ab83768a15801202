"""No message can silence a consumer, and no publish can kill a connection (real NATS/JetStream)."""

from __future__ import annotations

import argparse
import asyncio
import hashlib

import msgspec
import nats.js.errors
import pytest
from nats.js.api import StreamConfig

from janus_common import bus, subjects
from janus_common import messages as m
from janus_common.service import EXIT_OK, EXIT_UNSERVICEABLE, serve

pytestmark = pytest.mark.integration

JS_MAX_MSG_SIZE_EXCEEDED = 10054


def _intent(n: int, account: str = "ib-1") -> m.OrderIntent:
    return m.OrderIntent(intent_id=f"i{n}", account=account, symbol="AAPL", side=m.Side.BUY,
                         order_type=m.OrderType.MARKET, qty=1.0, ts=1_000)


async def _until(predicate, timeout: float = 10.0, step: float = 0.05) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(step)


async def _dead_letters(js, durable: str, count: int) -> list[m.DeadLetter]:
    sub = await js.pull_subscribe(subjects.dlq(durable), durable=f"read-{durable}", stream="DEADLETTER")
    msgs = await sub.fetch(count, timeout=10)
    return [m.DEAD_LETTERS.decode(x.data) for x in msgs]


def _letter_with_size(payload_size: int) -> m.DeadLetter:
    """A message whose encoding is exactly ``payload_size`` bytes (bytes fields are unbounded)."""
    base = m.DeadLetter(event_id="e", ts=1, consumer="c", subject="s", error="E", detail="", data=b"")
    grow = payload_size - len(m.encode(base))
    for pad in range(grow, grow - 8, -1):  # msgpack's length prefix grows with the payload
        letter = msgspec.structs.replace(base, data=b"x" * pad)
        if len(m.encode(letter)) == payload_size:
            return letter
    raise AssertionError("no padding gives that size")


async def test_publish_counts_headers_against_max_payload_exactly_as_the_server_does(nc, js, nats_url):
    limit = nc.max_payload
    msg_id = "k" * 40
    overhead = bus.wire_size(b"", {"Nats-Msg-Id": msg_id})
    # One byte under: the server takes it (and JetStream refuses it for the stream's own limit,
    # which is an answer, not a dead connection).
    fits = _letter_with_size(limit - overhead)
    with pytest.raises(bus.PublishFailed):
        await bus.publish(js, subjects.dlq("c"), fits, msg_id=msg_id)
    assert nc.is_connected
    # One byte over: refused here, typed, and the connection lives on.
    over = _letter_with_size(limit - overhead + 1)
    assert len(m.encode(over)) <= limit  # nats-py's own payload check would let it through
    with pytest.raises(bus.PayloadTooLarge) as refused:
        await bus.publish(js, subjects.dlq("c"), over, msg_id=msg_id)
    assert refused.value.size == limit + 1 and refused.value.limit == limit
    assert nc.is_connected
    ack = await bus.publish(js, subjects.intent("ib-1"), _intent(1), msg_id="after")
    assert ack.seq == 1

    # What the check prevents: the same bytes through nats-py alone end that connection for good.
    raw = await bus.connect(nats_url, "raw", initial_attempts=3)
    await raw.publish(subjects.dlq("c"), m.encode(over), headers={"Nats-Msg-Id": msg_id})
    await _until(lambda: raw.is_closed)


async def test_streams_refuse_oversized_messages_with_an_answer(js):
    for subject in (subjects.intent("ib-1"), subjects.route("ib", "ib-1")):
        with pytest.raises(nats.js.errors.APIError) as refused:
            await js.publish(subject, b"\xc1" * (1024 * 1024 - 512))
        assert refused.value.err_code == JS_MAX_MSG_SIZE_EXCEEDED
    # the client library's path says so with a typed error
    huge = msgspec.msgpack.encode({"kind": "OrderIntent", "intent_id": "x" * 400_000, "account": "ib-1"})
    assert len(huge) > 400_000
    with pytest.raises(bus.UnreadableMessage):
        await bus.publish(js, subjects.intent("ib-1"), m.OrderIntent(
            intent_id="x" * 400_000, account="ib-1", symbol="AAPL", side=m.Side.BUY,
            order_type=m.OrderType.MARKET, qty=1))


async def test_a_1_mib_garbage_message_is_dead_lettered_as_a_bounded_description(nc, js):
    # A stream without a size bound, so the consumer meets a payload at the server's limit.
    await js.add_stream(StreamConfig(name="BIG", subjects=["test.big.>"]))
    garbage = bytes(range(256)) * ((nc.max_payload - 1024) // 256)
    first = await js.publish("test.big.a", garbage)
    await js.publish("test.big.a", m.encode(_intent(7)))
    served: list[m.OrderIntent] = []

    async def handler(message, msg):
        served.append(message)

    consumer = await bus.Consumer(js, stream="BIG", durable="big", filter_subject="test.big.>", codec=m.INTENTS,
                                  handler=handler, retry_delay=0.05).start()
    try:
        await _until(lambda: served)
        [letter] = await _dead_letters(js, "big", 1)
    finally:
        await consumer.stop()
    assert served == [_intent(7)]
    assert (letter.size, letter.sha256, letter.stream, letter.stream_seq, letter.truncated) == (
        len(garbage), hashlib.sha256(garbage).hexdigest(), "BIG", first.seq, True)
    assert letter.data == garbage[:m.HEAD_BYTES] and letter.error == "MessageDecodeError"
    assert len(m.encode(letter)) < 8 * 1024
    assert consumer.stats.dead_lettered == 1 and consumer.stats.handled == 1 and nc.is_connected


async def test_an_unexpected_exception_in_any_step_never_ends_the_consumer(js):
    for n in range(1, 4):
        await bus.publish(js, subjects.intent(f"acc-{n}"), _intent(n, f"acc-{n}"), msg_id=f"m{n}")
    served: list[str] = []

    async def handler(message, msg):
        if message.account == "acc-1":
            raise KeyError("a bug the handler did not expect")
        served.append(message.account)

    def accepts(subject: str) -> bool:
        if subject.endswith("acc-2"):
            raise ZeroDivisionError("a bug outside the handler")
        return True

    consumer = await bus.Consumer(js, stream="INTENTS", durable="buggy", filter_subject=subjects.ALL_INTENTS,
                                  codec=m.INTENTS, handler=handler, accepts=accepts, max_deliver=1,
                                  retry_delay=0.05).start()
    try:
        await _until(lambda: served == ["acc-3"])
        [letter] = await _dead_letters(js, "buggy", 1)
        await _until(lambda: consumer.stats.failures >= 1)
    finally:
        await consumer.stop()
    assert letter.error == "KeyError" and m.INTENTS.decode(letter.data) == _intent(1, "acc-1")
    assert consumer.stats.last_error in ("ZeroDivisionError", "KeyError")
    assert consumer.task.done() and consumer.health()["alive"] is False  # only because we stopped it


async def test_a_long_decision_keeps_its_message_from_a_second_replica(js):
    await bus.publish(js, subjects.intent("ib-1"), _intent(1), msg_id="slow")
    ack_wait = 1.0
    release = asyncio.Event()
    started = asyncio.Event()
    deliveries: list[tuple[str, int]] = []

    def replica(name: str):
        async def handler(message, msg):
            deliveries.append((name, msg.metadata.num_delivered))
            started.set()
            await asyncio.wait_for(release.wait(), 30)
        return bus.Consumer(js, stream="INTENTS", durable="decider", filter_subject=subjects.ALL_INTENTS,
                            codec=m.INTENTS, handler=handler, ack_wait=ack_wait, max_ack_pending=1, batch=1)

    a, b = await replica("a").start(), await replica("b").start()
    try:
        await asyncio.wait_for(started.wait(), 10)
        loop = asyncio.get_running_loop()
        held_until = loop.time() + 4 * ack_wait  # the decision outlasts ack_wait four times over
        while loop.time() < held_until:
            info = await js.consumer_info("INTENTS", "decider")
            assert info.num_redelivered == 0 and len(deliveries) == 1
            await asyncio.sleep(0.2)
        release.set()
        await _until(lambda: a.stats.handled + b.stats.handled == 1)
        info = await js.consumer_info("INTENTS", "decider")
        assert info.num_ack_pending == 0 and info.num_redelivered == 0
    finally:
        release.set()
        await a.stop()
        await b.stop()
    assert len(deliveries) == 1 and deliveries[0][1] == 1


async def _serving(nats_url: str, setup):
    ready = asyncio.Event()
    contexts = []

    def on_ready(ctx):
        contexts.append(ctx)
        ready.set()

    args = argparse.Namespace(nats_url=nats_url)
    task = asyncio.create_task(serve("janus-test-svc", "0.0.1", setup, args, None, ready=on_ready))
    await asyncio.wait_for(ready.wait(), 30)
    return task, contexts[0]


async def _intents_consumer(ctx):
    async def handler(message, msg):
        return None

    await ctx.add_consumer(bus.Consumer(ctx.js, stream="INTENTS", durable="svc", filter_subject=subjects.ALL_INTENTS,
                                        codec=m.INTENTS, handler=handler))


async def test_consumer_liveness_is_in_srv_stats_and_a_dead_consumer_exits_non_zero(nc, js, nats_url):
    task, ctx = await _serving(nats_url, _intents_consumer)
    stats = msgspec.json.decode((await nc.request("$SRV.STATS.janus-test-svc", b"", timeout=5)).data)
    [health] = [e["data"] for e in stats["endpoints"] if e["name"] == "health"]
    assert health["nats"] == "connected" and health["consumers"]["svc"]["alive"] is True

    ctx._consumers[0].task.cancel()  # the consumer cannot run any more
    assert await asyncio.wait_for(task, 15) == EXIT_UNSERVICEABLE
    assert ctx.failure.startswith("consumer svc stopped")


async def test_a_connection_closed_for_good_makes_the_service_exit_non_zero(nc, js, nats_url):
    task, ctx = await _serving(nats_url, _intents_consumer)
    # What nats-py does after the server's -ERR 'Maximum Payload Violation': close for good.
    over = m.encode(_letter_with_size(ctx.nc.max_payload - 10))
    await ctx.nc.publish("test.boom", over, headers={"X-Pad": "p" * 64})
    assert await asyncio.wait_for(task, 15) == EXIT_UNSERVICEABLE
    assert ctx.nc.is_closed and "closed for good" in ctx.failure


async def test_a_service_asked_to_stop_exits_zero(nc, js, nats_url):
    task, ctx = await _serving(nats_url, _intents_consumer)
    ctx.stopping.set()
    assert await asyncio.wait_for(task, 15) == EXIT_OK and ctx.failure is None


async def test_a_fold_that_fails_while_history_is_read_fails_the_read_not_silently(js):
    """The audit folds each event as it arrives (bus.stored's ``each``, run from nats-py's
    callback): a fold that raises must end the read with its error, not be logged by nats-py
    while the rest is delivered, leaving a report that passes for complete."""
    for n in range(5):
        await js.publish(subjects.evt_account("ib-1"), b"x%d" % n)
    folded: list[int] = []

    def fold(record) -> None:
        if len(folded) == 2:
            raise ValueError("the third event does not fold")
        folded.append(record.seq)

    with pytest.raises(ValueError, match="third event"):
        await bus.stored(js, "EVENTS", subjects.evt_account("ib-1"), each=fold, timeout=10)
    assert folded == [1, 2]
