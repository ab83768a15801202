"""The library client applications use: submit intents, cancel, follow orders, read positions.

    async with await JanusClient.connect("nats://127.0.0.1:14222") as janus:
        outcome = await janus.submit(OrderIntent(account="ib-1", symbol="AAPL", side=Side.BUY,
                                                 order_type=OrderType.MARKET, qty=10))
        if isinstance(outcome, OrderRouted):
            final = await janus.wait_terminal(outcome.account, outcome.intent_id)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from nats.aio.client import Client as NATS
from nats.js.api import DeliverPolicy

from janus_common import bus, subjects
from janus_common import messages as m
from janus_common.streams import EVENTS_STREAM

from . import valuations

Outcome = m.OrderRouted | m.OrderRejected
CancelOutcome = m.CancelRouted | m.OrderRejected
TERMINAL = (m.OrderState.FILLED, m.OrderState.CANCELLED, m.OrderState.REJECTED)


class JanusTimeout(TimeoutError):
    """Janus did not answer in time. The intent may still be decided: follow its events."""

    def __init__(self, what: str, intent_id: str, timeout: float) -> None:
        self.intent_id = intent_id
        super().__init__(f"no {what} for intent {intent_id} within {timeout:g}s")


class JanusClient:
    def __init__(self, nc: NATS) -> None:
        self.nc = nc
        self.js = nc.jetstream()

    @classmethod
    async def connect(cls, url: str, *, name: str = "janus-client", attempts: int = 3) -> "JanusClient":
        return cls(await bus.connect(url, name, initial_attempts=attempts))

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.nc.drain()

    async def __aenter__(self) -> "JanusClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @contextlib.asynccontextmanager
    async def _order_events(self, account: str, *, from_start: bool = False) -> AsyncIterator[asyncio.Queue]:
        feed = await self.follow_orders(account, from_start=from_start)
        try:
            yield feed.queue
        finally:
            await feed.close()

    async def _first(self, queue: asyncio.Queue, match, what: str, intent_id: str, timeout: float) -> Any:
        async def find() -> Any:
            while True:
                event = await queue.get()
                if match(event):
                    return event

        try:
            return await asyncio.wait_for(find(), timeout)
        except asyncio.TimeoutError:
            raise JanusTimeout(what, intent_id, timeout) from None

    async def submit(self, intent: m.OrderIntent, *, timeout: float = 10.0) -> Outcome:
        """Publish the intent (deduplicated by its id) and return its routing outcome."""
        def is_outcome(e: Any) -> bool:
            if isinstance(e, m.OrderRejected):
                return e.intent_id == intent.intent_id and e.cancel_id is None
            return isinstance(e, m.OrderRouted) and e.intent_id == intent.intent_id

        async with self._order_events(intent.account) as live:
            ack = await bus.publish(self.js, subjects.intent(intent.account), intent, msg_id=intent.intent_id)
            if not ack.duplicate:
                return await self._first(live, is_outcome, "routing outcome", intent.intent_id, timeout)
        # Submitted before: its outcome is already in the stream.
        async with self._order_events(intent.account, from_start=True) as history:
            return await self._first(history, is_outcome, "routing outcome", intent.intent_id, timeout)

    async def cancel(self, account: str, intent_id: str, *, timeout: float = 10.0) -> CancelOutcome:
        cancel = m.CancelIntent(intent_id=intent_id, account=account)

        def is_outcome(e: Any) -> bool:
            return isinstance(e, (m.CancelRouted, m.OrderRejected)) and e.cancel_id == cancel.cancel_id

        async with self._order_events(account) as live:
            await bus.publish(self.js, subjects.intent(account), cancel, msg_id=cancel.cancel_id)
            return await self._first(live, is_outcome, "cancel outcome", intent_id, timeout)

    async def wait_terminal(self, account: str, intent_id: str, *, timeout: float = 30.0) -> Any:
        """The event that ends the order: filled, cancelled, rejected by Janus or the broker."""
        def ends(e: Any) -> bool:
            if not isinstance(e, m.OrderEvent) or e.intent_id != intent_id:
                return False
            if isinstance(e, m.OrderRejected) and e.cancel_id is None:
                return True
            if isinstance(e, (m.OrderCancelled, m.OrderBrokerRejected, m.OrderGatewayRefused)):
                return True
            return isinstance(e, m.OrderStatusChanged) and e.status in TERMINAL

        async with self._order_events(account, from_start=True) as history:
            return await self._first(history, ends, "final state", intent_id, timeout)

    async def follow_orders(self, account: str, *, from_start: bool = False) -> "Feed":
        """The account's order events as they happen (or its whole history first). The
        subscription exists when this returns: nothing published afterwards is missed."""
        feed = Feed(m.ORDER_EVENTS)
        feed.sub = await self.js.subscribe(subjects.evt_order(account), stream=EVENTS_STREAM, ordered_consumer=True,
                                           deliver_policy=DeliverPolicy.ALL if from_start else DeliverPolicy.NEW,
                                           cb=feed.on_msg)
        return feed

    async def follow_valuations(self, account: str | None = None) -> "Feed":
        """The account's (or every account's) valuations as the pricer publishes them."""
        feed = Feed(m.VALUATIONS)
        subject = subjects.val(account) if account else subjects.ALL_VALUATIONS
        feed.sub = await self.nc.subscribe(subject, cb=feed.on_msg)
        await self.nc.flush()
        return feed

    async def positions(self, account: str) -> m.PositionSnapshot | None:
        """The broker's latest position snapshot for the account, as recorded in EVENTS."""
        try:
            raw = await self.js.get_last_msg(EVENTS_STREAM, subjects.evt_position(account))
        except Exception:
            return None
        return m.POSITION_EVENTS.decode(raw.data)

    async def valuation(self, account: str) -> m.AccountValuation | None:
        """The account's latest valuation, as the pricer keeps it in KV."""
        found = await valuations.latest(self.js, account)
        return found[0] if found else None


class Feed:
    """An async iterator over one subscription's typed messages; ``close()`` ends it."""

    def __init__(self, codec: m.Codec[Any]) -> None:
        self.codec = codec
        self.queue: asyncio.Queue = asyncio.Queue()
        self.sub: Any = None

    async def on_msg(self, msg) -> None:
        try:
            await self.queue.put(self.codec.decode(msg.data, subject=msg.subject))
        except m.MessageDecodeError:
            pass  # not ours to judge here; the services dead-letter what they cannot read

    def __aiter__(self) -> "Feed":
        return self

    async def __anext__(self) -> Any:
        return await self.queue.get()

    async def next(self, timeout: float) -> Any:
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def close(self) -> None:
        if self.sub is not None:
            await self.sub.unsubscribe()
