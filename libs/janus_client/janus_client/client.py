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
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy

from janus_common import bus, msgids, projections, subjects
from janus_common import messages as m
from janus_common.streams import EVENTS_STREAM

from . import valuations

Outcome = m.OrderRouted | m.OrderRejected
CancelOutcome = m.CancelRouted | m.OrderRejected
ModifyOutcome = m.ModifyRouted | m.ModifyRejected
ModifyResult = m.OrderModified | m.ModifyRejected
StateOutcome = m.TradingStateChanged | m.ControlRejected
TERMINAL = (m.OrderState.FILLED, m.OrderState.CANCELLED, m.OrderState.REJECTED)


def ends_order(e: Any) -> bool:
    """Whether ``e`` is the event that ends its intent's order."""
    if isinstance(e, m.OrderRejected) and e.cancel_id is None:
        return True
    if isinstance(e, (m.OrderCancelled, m.OrderBrokerRejected, m.OrderGatewayRefused)):
        return True
    return isinstance(e, m.OrderStatusChanged) and e.status in TERMINAL


@dataclass(frozen=True)
class CancelAllResult:
    """What a cancel-all (or a halt with cancel_working) did: the router's decision, and the
    event that ended each order it cancelled (a fill that beat the cancel, too)."""

    decision: m.CancelAllRouted | m.ControlRejected
    outcomes: dict[str, Any]


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
    async def connect(cls, url: str, *, name: str = "janus-client", attempts: int = 3,
                      creds: str | None = None) -> "JanusClient":
        """``creds``: this client's credentials file (default ``$JANUS_NATS_CREDS``)."""
        return cls(await bus.connect(url, name, initial_attempts=attempts, creds=creds))

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.nc.drain()

    async def __aenter__(self) -> "JanusClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @contextlib.asynccontextmanager
    async def _order_events(
        self, account: str, *, from_start: bool = False
    ) -> AsyncIterator[asyncio.Queue[Any]]:
        feed = await self.follow_orders(account, from_start=from_start)
        try:
            yield feed.queue
        finally:
            await feed.close()

    async def _first(self, queue: asyncio.Queue[Any], match: Callable[[Any], bool], what: str,
                     intent_id: str, timeout: float) -> Any:
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
            ack = await bus.publish(self.js, subjects.intent(intent.account), intent, msg_id=msgids.intent(intent.account, intent.intent_id))
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
            await bus.publish(self.js, subjects.intent(account), cancel, msg_id=msgids.cancel(account, cancel.cancel_id))
            return await self._first(live, is_outcome, "cancel outcome", intent_id, timeout)

    async def modify(self, modify: m.ModifyIntent, *, timeout: float = 10.0,
                     wait: bool = False) -> tuple[ModifyOutcome, ModifyResult | None]:
        """Ask for a modification; the router's answer, and with ``wait`` the broker's (the
        order modified, or the modification refused)."""
        mid = modify.modify_id

        def routed(e: Any) -> bool:
            return isinstance(e, (m.ModifyRouted, m.ModifyRejected)) and e.modify_id == mid

        def answered(e: Any) -> bool:
            return isinstance(e, (m.OrderModified, m.ModifyRejected)) and e.modify_id == mid

        async with self._order_events(modify.account) as live:
            await bus.publish(self.js, subjects.intent(modify.account), modify,
                              msg_id=msgids.modify(modify.account, mid))
            outcome = await self._first(live, routed, "modify outcome", modify.intent_id, timeout)
            if not wait or isinstance(outcome, m.ModifyRejected):
                return outcome, None
            return outcome, await self._first(live, answered, "broker's answer to the modification",
                                              modify.intent_id, timeout)

    async def capabilities(self, account: str, *, timeout: float = 5.0) -> m.CapabilitiesReply:
        """What the account can send, as the router decides it."""
        return await bus.request(self.nc, subjects.rpc_capabilities(account),
                                 m.CapabilitiesRequest(account=account), m.CAPABILITIES_REPLY, timeout=timeout)

    async def wait_terminal(self, account: str, intent_id: str, *, timeout: float = 30.0) -> Any:
        """The event that ends the order: filled, cancelled, rejected by Janus or the broker."""
        def ends(e: Any) -> bool:
            return isinstance(e, m.OrderEvent) and e.intent_id == intent_id and ends_order(e)

        async with self._order_events(account, from_start=True) as history:
            return await self._first(history, ends, "final state", intent_id, timeout)

    # --- account control ----------------------------------------------------------------

    async def halt(self, account: str, *, reduce_only: bool = False, cancel_working: bool = False,
                   reason: str = "", requested_by: str = "", timeout: float = 30.0
                   ) -> tuple[StateOutcome, CancelAllResult | None]:
        """HALTED (nothing new passes) or, with ``reduce_only``, REDUCING. With ``cancel_working``
        the account's working orders are cancelled too, and their outcomes awaited."""
        state = m.TradingState.REDUCING if reduce_only else m.TradingState.HALTED
        return await self._set_state(m.TradingStateRequest(account=account, state=state, reason=reason,
                                                           requested_by=requested_by,
                                                           cancel_working=cancel_working), timeout)

    async def resume(self, account: str, *, reason: str = "", requested_by: str = "",
                     timeout: float = 10.0) -> StateOutcome:
        request = m.TradingStateRequest(account=account, state=m.TradingState.ACTIVE, reason=reason,
                                        requested_by=requested_by)
        return (await self._set_state(request, timeout))[0]

    async def cancel_all(self, account: str, symbol: str | None = None, *, reason: str = "",
                         requested_by: str = "", timeout: float = 30.0) -> CancelAllResult:
        """Cancel every working order of the account (or of one symbol); returns once each has ended."""
        request = m.CancelAllRequest(account=account, symbol=symbol, reason=reason, requested_by=requested_by)
        async with self._control_feeds(account) as (control, orders):
            await bus.publish(self.js, subjects.control(account), request, msg_id=request.request_id)
            return await self._cancelled(control, orders, request.request_id, timeout)

    async def _set_state(self, request: m.TradingStateRequest, timeout: float
                         ) -> tuple[StateOutcome, CancelAllResult | None]:
        rid = request.request_id
        async with self._control_feeds(request.account) as (control, orders):
            await bus.publish(self.js, subjects.control(request.account), request, msg_id=rid)
            outcome = await self._first(control, lambda e: isinstance(e, (m.TradingStateChanged, m.ControlRejected))
                                        and e.request_id == rid, "trading state change", rid, timeout)
            if not request.cancel_working or isinstance(outcome, m.ControlRejected):
                return outcome, None
            return outcome, await self._cancelled(control, orders, rid, timeout)

    async def _cancelled(self, control: asyncio.Queue[Any], orders: asyncio.Queue[Any], rid: str,
                         timeout: float) -> CancelAllResult:
        decision = await self._first(control, lambda e: isinstance(e, (m.CancelAllRouted, m.ControlRejected))
                                     and e.request_id == rid, "cancel-all decision", rid, timeout)
        outcomes: dict[str, Any] = {}
        pending = dict(decision.cancels) if isinstance(decision, m.CancelAllRouted) else {}

        def settles(e: Any) -> bool:
            intent_id = getattr(e, "intent_id", None)
            if intent_id not in pending:
                return False
            refused = isinstance(e, m.OrderRejected) and e.cancel_id == pending[intent_id]
            if ends_order(e) or refused:  # a refused cancel: the order had finished already
                outcomes[intent_id] = e
                del pending[intent_id]
            return not pending

        if pending:
            await self._first(orders, settles, "cancel outcomes", rid, timeout)
        return CancelAllResult(decision, outcomes)

    @contextlib.asynccontextmanager
    async def _control_feeds(self, account: str) -> AsyncIterator[tuple[asyncio.Queue[Any], asyncio.Queue[Any]]]:
        control = await self._follow(m.CONTROL_EVENTS, subjects.evt_control(account), from_start=False)
        try:
            async with self._order_events(account) as orders:
                yield control.queue, orders
        finally:
            await control.close()

    async def trading_state(self, account: str, *, timeout: float = 10.0) -> m.TradingState:
        """The account's trading state, folded from its control events the way the router folds them."""
        records = await bus.stored(self.js, EVENTS_STREAM, subjects.evt_control(account), timeout=timeout)
        ledger = projections.replay(m.CONTROL_EVENTS.decode(r.data, subject=r.subject) for r in records)
        return projections.trading_state(ledger, account)

    async def follow_orders(self, account: str, *, from_start: bool = False) -> "Feed":
        """The account's order events as they happen (or its whole history first). The
        subscription exists when this returns: nothing published afterwards is missed."""
        return await self._follow(m.ORDER_EVENTS, subjects.evt_order(account), from_start=from_start)

    async def _follow(self, codec: m.Codec[Any], subject: str, *, from_start: bool) -> "Feed":
        """Live events need no JetStream consumer: a core subscription made (and flushed) before
        anything is published misses nothing, and a client identity may hold one for its own
        accounts (janus_common.authz). The history is a stream read: the operator's, the auditor's."""
        feed = Feed(codec)
        if from_start:
            feed.sub = await self.js.subscribe(subject, stream=EVENTS_STREAM, ordered_consumer=True,
                                               deliver_policy=DeliverPolicy.ALL, cb=feed.on_msg)
        else:
            feed.sub = await self.nc.subscribe(subject, cb=feed.on_msg)
            await self.nc.flush()
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
            # A direct get names the subject in its API subject, so a client's permissions can
            # allow its own accounts' snapshots and nothing else.
            raw = await self.js.get_last_msg(EVENTS_STREAM, subjects.evt_position(account), direct=True)
        except Exception:
            return None
        # nats-py leaves ``data`` None for an empty payload: decode it as the empty payload it is
        return m.POSITION_EVENTS.decode(raw.data or b"")

    async def valuation(self, account: str) -> m.AccountValuation | None:
        """The account's latest valuation, as the pricer keeps it in KV."""
        found = await valuations.latest(self.js, account)
        return found[0] if found else None


class Feed:
    """An async iterator over one subscription's typed messages; ``close()`` ends it."""

    def __init__(self, codec: m.Codec[Any]) -> None:
        self.codec = codec
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.sub: Any = None

    async def on_msg(self, msg: Msg) -> None:
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
