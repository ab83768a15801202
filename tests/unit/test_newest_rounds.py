"""How janus_common.newest groups callers into rounds: a caller who asks while a round is out
waits for the next one (an answer from before it asked would let the router decide on a ledger
missing a decision stored in between). The server's side is in
tests/integration/test_newest_sequence.py; here the request itself is replaced by answers the
test hands out, one per round, to fix the interleaving."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from janus_common.newest import NewestSequence


class _Rounds(NewestSequence):
    def __init__(self) -> None:
        super().__init__(SimpleNamespace(_nc=None, _prefix="$JS.API"), "EVENTS", "janus.evt.>")  # type: ignore[arg-type]
        self.answers: asyncio.Queue[int | Exception] = asyncio.Queue()
        self.sent = asyncio.Event()

    async def _ask(self) -> int:
        self.requests += 1
        self.sent.set()
        answer = await self.answers.get()
        if isinstance(answer, Exception):
            raise answer
        return answer


async def test_a_caller_arriving_while_a_round_is_out_gets_the_next_round():
    rounds = _Rounds()
    first = asyncio.ensure_future(rounds.read())
    await rounds.sent.wait()  # round 1 is out
    second = asyncio.ensure_future(rounds.read())
    third = asyncio.ensure_future(rounds.read())
    await asyncio.sleep(0)
    rounds.sent.clear()
    await rounds.answers.put(5)  # round 1's answer: from before the second and third asked
    await rounds.sent.wait()  # round 2 goes out only now
    assert await first == 5
    assert not second.done()
    await rounds.answers.put(7)
    assert (await second, await third) == (7, 7)
    assert rounds.requests == 2


async def test_a_failed_round_fails_its_callers_only():
    rounds = _Rounds()
    first = asyncio.ensure_future(rounds.read())
    await rounds.sent.wait()
    second = asyncio.ensure_future(rounds.read())
    await asyncio.sleep(0)
    await rounds.answers.put(TimeoutError("no answer"))
    await rounds.answers.put(9)
    assert isinstance((await asyncio.gather(first, return_exceptions=True))[0], TimeoutError)
    assert await second == 9


async def test_a_caller_that_gives_up_does_not_take_the_answer_from_the_others():
    rounds = _Rounds()
    impatient = asyncio.ensure_future(rounds.read())
    patient = asyncio.ensure_future(rounds.read())
    await rounds.sent.wait()
    impatient.cancel()
    await asyncio.sleep(0)
    await rounds.answers.put(3)
    assert await patient == 3
    assert impatient.cancelled()
