"""No intent can silence the router: oversized and garbage intents end in a refusal, a rejection
or a bounded dead letter, and the next valid intent is decided. Ids are bounded and scoped by
account; old intents are refused STALE. Real NATS/JetStream, the router under its service runner."""

from __future__ import annotations

import hashlib
import time

import msgspec
import nats.js.errors
import pytest

from janus_client.client import JanusClient
from janus_common import bus, subjects
from janus_common import messages as m

pytestmark = pytest.mark.integration

MiB = 1024 * 1024


def intent(account="ib-1", **kw) -> m.OrderIntent:
    return m.OrderIntent(account=account, symbol="AAPL", side=m.Side.BUY, order_type=m.OrderType.MARKET, qty=1.0, **kw)


def raw_intent(intent_id: str) -> bytes:
    return msgspec.msgpack.encode({"kind": "OrderIntent", "intent_id": intent_id, "account": "ib-1",
                                   "symbol": "AAPL", "side": "BUY", "type": "MARKET", "qty": 1})


async def letters(js, durable: str) -> list[m.DeadLetter]:
    return [m.DEAD_LETTERS.decode(r.data) for r in await bus.stored(js, "DEADLETTER", subjects.dlq(durable), timeout=5)]


async def test_garbage_and_oversized_intents_never_silence_the_router(harness):
    h = harness
    # ~1 MiB of garbage and a 0.4 MB intent: INTENTS refuses to store them and says so.
    for payload in (b"\xc1" * (MiB - 512), raw_intent("x" * 400_000)):
        with pytest.raises(nats.js.errors.APIError) as refused:
            await h.js.publish(subjects.intent("ib-1"), payload)
        assert refused.value.err_code == 10054  # maximum message size exceeded
    # Under the stream's bound, the router reads them: garbage, a 40 KB id, an empty id.
    garbage = bytes(range(256)) * 200
    for payload in (garbage, raw_intent("y" * 40_000), raw_intent("")):
        await h.js.publish(subjects.intent("ib-1"), payload)
    good = intent()
    await h.send(good)

    rejected = [await h.next_event() for _ in range(3)]
    assert [(e.reason, e.intent_id) for e in rejected] == [(m.RejectReason.MALFORMED, None)] * 3
    assert "length <= 64" in rejected[1].message and "length >= 1" in rejected[2].message
    assert all(len(e.message) <= m.TEXT_MAX for e in rejected)
    routed = await h.outcome(good.intent_id)
    assert isinstance(routed, m.OrderRouted)

    dead = await letters(h.js, "router-ib-1")
    assert [(d.size, d.truncated) for d in dead] == [(len(garbage), True), (len(raw_intent("y" * 40_000)), True),
                                                     (len(raw_intent("")), False)]
    assert dead[0].sha256 == hashlib.sha256(garbage).hexdigest() and dead[0].data == garbage[:m.HEAD_BYTES]
    assert all(len(m.encode(d)) < 8 * 1024 for d in dead)

    consumers = {c.durable: c.health() for c in h.ctx._consumers}
    assert all(c["alive"] for c in consumers.values()) and h.ctx.failure is None and h.nc.is_connected


async def test_the_same_intent_id_on_two_accounts_is_two_orders(harness):
    h = harness
    one, two = intent(intent_id="same-id"), intent(account="wb-1", intent_id="same-id")
    await h.send(one)
    first = await h.outcome("same-id")
    await h.send(two)
    second = await h.outcome("same-id")
    assert isinstance(first, m.OrderRouted) and isinstance(second, m.OrderRouted)
    assert {first.account, second.account} == {"ib-1", "wb-1"}
    routes = [await h.next_route(), await h.next_route()]
    assert sorted(subject for subject, _ in routes) == ["janus.route.ib.ib-1", "janus.route.webull.wb-1"]
    # and a cancel of one does not touch the other
    cancel = m.CancelIntent(intent_id="same-id", account="wb-1")
    await h.send(cancel)
    cancelled = await h.outcome("same-id")
    assert isinstance(cancelled, m.CancelRouted) and cancelled.account == "wb-1"
    subject, order = await h.next_route()
    assert subject == "janus.route.webull.wb-1" and isinstance(order, m.CancelOrder)


async def test_an_intent_older_than_max_intent_age_is_refused_stale(harness):
    h = harness
    old = intent(ts=time.time_ns() - 45 * 1_000_000_000)
    await h.send(old)
    refused = await h.outcome(old.intent_id)
    assert isinstance(refused, m.OrderRejected) and refused.reason is m.RejectReason.STALE
    assert "up to 30 s old" in refused.message and refused.message.startswith("intent is 45.")
    assert h.routes.empty()
    # a redelivered intent that was decided in time is not refused later: it is a duplicate
    fresh = intent()
    await h.send(fresh)
    assert isinstance(await h.outcome(fresh.intent_id), m.OrderRouted)
    await h.send(fresh, msg_id=None)
    await h.send(intent(intent_id="marker"))
    assert (await h.outcome("marker")).intent_id == "marker"


async def test_the_client_library_scopes_msg_ids_by_account(harness, nats_url):
    async with await JanusClient.connect(nats_url) as client:
        outcomes = [await client.submit(intent(account=a, intent_id="dup")) for a in ("ib-1", "ib-2")]
    assert [(type(o).__name__, o.account) for o in outcomes] == [("OrderRouted", "ib-1"), ("OrderRouted", "ib-2")]
    info = await harness.js.stream_info("INTENTS")
    assert info.state.messages == 2  # neither was dropped as a duplicate of the other


async def test_every_consumer_is_reported_alive_in_srv_stats(harness):
    stats = msgspec.json.decode((await harness.nc.request("$SRV.STATS.janus-router", b"", timeout=5)).data)
    [health] = [e["data"] for e in stats["endpoints"] if e["name"] == "health"]
    assert set(health["consumers"]) >= {"router-ib-1", "router-ib-2", "router-wb-1", "router-unknown-accounts"}
    assert all(c["alive"] for c in health["consumers"].values()) and health["nats"] == "connected"
