"""The router barrier's newest-sequence read (janus_common.newest): callers who ask at once share
one request, and no caller gets an answer from before it asked. Real NATS (JetStream)."""

from __future__ import annotations

import asyncio

import pytest
from nats.js.api import StreamConfig

from janus_common import subjects
from janus_common.newest import NewestSequence

pytestmark = pytest.mark.integration


async def test_an_empty_stream_answers_zero(nc):
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="EVENTS", subjects=[subjects.ALL_EVENTS]))
    assert await NewestSequence(js, "EVENTS", subjects.ALL_EVENTS).read() == 0


async def test_callers_at_once_share_requests_and_never_get_an_answer_older_than_their_ask(nc):
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="EVENTS", subjects=[subjects.ALL_EVENTS]))
    newest = NewestSequence(js, "EVENTS", subjects.ALL_EVENTS)
    answers: list[tuple[int, int]] = []  # (stored before the ask, answer)

    async def reader(stored_before: int) -> None:
        answers.append((stored_before, await newest.read()))

    readers = []
    for n in range(200):
        ack = await js.publish(subjects.evt_account(f"a{n % 5}"), b"e")
        # Each reader asks after its event was stored: its answer may not be older.
        readers.append(asyncio.ensure_future(reader(ack.seq)))
        if n % 20 == 0:
            await asyncio.sleep(0)  # let some rounds go out while publishing goes on
    await asyncio.gather(*readers)
    assert len(answers) == 200
    assert all(answer >= before for before, answer in answers), [a for a in answers if a[1] < a[0]][:5]
    assert all(answer <= 200 for _, answer in answers)

    # Fifty decisions waiting at once: one request answers them all.
    before = newest.requests
    burst = await asyncio.gather(*(newest.read() for _ in range(50)))
    assert burst == [200] * 50
    assert newest.requests - before == 1


async def test_a_failed_round_fails_each_of_its_callers_and_the_next_round_works(nc):
    js = nc.jetstream()
    newest = NewestSequence(js, "NOSUCH", subjects.ALL_EVENTS, timeout=2)
    results = await asyncio.gather(newest.read(), newest.read(), return_exceptions=True)
    assert all(isinstance(r, Exception) for r in results), results
    await js.add_stream(StreamConfig(name="NOSUCH", subjects=[subjects.ALL_EVENTS]))
    await js.publish(subjects.evt_account("a"), b"e")
    assert await newest.read() == 1
