"""The bus against a real JetStream: typed publish/consume, poison messages, dedup, RPC."""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from nats.micro import add_service
from nats.micro.service import EndpointConfig
from structlog.testing import capture_logs

from janus_common import bus, subjects
from janus_common import messages as m

pytestmark = pytest.mark.integration


def _intent(qty: float) -> m.OrderIntent:
    return m.OrderIntent(account="ib-1", symbol="AAPL", side=m.Side.BUY, order_type=m.OrderType.MARKET, qty=qty)


async def _collector(js, handler_queue: asyncio.Queue, **kwargs) -> bus.Consumer:
    async def handle(message, _msg):
        await handler_queue.put(message)

    return await bus.Consumer(js, stream="INTENTS", durable="test-intents", filter_subject=subjects.ALL_INTENTS,
                              codec=m.INTENTS, handler=handle, **kwargs).start()


async def test_garbage_between_two_valid_messages_is_dead_lettered_and_both_valid_processed(js):
    first, second = _intent(1), _intent(2)
    await bus.publish(js, subjects.intent("ib-1"), first, msg_id=first.intent_id)
    await js.publish(subjects.intent("ib-1"), b"\xff\x00 garbage \x13")
    await bus.publish(js, subjects.intent("ib-1"), second, msg_id=second.intent_id)

    received: asyncio.Queue = asyncio.Queue()
    with capture_logs() as logs:
        consumer = await _collector(js, received)
        got = [await asyncio.wait_for(received.get(), 10) for _ in range(2)]
        await consumer.stop()
    assert got == [first, second]
    errors = [e for e in logs if e["event"] == "message_decode_error"]
    assert len(errors) == 1 and errors[0]["error"] == "MessageDecodeError"
    assert errors[0]["family"] == "intent" and errors[0]["subject"] == "janus.intent.ib-1"
    assert consumer.stats.handled == 2 and consumer.stats.dead_lettered == 1

    # Nothing lost: the garbage is kept, byte for byte, on the dead-letter stream.
    sub = await js.pull_subscribe(subjects.ALL_DLQ, durable="dlq-reader", stream="DEADLETTER")
    [dead] = await sub.fetch(1, timeout=5)
    letter = m.DEAD_LETTERS.decode(dead.data)
    assert letter.data == b"\xff\x00 garbage \x13" and letter.consumer == "test-intents"
    assert letter.error == "MessageDecodeError"


async def test_intents_are_deduplicated_by_msg_id(js):
    intent = _intent(1)
    first = await bus.publish(js, subjects.intent("ib-1"), intent, msg_id=intent.intent_id)
    again = await bus.publish(js, subjects.intent("ib-1"), intent, msg_id=intent.intent_id)
    assert not first.duplicate and again.duplicate
    info = await js.stream_info("INTENTS")
    assert info.state.messages == 1


async def test_a_failing_handler_is_retried_then_succeeds(js):
    intent = _intent(3)
    await bus.publish(js, subjects.intent("ib-1"), intent, msg_id=intent.intent_id)
    attempts: list[int] = []
    done = asyncio.Event()

    async def flaky(message, msg):
        attempts.append(msg.metadata.num_delivered)
        if len(attempts) < 2:
            raise RuntimeError("transient")
        done.set()

    consumer = await bus.Consumer(js, stream="INTENTS", durable="flaky", filter_subject=subjects.ALL_INTENTS,
                                  codec=m.INTENTS, handler=flaky, retry_delay=0.05).start()
    await asyncio.wait_for(done.wait(), 10)
    await consumer.stop()
    assert attempts == [1, 2]
    assert consumer.stats.retried == 1 and consumer.stats.handled == 1


async def test_a_handler_that_always_fails_ends_on_the_dead_letter_stream(js):
    intent = _intent(4)
    await bus.publish(js, subjects.intent("ib-1"), intent, msg_id=intent.intent_id)

    async def broken(message, msg):
        raise ValueError("always")

    consumer = await bus.Consumer(js, stream="INTENTS", durable="broken", filter_subject=subjects.ALL_INTENTS,
                                  codec=m.INTENTS, handler=broken, max_deliver=2, retry_delay=0.05).start()
    sub = await js.pull_subscribe(subjects.ALL_DLQ, durable="dlq-reader2", stream="DEADLETTER")
    [dead] = await sub.fetch(1, timeout=10)
    await consumer.stop()
    letter = m.DEAD_LETTERS.decode(dead.data)
    assert letter.error == "ValueError" and m.INTENTS.decode(letter.data) == intent


async def test_typed_request_reply_with_a_bad_request_and_no_responders(nc):
    service = await add_service(nc, name="echo", version="0.1.0")

    async def resolve(req: m.ResolveRequest):
        if req.symbol == "BOOM":
            raise RuntimeError("kaboom")
        return m.Resolved(record=m.RegistryRecord(symbol=req.symbol, asset_class="EQUITY"), source="test")

    await service.add_endpoint(EndpointConfig(name="resolve", subject=subjects.RPC_RESOLVE,
                                              handler=bus.rpc_handler(m.RESOLVE_REQUEST, resolve)))
    ok = await bus.request(nc, subjects.RPC_RESOLVE, m.ResolveRequest(symbol="AAPL"), m.RESOLVE_REPLY)
    assert isinstance(ok, m.Resolved) and ok.record.symbol == "AAPL"

    raw = await nc.request(subjects.RPC_RESOLVE, b"not msgpack at all", timeout=5)
    bad = m.RESOLVE_REPLY.decode(raw.data)
    assert isinstance(bad, m.RpcError) and bad.reason is m.RejectReason.MALFORMED

    crashed = await bus.request(nc, subjects.RPC_RESOLVE, m.ResolveRequest(symbol="BOOM"), m.RESOLVE_REPLY)
    assert isinstance(crashed, m.RpcError) and crashed.reason is m.RejectReason.INTERNAL

    # Still serving after both.
    again = await bus.request(nc, subjects.RPC_RESOLVE, m.ResolveRequest(symbol="MSFT"), m.RESOLVE_REPLY)
    assert again.record.symbol == "MSFT"

    stats = msgspec.json.decode((await nc.request("$SRV.STATS.echo", b"", timeout=5)).data)
    assert stats["endpoints"][0]["num_requests"] == 4
    await service.stop()

    with pytest.raises(bus.RpcNoResponders):
        await bus.request(nc, subjects.rpc_sync("ib-9"), m.SyncRequest(account="ib-9"), m.SYNC_REPLY, timeout=1)


async def test_connect_gives_up_with_a_typed_error_when_told_to():
    with pytest.raises(bus.BusError):
        await bus.connect("nats://127.0.0.1:1", "nobody", initial_attempts=2)
