"""No message can silence a service, on the stack `make run` starts (janus-run, shipped config):
a ~1 MiB garbage payload and a 0.4 MB intent on janus.intent.ib-1, a ~1 MiB garbage payload on
janus.route.ib.ib-1, and garbage small enough to be stored and read by the router and the IB
gateway. Each ends refused by its stream, rejected or dead-lettered; no process dies or
restarts; the next intents on ib-1, ib-2 and wb-1 are decided and fill."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import msgspec
import nats.js.errors
import pytest

from cli_runner import janus
from janus_client.client import JanusClient
from janus_common import bus, subjects
from janus_common import messages as m
from stack_runner import start_stack

pytestmark = pytest.mark.system

MiB = 1024 * 1024
JS_MAX_MSG_SIZE_EXCEEDED = 10054


def _intent_bytes(intent_id: str) -> bytes:
    return msgspec.msgpack.encode({"kind": "OrderIntent", "intent_id": intent_id, "account": "ib-1",
                                   "symbol": "AAPL", "side": "BUY", "type": "MARKET", "qty": 1})


async def test_garbage_never_silences_a_service_and_the_next_intents_fill(tmp_path):
    stack = await start_stack(tmp_path)
    url = stack.nats_url
    try:
        # Intents come from anyone who may trade (the operator here); route messages only from
        # the router's identity, so the garbage on a route subject is a broken router's.
        router = Path(stack.summary["credentials"]) / "router.nk"
        stored = []
        for creds, subject in ((None, subjects.intent("ib-1")), (router, subjects.route("ib", "ib-1"))):
            nc = await bus.connect(url, "attacker", initial_attempts=3, creds=creds)
            js = nc.jetstream()
            try:
                with pytest.raises(nats.js.errors.APIError) as refused:
                    await js.publish(subject, b"\xc1" * (MiB - 512))
                assert refused.value.err_code == JS_MAX_MSG_SIZE_EXCEEDED, subject
                if subject.startswith("janus.intent."):
                    with pytest.raises(nats.js.errors.APIError) as refused:
                        await js.publish(subject, _intent_bytes("x" * 400_000))
                    assert refused.value.err_code == JS_MAX_MSG_SIZE_EXCEEDED, subject
                garbage = bytes(range(256)) * 200  # 51 KB: stored, so the consumers meet it
                stored.append(await js.publish(subject, garbage))
                if subject.startswith("janus.intent."):
                    stored.append(await js.publish(subject, _intent_bytes("y" * 40_000)))
                assert nc.is_connected
            finally:
                await nc.close()

        async with await JanusClient.connect(url) as client:
            intents = [m.OrderIntent(account=a, symbol="AAPL", side=m.Side.BUY, order_type=m.OrderType.MARKET, qty=2)
                       for a in ("ib-1", "ib-2", "wb-1")]
            outcomes = await asyncio.gather(*(client.submit(i, timeout=60) for i in intents))
            assert all(isinstance(o, m.OrderRouted) for o in outcomes), outcomes
            finals = await asyncio.gather(*(client.wait_terminal(i.account, i.intent_id, timeout=90)
                                            for i in intents))
            assert [(f.status, f.filled) for f in finals] == [(m.OrderState.FILLED, 2.0)] * 3

        nc = await bus.connect(url, "inspector", initial_attempts=3)
        js = nc.jetstream()
        try:
            rejected = [m.ANY_EVENT.decode(r.data) for r in await bus.stored(js, "EVENTS", subjects.evt_order("ib-1"))]
            malformed = [e for e in rejected if isinstance(e, m.OrderRejected) and e.reason is m.RejectReason.MALFORMED]
            assert len(malformed) == 2 and all(e.intent_id is None for e in malformed)
            letters = [m.DEAD_LETTERS.decode(r.data) for r in await bus.stored(js, "DEADLETTER", subjects.ALL_DLQ)]
            by_seq = {(d.stream, d.stream_seq): d for d in letters}
            for ack in stored:
                letter = by_seq[(ack.stream, ack.seq)]
                assert letter.truncated and len(letter.data) == m.HEAD_BYTES and len(m.encode(letter)) < 8 * 1024
            assert {by_seq[("ROUTES", stored[2].seq)].consumer} == {"ib-gateway-ib-1"}
        finally:
            await nc.close()

        # Every service still serves, with every consumer alive, and none was restarted.
        code, out = await janus(url, "--json", "status", "--window", "2", timeout=30)
        assert code == 0, out
        services = json.loads(out)
        names = {s["name"] for s in services}
        assert {"janus-router", "janus-ib-gateway", "janus-webull-gateway", "janus-pricer",
                "janus-registry"} <= names
        for s in services:
            if s["name"] == "janus-supervisor":
                continue  # janus-run's own registration: it consumes nothing
            consumers = s["health"]["consumers"]
            assert all(c["alive"] for c in consumers.values()), s
            assert s["health"]["nats"] == "connected" and s["health"]["failure"] is None
        assert not any('"process_died"' in line for line in stack.seen), stack.tail()
    finally:
        stack.proc.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(stack.proc.wait(), 30)
        await stack.drain
    assert code == 0, stack.tail()
