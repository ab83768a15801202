"""The order book every gateway keeps: its orders' tracks, rebuilt from EVENTS, and the one place
where reports become published events (under one lock, so two sources saying the same thing
publish it once). A broker's order desk builds on it and adds only how it talks to its broker."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import msgspec.structs
import structlog

from janus_common.messages import (
    Broker,
    ExternalOrderSeen,
    GatewayOrderEvent,
    ModifyOrder,
    ModifyRejected,
    OrderEvent,
    OrderFilled,
    OrderPlaceAttempted,
    OrderRouted,
    PlaceOrder,
    order_key,
    split_order_key,
)

from . import tracker
from .adapter import ModifyRefused, Report
from .emit import Emitter
from .routes import LegState
from .tracker import Track

__all__ = ["OrderBook"]

log = structlog.get_logger()


class OrderBook:
    def __init__(self, emitter: Emitter, alias: str, broker: Broker) -> None:
        self.emitter = emitter
        self.alias = alias
        self.broker = broker
        self.tracks: dict[str, Track] = {}
        self.by_client_order_id: dict[str, str] = {}  # the broker's id for our order → its key
        self.routed: dict[str, PlaceOrder] = {}  # the broker orders the router sent us
        self.externals: set[tuple[str, str]] = set()  # (broker order id, state) already published
        self._lock = asyncio.Lock()

    def client_order_id(self, key: str) -> str:
        """The id the broker knows the order by, when it is not the key itself."""
        return ""

    def track(self, key: str, **fields: Any) -> Track:
        found = self.tracks.get(key)
        if found is None:
            found = Track(key, self.alias, self.broker, client_order_id=self.client_order_id(key), **fields)
            self._keep(found)
        elif fields and not found.symbol:  # known from our own events only (no OrderRouted seen)
            found = msgspec.structs.replace(found, **fields)
            self._keep(found)
        return found

    def _keep(self, t: Track) -> None:
        self.tracks[t.order_key] = t
        if t.client_order_id:
            self.by_client_order_id[t.client_order_id] = t.order_key

    # --- state from EVENTS (and the kernel's own events as it emits them) ----------------------

    def replay(self, event: Any) -> None:
        _replay(event, self)

    note = replay

    # --- what the route desk asks ----------------------------------------------------------------

    def legs_of(self, intent_id: str) -> list[str]:
        """The legs actually routed (or seen in our own events), not a guess of ``(0, 1)``."""
        return sorted(k for k in self.tracks if split_order_key(k)[0] == intent_id)

    def leg_state(self, key: str) -> LegState:
        t = self.tracks.get(key)
        if t is None:
            return LegState(False, False, False)
        return LegState(True, t.submitted, t.finished, self.waiting(key))

    def waiting(self, key: str) -> bool:
        """Whether the desk holds this leg until its prior leg ends (split orders)."""
        return False

    def modified(self, key: str, modify_id: str) -> bool:
        """Whether this modification was already answered (taken or refused) for the order."""
        t = self.tracks.get(key)
        return t is not None and modify_id in t.modifies

    async def modify(self, command: ModifyOrder) -> None:
        """Change a working order at the broker; returns once the broker took it. A broker that
        cannot modify refuses (the router does not send modifications to one; this is the net)."""
        raise ModifyRefused("MODIFY_UNSUPPORTED", f"{self.broker} orders cannot be modified in place")

    def amend_waiting(self, command: ModifyOrder) -> bool:
        """Change an order the desk holds back (a bracket's exit waiting for its entry) before
        it is placed. False when the desk holds no such order."""
        return False

    def open_keys(self) -> list[str]:
        return [k for k, t in self.tracks.items() if t.submitted and not t.finished]

    # --- reports → events ------------------------------------------------------------------------

    async def report(self, key: str, report: Report) -> list[OrderEvent]:
        """Fold a report about one of our orders and publish what is new."""
        async with self._lock:
            track, events = tracker.apply(report, self.tracks[key])
            # An outbox: the track moves on only once JetStream has acknowledged every event.
            # If the publish fails, the same report (or the reconcile after the outage) derives
            # the same events with the same msg ids, and whatever did get stored is dropped as a
            # duplicate.
            await self.emitter.emit_all(events)
            self.tracks[key] = track
        published = [event for _, event in events]
        if published:
            self.after(key, published)
        return published

    def after(self, key: str, events: list[OrderEvent]) -> None:
        """Hook: what the desk does once events about ``key`` are out (e.g. release a later leg)."""

    async def external(self, event: ExternalOrderSeen) -> None:
        """An order on the account that Janus did not place: published once per state."""
        seen = (event.broker_order_id, str(event.status))
        if seen in self.externals:
            return
        await self.emitter.emit(f"ext:{event.broker_order_id}:{event.status}", event)
        self.externals.add(seen)


@functools.singledispatch
def _replay(event: Any, book: OrderBook) -> None:
    return None


@_replay.register
def _(event: OrderRouted, book: OrderBook) -> None:
    for o in event.orders:
        if o.broker is book.broker:
            book.track(o.order_key, symbol=o.symbol, side=o.side, qty=o.qty)
            book.routed[o.order_key] = o


@_replay.register
def _(event: ExternalOrderSeen, book: OrderBook) -> None:
    book.externals.add((event.broker_order_id, str(event.status)))


@_replay.register
def _(event: GatewayOrderEvent, book: OrderBook) -> None:
    if event.broker is not book.broker:
        return
    key = order_key(event.intent_id, event.leg)
    # The router's OrderRouted may be missing (a route sent by another tool): our own events for
    # the account are enough to know the order is Janus's.
    t = book.track(key, symbol=event.symbol) if isinstance(event, OrderFilled) else book.track(key)
    book._keep(tracker.replay(event, t))


@_replay.register
def _(event: ModifyRejected, book: OrderBook) -> None:
    if event.leg is None or event.intent_id is None:
        return  # refused by the router: no gateway order was touched
    key = order_key(event.intent_id, event.leg)
    t = book.tracks.get(key)
    if t is not None:
        book._keep(msgspec.structs.replace(t, modifies=t.modifies | {event.modify_id}))


@_replay.register
def _(event: OrderPlaceAttempted, book: OrderBook) -> None:
    return None  # the route desk's count, not the order's life
