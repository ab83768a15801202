"""The router's ledger from a snapshot plus the events after it (issue 17): the same ledger as a
full replay; a snapshot that cannot be trusted (bytes changed, another format, a stream made
again since) is ignored and everything is replayed. Real NATS, the real object store."""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from nats.js.api import ObjectMeta

from janus_common import bus, projections, snapshots, subjects
from janus_common import messages as m
from janus_common.streams import OBJ_SNAPSHOTS, ensure_streams
from janus_router.follower import SNAPSHOT, EventFollower

pytestmark = pytest.mark.integration


async def _orders(js, first: int, count: int) -> None:
    for n in range(first, first + count):
        intent = m.OrderIntent(intent_id=f"s{n}", account="ib-1", symbol="AAPL", side=m.Side.BUY,
                               order_type=m.OrderType.MARKET, qty=1)
        order = m.PlaceOrder(intent_id=intent.intent_id, account="ib-1", broker=m.Broker.IB, symbol="AAPL",
                             side=m.BrokerSide.BUY, qty=1, order_type=m.OrderType.MARKET)
        decision = m.PositionDecision(broker_position=0, in_flight=0, projected_position=1, allow_short=False,
                                      locate_required=False, effect=m.PositionEffect.OPEN_LONG)
        await bus.publish(js, subjects.evt_order("ib-1"), m.OrderRouted(
            account="ib-1", intent_id=intent.intent_id, intent=intent, broker=m.Broker.IB, decision=decision,
            orders=[order]))
        await bus.publish(js, subjects.evt_order("ib-1"), m.OrderFilled(
            account="ib-1", intent_id=intent.intent_id, broker=m.Broker.IB, leg=0, fill_id=f"x{n}", symbol="AAPL",
            side=m.BrokerSide.BUY, qty=1, price=10.0))


async def _follow(js, **kw) -> EventFollower:
    follower = EventFollower(js, **kw)
    await follower.start()
    await follower.replay(stall_s=30)
    return follower


async def _until_saved(follower: EventFollower, seq: int) -> None:
    async with asyncio.timeout(30):
        while follower.snapshots is not None and follower.snapshots.saved_seq < seq:
            await asyncio.sleep(0.02)


async def test_a_router_starts_from_the_snapshot_and_the_events_after_it(js):
    await _orders(js, 0, 20)  # 40 events
    writer = await _follow(js, snapshot_every_events=10, snapshot_every_s=0)
    await _orders(js, 20, 1)  # an event after catching up: the fold that finds a snapshot due
    await writer.caught_up()
    await _until_saved(writer, 40)
    saved = await snapshots.info(js, SNAPSHOT)
    assert saved is not None and saved.seq >= 40
    await writer.stop()
    await _orders(js, 21, 5)  # the tail the next start folds after the snapshot

    restored = await _follow(js)
    full = await _follow(js, snapshots=False)
    try:
        assert restored.restored_from == saved.seq
        assert full.restored_from is None
        assert restored.ledger == full.ledger
        assert restored.ledger.applied == full.ledger.applied == 52
        assert projections.order(restored.ledger, "ib-1", "s25") is not None
    finally:
        await restored.stop()
        await full.stop()


async def test_a_snapshot_that_cannot_be_trusted_is_ignored_and_everything_replayed(js, nc):
    await _orders(js, 0, 5)
    writer = await _follow(js, snapshot_every_events=2, snapshot_every_s=0)
    await _orders(js, 5, 1)
    await writer.caught_up()
    await _until_saved(writer, 10)
    await writer.stop()
    stored = await snapshots.info(js, SNAPSHOT)
    assert stored is not None
    store = await js.object_store(OBJ_SNAPSHOTS)

    # Bytes changed under an unchanged description: the digest says so.
    await store.put(SNAPSHOT, b"\x00" * stored.size, meta=ObjectMeta(
        name=SNAPSHOT, description=msgspec.json.encode(stored).decode()))
    tampered = await _follow(js)
    try:
        assert tampered.restored_from is None and tampered.ledger.applied == 12
    finally:
        await tampered.stop()

    # The stream deleted and made again: the snapshot's sequences would mean other events.
    await js.delete_stream("EVENTS")
    await ensure_streams(js)
    await _orders(js, 100, 10)  # as many events as before, and more
    await store.put(SNAPSHOT, b"x", meta=ObjectMeta(
        name=SNAPSHOT, description=msgspec.json.encode(stored).decode()))
    other = await _follow(js)
    try:
        assert other.restored_from is None
        assert projections.order(other.ledger, "ib-1", "s0") is None and other.ledger.applied == 20
    finally:
        await other.stop()


async def test_the_router_identity_may_save_and_load_its_snapshot_and_a_client_may_not(js, nats_url, bus_identities):
    """Under the bus's permissions (janus_common.authz): the router writes and reads the snapshot
    object (chunks, description, the purge of a replaced object's chunks); a client does neither."""
    router = await bus.connect(nats_url, "router", initial_attempts=1, creds=bus_identities.creds("router"))
    client = await bus.connect(nats_url, "client", initial_attempts=1, creds=bus_identities.creds("demo-client"))
    try:
        rjs = router.jetstream()
        for payload in (b"first" * 100, b"second" * 100):  # the second replaces the first
            await snapshots.save(rjs, SNAPSHOT, payload, fmt=1, seq=len(payload), events=1)
        loaded = await snapshots.load(rjs, SNAPSHOT, fmt=1)
        assert loaded is not None and loaded[1] == b"second" * 100
        cjs = client.jetstream()
        with pytest.raises(Exception):
            await snapshots.save(cjs, SNAPSHOT, b"forged", fmt=1, seq=1, events=1)
        assert await snapshots.load(cjs, SNAPSHOT, fmt=1) is None
        assert (await snapshots.load(rjs, SNAPSHOT, fmt=1))[1] == b"second" * 100
    finally:
        await router.close()
        await client.close()
