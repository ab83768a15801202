"""The paper book rebuilt from the account's order events. Pure.

The paper broker keeps no file: its book (cash, positions, working orders) is a projection of
EVENTS, the same log the audit replays, so what the gateway believes after a restart and what
``janus audit replay`` shows cannot drift apart, and a container needs no volume for it. Cash
and positions come from fills (each fill id once) on top of the configured starting cash; an
order is working once the paper broker accepted it (``OrderSubmitted``) until an event ends it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import msgspec
from immutables import Map

from janus_common.messages import (
    Broker,
    OrderBrokerRejected,
    OrderCancelled,
    OrderFilled,
    OrderGatewayRefused,
    OrderRouted,
    OrderStatusChanged,
    OrderSubmitted,
    PlaceOrder,
    order_key,
)

from .engine import Book, Working, with_fill

TRIGGERED = "Triggered"  # the broker_status a paper stop reports when its stop is reached


class Restoring(msgspec.Struct, frozen=True):
    book: Book
    routed: Map[str, PlaceOrder] = msgspec.field(default_factory=Map)
    fill_ids: frozenset[str] = frozenset()


def _key(event: Any) -> str:
    return order_key(event.intent_id, event.leg)


def _end(state: Restoring, event: Any) -> Restoring:
    key = _key(event)
    book = state.book
    working = book.working.delete(key) if key in book.working else book.working
    book = msgspec.structs.replace(book, working=working, known=book.known | {key})
    return msgspec.structs.replace(state, book=book)


def _routed(state: Restoring, event: OrderRouted) -> Restoring:
    routed = state.routed
    for o in event.orders:
        if o.broker is Broker.PAPER:
            routed = routed.set(o.order_key, o)
    return msgspec.structs.replace(state, routed=routed)


def _submitted(state: Restoring, event: OrderSubmitted) -> Restoring:
    key = _key(event)
    order = state.routed.get(key)
    book = state.book
    if order is None or key in book.known:
        return state
    book = msgspec.structs.replace(book, working=book.working.set(key, Working(order, event.ts)),
                                   known=book.known | {key})
    return msgspec.structs.replace(state, book=book)


def _status(state: Restoring, event: OrderStatusChanged) -> Restoring:
    if event.status.terminal:
        return _end(state, event)
    key = _key(event)
    w = state.book.working.get(key)
    if w is None or event.broker_status != TRIGGERED:
        return state
    working = state.book.working.set(key, msgspec.structs.replace(w, triggered=True))
    return msgspec.structs.replace(state, book=msgspec.structs.replace(state.book, working=working))


def _filled(state: Restoring, event: OrderFilled) -> Restoring:
    if event.fill_id in state.fill_ids:
        return state
    state = _end(state, event)  # a paper order fills whole, at once
    book = with_fill(state.book, event.symbol, event.side, event.qty, event.price)
    return msgspec.structs.replace(state, book=book, fill_ids=state.fill_ids | {event.fill_id})


_APPLY: dict[type, Callable[[Restoring, Any], Restoring]] = {
    OrderRouted: _routed,
    OrderSubmitted: _submitted,
    OrderStatusChanged: _status,
    OrderFilled: _filled,
    OrderCancelled: _end,
    OrderBrokerRejected: _end,
    OrderGatewayRefused: _end,
}


def apply(state: Restoring, event: Any) -> Restoring:
    step = _APPLY.get(type(event))
    if step is None or event.broker is not Broker.PAPER:  # every event of the table names its broker
        return state
    return step(state, event)


def restore(starting_cash: float, events: Iterable[Any]) -> Book:
    state = Restoring(Book(cash=starting_cash))
    for event in events:
        state = apply(state, event)
    return state.book
