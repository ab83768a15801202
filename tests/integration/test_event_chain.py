"""The hash chain as bus.publish writes it on a real JetStream: concurrent publishers on one
subject, dedup, and the audit catching a removed or replaced event."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta, timezone

import msgspec
import pytest

from janus_common import audit, bus, subjects
from janus_common import messages as m
from janus_common.streams import stream_configs

pytestmark = pytest.mark.integration

SUBJECT = subjects.evt_order("ib-1")


def _event(n: int) -> m.OrderRejected:
    return m.OrderRejected(account="ib-1", intent_id=f"intent-{n}", reason=m.RejectReason.INTERNAL, message=str(n))


async def test_concurrent_publishers_on_one_subject_keep_one_unbroken_chain(nats_url, js):
    others = [await bus.connect(nats_url, f"publisher-{i}", initial_attempts=3) for i in range(3)]
    try:
        async def publish_many(nc, base):
            for n in range(base, base + 25):
                await bus.publish(nc.jetstream(), SUBJECT, _event(n), msg_id=f"e{n}")

        await asyncio.gather(*(publish_many(nc, i * 100) for i, nc in enumerate(others)))
    finally:
        for nc in others:
            await nc.close()
    records = await bus.stored(js, bus.EVENTS_STREAM, SUBJECT)
    assert len(records) == 75
    assert audit.chain_findings(records) == []
    first = m.ANY_EVENT.decode(records[0].data)
    assert first.prev_hash == "" and all(m.ANY_EVENT.decode(r.data).prev_hash for r in records[1:])


async def test_a_duplicate_publish_stores_once_and_the_chain_goes_on(js):
    event = _event(1)
    first = await bus.publish(js, SUBJECT, event, msg_id="same")
    again = await bus.publish(js, SUBJECT, event, msg_id="same")
    await bus.publish(js, SUBJECT, _event(2), msg_id="next")
    assert not first.duplicate and again.duplicate
    records = await bus.stored(js, bus.EVENTS_STREAM, SUBJECT)
    assert len(records) == 2 and audit.chain_findings(records) == []


async def test_each_subject_has_its_own_chain(js):
    for n in range(4):
        await bus.publish(js, subjects.evt_order(f"acct-{n % 2}"), _event(n))
    records = await bus.stored(js, bus.EVENTS_STREAM, subjects.ALL_EVENTS)
    assert [m.ANY_EVENT.decode(r.data).prev_hash == "" for r in records] == [True, True, False, False]
    assert audit.chain_findings(records) == []


async def _tamperable_events(js) -> None:
    """EVENTS as it was before it denied deletes: the API refuses them now, but a stream can
    still be altered outside it (its files, an edited backup restored), and the audit must
    catch that. The deletes below stand in for such an edit."""
    config = next(c for c in stream_configs() if c.name == bus.EVENTS_STREAM)
    await js.delete_stream(bus.EVENTS_STREAM)
    await js.add_stream(dataclasses.replace(config, deny_delete=False, deny_purge=False))


async def test_a_removed_or_replaced_stored_event_is_reported(nc, js):
    await _tamperable_events(js)
    acks = [await bus.publish(js, SUBJECT, _event(n)) for n in range(5)]
    await js.delete_msg(bus.EVENTS_STREAM, acks[1].seq)
    found = audit.chain_findings(await bus.stored(js, bus.EVENTS_STREAM, SUBJECT))
    assert [(f.check, f.account) for f in found] == [("chain_intact", "ib-1")]
    assert f"seq {acks[2].seq}:" in found[0].detail

    # Replace event 3 by an edited copy (JetStream cannot edit in place: delete, then store the
    # edit raw, as someone with write access to the stream could).
    stored = await js.get_msg(bus.EVENTS_STREAM, acks[3].seq)
    edited = msgspec.structs.replace(m.ANY_EVENT.decode(stored.data), message="edited")
    await js.delete_msg(bus.EVENTS_STREAM, acks[3].seq)
    await js.publish(SUBJECT, m.encode(edited))
    found = audit.chain_findings(await bus.stored(js, bus.EVENTS_STREAM, SUBJECT))
    assert len(found) == 3  # the earlier removal, event 4 (its predecessor is gone), the edit

    # Sequences are never reused: both removals stay visible, even where a chain could not tell.
    removed = await bus.removed_sequences(nc, bus.EVENTS_STREAM)
    assert removed == [acks[1].seq, acks[3].seq]
    assert [f.detail for f in audit.removal_findings(bus.EVENTS_STREAM, removed)] == [
        f"EVENTS seq {acks[1].seq} was removed from the stream", f"EVENTS seq {acks[3].seq} was removed from the stream"]


async def test_an_untouched_stream_has_no_removed_sequence(nc, js):
    for n in range(3):
        await bus.publish(js, SUBJECT, _event(n))
    assert await bus.removed_sequences(nc, bus.EVENTS_STREAM) == []


async def test_reading_an_empty_subject_returns_at_once_when_other_subjects_have_events(js):
    """A filtered reader skips other subjects' messages; it must not wait for one of its own."""
    for n in range(3):
        await bus.publish(js, subjects.evt_order("other"), _event(n))
    for _ in range(10):  # whether the server has skipped ahead when we ask is a matter of timing
        assert await bus.stored(js, bus.EVENTS_STREAM, subjects.evt_order("ib-1"), timeout=3) == []
    assert len(await bus.stored(js, bus.EVENTS_STREAM, subjects.evt_order("other"), timeout=3)) == 3


async def test_reading_since_a_time_starts_there(js):
    """``since`` is a datetime; nats-py sends it as RFC 3339 UTC, naive taken as UTC."""
    await bus.publish(js, SUBJECT, _event(1))
    await asyncio.sleep(0.05)
    cut = datetime.now(timezone.utc)
    await asyncio.sleep(0.05)
    await bus.publish(js, SUBJECT, _event(2))
    later = await bus.stored(js, bus.EVENTS_STREAM, SUBJECT, since=cut, timeout=5)
    assert [m.ANY_EVENT.decode(r.data).message for r in later] == ["2"]
    naive = cut.replace(tzinfo=None)
    assert await bus.stored(js, bus.EVENTS_STREAM, SUBJECT, since=naive, timeout=5) == later
    local = cut.astimezone(timezone(timedelta(hours=2)))
    assert await bus.stored(js, bus.EVENTS_STREAM, SUBJECT, since=local, timeout=5) == later
    assert len(await bus.stored(js, bus.EVENTS_STREAM, SUBJECT, since=cut - timedelta(hours=1), timeout=5)) == 2
