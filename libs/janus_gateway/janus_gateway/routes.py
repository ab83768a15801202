"""Route messages (``janus.route.<broker>.<account>``) into broker calls, with the safety rules.

Places of one account are placed one at a time, in stream order, by one worker; cancels are
never queued behind them: each cancel runs on its own as soon as it arrives, so a place that
is stuck (the broker does not answer) or retrying cannot hold a cancel back. The consumer lets
several messages be in flight (``handler_acks``): this desk acks, naks or dead-letters each one
itself, and keeps the ones it holds alive (``in_progress``) while they wait.

Per-order order stays sane: a cancel for an order whose place is under way waits for that
place to settle (bounded), then cancels it at the broker; a cancel for an order that has not
reached the broker yet (queued, or between retries) ends it here (``OrderCancelled``), so the
place, when its turn comes, finds it finished and does not send it. Modifications go the
cancels' way (:mod:`.modifies`).

A place that fails (no answer, an unexpected exception) is tried again later; every attempt is
recorded first (``OrderPlaceAttempted``), so the count survives a restart. The quarantine rule
(:mod:`.safety`) decides when it stops: ``OrderGatewayRefused`` with ``POISON``, a dead letter,
and the worker goes on with the account's next order. A route message older than
``max_route_age_s`` is refused ``STALE`` instead of placed late. An order that may have been
sent before (an attempt is on record) is refused neither way before the broker says it does not
have it: what the broker has is followed, never refused.

Before any of that, a message that names another account or broker than this gateway's is
refused (``RouteRefused``, recorded on this account's subject) and acked: neither placed nor
cancelled, whatever it names, and not redelivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import structlog
from nats.aio.msg import Msg

from janus_common.messages import (
    clip,
    Broker,
    CancelOrder,
    GatewayOrderEvent,
    ModifyOrder,
    OrderCancelled,
    OrderEvent,
    OrderGatewayRefused,
    OrderPlaceAttempted,
    PlaceOrder,
    RejectReason,
    RouteRefused,
    order_key,
    split_order_key,
)

from . import metrics, safety
from .adapter import BrokerUnavailable, OrderRefused
from .emit import Emitter
from .modifies import ModifyDesk

__all__ = ["LegState", "OrderDesk", "RouteDesk", "RouteSettings"]

log = structlog.get_logger()

CONFIRM_POLL_S = 0.05  # the desk's tracks change in its own worker; checked this often


class LegState(NamedTuple):
    known: bool  # the order key is Janus's (routed, or seen in our own events)
    submitted: bool  # the broker acknowledged it
    finished: bool  # filled, cancelled, rejected or refused: nothing more to do
    waiting: bool = False  # the desk holds it until its prior leg ends, and settles it then


class OrderDesk(Protocol):
    """What the route desk needs from a gateway's order side."""

    def legs_of(self, intent_id: str) -> list[str]:
        """The order keys actually routed for the intent (one, or two for a split SELL)."""

    def leg_state(self, order_key: str) -> LegState: ...

    def refusal(self, order: PlaceOrder) -> OrderRefused | None:
        """Why this order cannot go to this broker at all (pure: no contract, wrong account)."""

    def note(self, event: OrderEvent) -> None:
        """Fold an event the kernel published about one of the desk's orders into its track."""

    async def has_order(self, order_key: str) -> bool:
        """Whether the broker already has it (placed before a restart or a dropped connection)."""

    async def place(self, order: PlaceOrder) -> None:
        """Place at most once; see :meth:`janus_gateway.adapter.BrokerAdapter.place`."""

    async def cancel(self, order_key: str) -> None: ...

    def modified(self, order_key: str, modify_id: str) -> bool: ...

    async def modify(self, command: ModifyOrder) -> None:
        """Change the working order at the broker; return once the broker took it, raise
        :class:`ModifyRefused` when it refuses (the order goes on as it was)."""

    def amend_waiting(self, command: ModifyOrder) -> bool: ...


@dataclass(frozen=True)
class RouteSettings:
    max_route_age_s: float = 60.0
    ready_wait_s: float = 5.0  # how long a message waits for the connection before it is retried
    retry_delay_s: float = 1.0
    keepalive_s: float = 5.0  # in_progress for held messages (well under the consumer's ack_wait)
    cancel_confirm_s: float = 5.0


@dataclass
class _Attempts:
    made: int = 0
    failures: list[str] = field(default_factory=list)
    last_detail: str = ""


class RouteDesk(ModifyDesk):
    def __init__(self, desk: OrderDesk, emitter: Emitter, broker: Broker, ready: asyncio.Event,
                 settings: RouteSettings = RouteSettings()) -> None:
        self.desk = desk
        self.emitter = emitter
        self.broker = broker
        self.ready = ready
        self.settings = settings
        self.dead_letter: Any = None  # the consumer's dead_letter, bound once it exists
        self._places: asyncio.Queue[tuple[PlaceOrder, Msg]] = asyncio.Queue()
        self._attempts: dict[str, _Attempts] = {}
        self._placing: dict[str, asyncio.Event] = {}  # keys whose place is queued or under way
        self._queued: dict[str, int] = {}  # keys whose place waits in the queue (how many copies)
        self._held: dict[int, Msg] = {}  # by id(): nats-py messages are not hashable
        self._tasks: set[asyncio.Task[None]] = set()
        labels = (emitter.alias, str(broker))  # the series exist from the start: a rate needs its zero
        metrics.PLACE_SECONDS.labels(*labels)
        metrics.ORDERS_PLACED.labels(*labels)
        metrics.FILLS.labels(*labels)

    # --- state from EVENTS -------------------------------------------------------------------

    def replay(self, event: Any) -> None:
        """Attempts already made (before a restart). An attempt followed by another one failed;
        the kind of that failure is in the next attempt's ``detail``."""
        if isinstance(event, OrderPlaceAttempted):
            key = _key(event)
            a = self._attempts.setdefault(key, _Attempts())
            if event.attempt > 1 and len(a.failures) < event.attempt - 1:
                a.failures.append(event.detail.split(":", 1)[0] or safety.NO_ANSWER)
            a.made = max(a.made, event.attempt)

    # --- the consumer's handler ----------------------------------------------------------------

    async def handle(self, command: PlaceOrder | CancelOrder | ModifyOrder, msg: Msg) -> None:
        self._held[id(msg)] = msg
        wrong = safety.misaddressed(command, self.emitter.alias, self.broker)
        if wrong is not None:
            # Checked here, before the book or the queue see it: a misaddressed message must not
            # touch this account's order of the same intent id (ids are scoped by account).
            try:
                await self._refuse_misaddressed(command, *wrong)
            except Exception:
                log.exception("route_misaddressed_unrecorded", intent_id=command.intent_id)
                await self._settle(msg, "nak")  # redelivered, and recorded then
                return
            await self._settle(msg, "ack")
            return
        if isinstance(command, (CancelOrder, ModifyOrder)):
            # Neither waits behind the account's places (a stuck place must not hold them back).
            work = self._cancel(command, msg) if isinstance(command, CancelOrder) else self._modify(command, msg)
            task = asyncio.create_task(work, name=f"{type(command).__name__}:{command.intent_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        self._placing.setdefault(command.order_key, asyncio.Event())
        self._queued[command.order_key] = self._queued.get(command.order_key, 0) + 1
        self._places.put_nowait((command, msg))

    async def work(self) -> None:
        """The account's one place worker, and the keep-alive of every message held."""
        keepalive = asyncio.create_task(self._keep_alive())
        try:
            while True:
                order, msg = await self._places.get()
                self._unqueue(order.order_key)
                try:
                    await self._place(order, msg)
                except Exception:  # the next order must not wait on this one's bug
                    log.exception("route_place_failed", order_key=order.order_key)
                    await self._settle(msg, "nak")
                finally:
                    done = self._placing.pop(order.order_key, None)
                    if done is not None:
                        done.set()
        finally:
            keepalive.cancel()

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(self.settings.keepalive_s)
            for msg in list(self._held.values()):
                with contextlib.suppress(Exception):
                    await msg.in_progress()

    async def _settle(self, msg: Msg, how: str, delay: float | None = None) -> None:
        self._held.pop(id(msg), None)
        with contextlib.suppress(Exception):  # an ack that cannot go out: redelivered, handled again
            if how == "ack":
                await msg.ack()
            else:
                await msg.nak(delay=delay if delay is not None else self.settings.retry_delay_s)

    async def _connected(self) -> bool:
        if self.ready.is_set():
            return True
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.ready.wait(), self.settings.ready_wait_s)
        return self.ready.is_set()

    # --- places ------------------------------------------------------------------------------

    async def _place(self, order: PlaceOrder, msg: Msg) -> None:
        key = order.order_key
        state = self.desk.leg_state(key)
        if state.finished:
            log.info("route_order_finished", order_key=key)
            await self._settle(msg, "ack")
            return
        cannot = safety.unsupported(order, self.broker)
        refused = OrderRefused(*cannot) if cannot is not None else self.desk.refusal(order)
        if refused is not None:
            await self.refuse(order, refused.reason, refused.detail)
            await self._settle(msg, "ack")
            return
        attempts = self._attempts.setdefault(key, _Attempts())
        stale = safety.is_stale(order.ts, time.time_ns(), self.settings.max_route_age_s)
        if stale and attempts.made == 0 and not state.submitted:
            await self._refuse_stale(order, msg)  # never sent: no need to ask the broker
            return
        if not await self._connected():
            await self._settle(msg, "nak")  # not an attempt: nothing was sent
            return
        try:
            if state.submitted or await self.desk.has_order(key):
                await self.desk.place(order)  # the desk reports what the broker did with it; never twice
                await self._settle(msg, "ack")
                return
        except BrokerUnavailable as exc:
            log.warning("route_place_unavailable", order_key=key, detail=exc.detail)
            await self._settle(msg, "nak")
            return
        # The broker does not have it (asked just now): too old, or tried too often, it stops here.
        if stale:
            await self._refuse_stale(order, msg)
            return
        if attempts.made > len(attempts.failures):
            # Attempted before (this process or the one before it) and it never settled here.
            attempts.failures.append(safety.NO_ANSWER)
        if safety.quarantine(attempts.failures):
            await self._quarantine(order, msg, attempts)
            return
        attempt = attempts.made + 1  # counted once the attempt is on record, never before
        await self._say(f"try:{key}:{attempt}", OrderPlaceAttempted(
            account=self.emitter.alias, intent_id=order.intent_id, broker=self.broker, leg=order.leg,
            attempt=attempt, detail=clip(attempts.last_detail)))
        attempts.made = attempt
        sent = time.perf_counter()
        try:
            await self.desk.place(order)
        except OrderRefused as exc:
            await self.refuse(order, exc.reason, exc.detail)
            await self._settle(msg, "ack")
            return
        except BrokerUnavailable as exc:
            attempts.made -= 1  # nothing reached the broker
            log.warning("route_place_unavailable", order_key=key, detail=exc.detail)
            await self._settle(msg, "nak")
            return
        except Exception as exc:
            kind = safety.failure_kind(exc)
            attempts.failures.append(kind)
            attempts.last_detail = f"{kind}: {exc}"[:500]
            log.warning("route_place_failed", order_key=key, kind=kind, attempt=attempts.made, detail=str(exc))
            if safety.quarantine(attempts.failures):
                await self._quarantine(order, msg, attempts)
            else:
                # A longer breath after each failed try: the connection is being re-established,
                # and a cancel for this order gets its chance to end it before it is sent again.
                await self._settle(msg, "nak", delay=self.settings.retry_delay_s * (1 + attempts.made))
            return
        labels = (self.emitter.alias, str(self.broker))
        metrics.PLACE_SECONDS.labels(*labels).observe(time.perf_counter() - sent)
        metrics.ORDERS_PLACED.labels(*labels).inc()
        await self._settle(msg, "ack")

    async def _refuse_stale(self, order: PlaceOrder, msg: Msg) -> None:
        age = (time.time_ns() - order.ts) / 1e9
        await self.refuse(order, RejectReason.STALE,
                          f"the route message is {age:.1f} s old (max {self.settings.max_route_age_s:g} s)")
        await self._settle(msg, "ack")

    async def _quarantine(self, order: PlaceOrder, msg: Msg, attempts: _Attempts) -> None:
        detail = safety.quarantine_detail(order.order_key, attempts.failures, attempts.last_detail)
        log.error("route_quarantined", order_key=order.order_key, detail=detail)
        await self.refuse(order, RejectReason.POISON, detail)
        self._held.pop(id(msg), None)
        if self.dead_letter is not None:
            await self.dead_letter(msg, RuntimeError(detail))
        else:
            await msg.term()

    async def _refuse_misaddressed(self, command: PlaceOrder | CancelOrder | ModifyOrder, reason: RejectReason,
                                   text: str) -> None:
        if isinstance(command, PlaceOrder):
            leg, cancel_id, what = command.leg, None, f"place:{command.order_key}"
        elif isinstance(command, ModifyOrder):
            leg, cancel_id, what = command.leg, None, f"modify:{command.modify_id}:{command.order_key}"
        else:
            leg, cancel_id, what = 0, command.cancel_id, f"cancel:{command.cancel_id}"
        log.error("route_misaddressed", reason=str(reason), intent_id=command.intent_id,
                  named_account=command.account, named_broker=str(command.broker))
        # Not noted into the desk: it is no order of this account's.
        await self.emitter.emit(f"misaddressed:{command.account}:{command.broker}:{what}", RouteRefused(
            account=self.emitter.alias, named_intent_id=command.intent_id, leg=leg, cancel_id=cancel_id,
            named_account=command.account, named_broker=str(command.broker), reason=reason, text=clip(text)))

    async def refuse(self, order: PlaceOrder, reason: RejectReason, text: str) -> None:
        """Janus's own refusal of a broker order (never sent, or never again)."""
        await self._say(f"refused:{order.order_key}", OrderGatewayRefused(
            account=self.emitter.alias, intent_id=order.intent_id, broker=self.broker, leg=order.leg,
            reason=reason, text=clip(text)))
        metrics.ORDERS_REFUSED.labels(self.emitter.alias, str(self.broker), str(reason)).inc()

    async def _say(self, local_id: str, event: GatewayOrderEvent) -> None:
        """Publish, and only then fold into the desk's state: an event JetStream never
        acknowledged must not count as said (it is said again on the next try)."""
        await self.emitter.emit(local_id, event)
        self.desk.note(event)

    # --- cancels -----------------------------------------------------------------------------

    async def _cancel(self, command: CancelOrder, msg: Msg) -> None:
        try:
            if not await self._connected():
                await self._settle(msg, "nak")
                return
            for key in self.desk.legs_of(command.intent_id):
                await self._cancel_leg(key)
            await self._settle(msg, "ack")
        except Exception:
            log.exception("route_cancel_failed", intent_id=command.intent_id)
            await self._settle(msg, "nak")

    async def _cancel_leg(self, key: str) -> None:
        placing = self._placing.get(key)
        if placing is not None and not self._queued_only(key):
            # Its place is under way: let it settle so the cancel finds the order at the broker.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(placing.wait(), self.settings.ready_wait_s * 2)
        state = self.desk.leg_state(key)
        if state.finished or state.waiting:
            return  # a waiting leg ends with its prior leg (refused when that one did not fill)
        if state.submitted or await self.desk.has_order(key):
            await self.desk.cancel(key)
            log.info("cancel_sent", order_key=key)
            await self._confirmed(key)
            return
        # Not at the broker (queued behind another place, or between retries): it ends here.
        intent_id, leg = split_order_key(key)
        await self._say(f"cxl:{key}", OrderCancelled(
            account=self.emitter.alias, intent_id=intent_id, broker=self.broker, leg=leg,
            reason="cancelled before it reached the broker"))

    async def _confirmed(self, key: str) -> None:
        """Wait (bounded) for the order to end. A connection that drops first may have taken the
        cancel with it: the cancel message is then tried again. Still working at the bound (the
        broker is slow to cancel) is no failure: its outcome arrives as reports."""
        deadline = time.monotonic() + self.settings.cancel_confirm_s
        while time.monotonic() < deadline:
            if self.desk.leg_state(key).finished:
                return
            if not self.ready.is_set():
                raise BrokerUnavailable(f"the connection dropped before the cancel of {key} was confirmed")
            await asyncio.sleep(CONFIRM_POLL_S)

    def _queued_only(self, key: str) -> bool:
        """True while the key's place still waits in the queue (not taken by the worker)."""
        return key in self._queued

    def _unqueue(self, key: str) -> None:
        left = self._queued.pop(key, 0) - 1
        if left > 0:
            self._queued[key] = left


def _key(event: GatewayOrderEvent) -> str:
    return order_key(event.intent_id, event.leg)
