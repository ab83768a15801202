"""The fault tests' load: N accounts, a target rate, a duration. Each intent is a BUY MARKET of
one share published to ``janus.intent.<account>`` through JetStream with ``Nats-Msg-Id`` =
``<account>:<intent id>`` (janus_common.msgids, what JanusClient.submit sends) under a client
identity of its own (``fault-load``, declared in the test's config.yaml). A publish is tried
once: it is either acknowledged (the intent is stored in INTENTS) or errors (timeout, no
responders while the stream has no leader, connection down): both are recorded with times.
With ``retry_s`` > 0 the client does what a careful client does: it resends the same intent
(same msg-id, so JetStream stores it once) until acknowledged or ``retry_s`` after the first
try, and ``attempts`` counts the tries.
The pacing is an open loop: intent i leaves at start + i / rate whatever the earlier acks do,
so an outage does not slow the sender down (as real clients would not)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

from janus_common import bus, msgids, subjects
from janus_common import messages as m

LOAD_IDENTITY = "fault-load"
ACCOUNTS = ("ib-1", "ib-2", "wb-1")


@dataclass
class Sent:
    intent: m.OrderIntent
    sent_at: float  # time.time() when the publish left
    done_at: float = 0.0  # when the ack (or the error) came back
    acked: bool = False
    duplicate: bool = False
    error: str | None = None
    attempts: int = 0


@dataclass
class Load:
    sent: list[Sent] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0

    @property
    def acked(self) -> list[Sent]:
        return [s for s in self.sent if s.acked]

    @property
    def errors(self) -> list[Sent]:
        return [s for s in self.sent if not s.acked]

    def figures(self) -> dict[str, object]:
        errors: dict[str, int] = {}
        for s in self.errors:
            errors[s.error or "?"] = errors.get(s.error or "?", 0) + 1
        span = max(self.ended - self.started, 1e-9)
        return {"sent": len(self.sent), "acked": len(self.acked), "errors": len(self.errors),
                "error_kinds": errors, "duplicates_acked": sum(s.duplicate for s in self.sent),
                "resent": sum(1 for s in self.sent if s.attempts > 1),
                "acked_after_resend": sum(1 for s in self.sent if s.acked and s.attempts > 1),
                "achieved_rate_per_s": round(len(self.sent) / span, 1)}


async def drive(url: str, creds: Path, *, rate: float, duration: float, accounts: tuple[str, ...] = ACCOUNTS,
                symbol: str = "AAPL", publish_timeout: float = 3.0, retry_s: float = 0.0,
                started: asyncio.Event | None = None) -> Load:
    """Send ``rate`` intents per second for ``duration`` seconds, round robin over ``accounts``."""
    nc = await bus.connect(url, LOAD_IDENTITY, initial_attempts=10, creds=creds)
    js = nc.jetstream()
    load = Load()
    tasks: list[asyncio.Task[None]] = []

    async def one(record: Sent) -> None:
        account = record.intent.account
        give_up = time.monotonic() + retry_s
        while True:
            record.attempts += 1
            try:
                ack = await bus.publish(js, subjects.intent(account), record.intent,
                                        msg_id=msgids.intent(account, record.intent.intent_id),
                                        timeout=publish_timeout)
                record.acked, record.duplicate, record.error = True, bool(ack.duplicate), None
                break
            except Exception as exc:  # every way a publish fails is a figure, not a crash
                record.error = type(exc).__name__
            if time.monotonic() >= give_up:
                break
            await asyncio.sleep(0.25)  # a client's back-off between resends
        record.done_at = time.time()

    total = int(rate * duration)
    load.started = time.time()
    t0 = time.monotonic()
    if started is not None:
        started.set()
    try:
        for i in range(total):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)  # pacing, not synchronisation
            account = accounts[i % len(accounts)]
            intent = m.OrderIntent(account=account, symbol=symbol, side=m.Side.BUY,
                                   order_type=m.OrderType.MARKET, qty=1)
            record = Sent(intent=intent, sent_at=time.time())
            load.sent.append(record)
            tasks.append(asyncio.create_task(one(record)))
        await asyncio.gather(*tasks)
    finally:
        load.ended = time.time()
        await nc.close()
    return load
