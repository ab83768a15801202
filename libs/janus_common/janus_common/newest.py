"""The newest sequence a stream holds on a subject (wildcards allowed), asked once for everyone
who asks at the same time.

A read-your-writes barrier needs, per decision, a sequence the stream held at some moment after
the decision's input arrived. One request per decision made the barrier the router's busiest
line under load; here callers join a round, a round is sent only after every one of its callers
asked, and callers who arrive while a round is out join the next one. Each caller therefore
gets an answer taken after it asked (never an older one), and the server sees one request per
round trip however many decisions wait.

The newest message's own sequence, not the stream's ``state.last_seq``: that stays on a removed
message's number, which no consumer will ever deliver, and a barrier waiting for it would wait
forever (no router could start).
"""

from __future__ import annotations

import asyncio

import msgspec
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

NO_MESSAGE_FOUND = 10037  # JetStream's err_code; a missing stream is a 404 too, with its own code


class _Message(msgspec.Struct):
    seq: int = 0


class _Reply(msgspec.Struct):
    message: _Message | None = None
    error: dict[str, object] | None = None


_reply = msgspec.json.Decoder(_Reply)


class NewestSequence:
    def __init__(self, js: JetStreamContext, stream: str, subject: str, *, timeout: float = 5.0) -> None:
        self._nc: NATS = js._nc  # noqa: SLF001 - nats-py keeps the connection without a public accessor
        self._api = f"{js._prefix}.STREAM.MSG.GET.{stream}"  # noqa: SLF001 - honours a JetStream domain/prefix
        # The stream's leader answers (not a direct get, which a lagging replica may serve).
        self._request = msgspec.json.encode({"last_by_subj": subject})
        self._timeout = timeout
        self._next: asyncio.Future[int] | None = None  # the round not sent yet
        self._rounds: asyncio.Task[None] | None = None
        self.requests = 0  # sent so far

    async def read(self) -> int:
        """The sequence of the newest message on the subject, 0 when there is none. Raises what
        the request raised (nats.errors.TimeoutError, a JetStream APIError)."""
        round_ = self._next
        if round_ is None:
            round_ = self._next = asyncio.get_running_loop().create_future()
            round_.add_done_callback(_retrieve)
            if self._rounds is None or self._rounds.done():
                self._rounds = asyncio.ensure_future(self._send_rounds())
        # Shielded: one caller giving up must not cancel the answer the others wait for.
        return await asyncio.shield(round_)

    async def _send_rounds(self) -> None:
        while self._next is not None:
            round_, self._next = self._next, None
            try:
                seq = await self._ask()
            except BaseException as exc:  # each caller gets the failure as its own
                if not round_.done():
                    round_.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
            else:
                if not round_.done():
                    round_.set_result(seq)

    async def _ask(self) -> int:
        self.requests += 1
        try:
            msg = await self._nc.request(self._api, self._request, timeout=self._timeout)
        except nats.errors.NoRespondersError as exc:
            raise nats.js.errors.ServiceUnavailableError() from exc
        reply = _reply.decode(msg.data)
        if reply.error is not None:
            if reply.error.get("err_code") == NO_MESSAGE_FOUND:
                return 0  # nothing stored yet (or nothing left)
            raise nats.js.errors.APIError.from_error(reply.error)
        return reply.message.seq if reply.message is not None else 0


def _retrieve(round_: asyncio.Future[int]) -> None:
    """A failed round nobody awaited any more is not an "exception never retrieved"."""
    if not round_.cancelled():
        round_.exception()
