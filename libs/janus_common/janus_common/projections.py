"""Projections of the EVENTS stream: pure ``apply(state, event) -> state``.

Services rebuild their memory (orders in flight, positions) by folding EVENTS through these
functions at start-up, and ``janus audit replay`` folds the same functions, so what a service
believed and what the audit log says can never drift apart. States are frozen; ``apply``
returns a new state and never mutates its input. The maps are persistent (HAMT,
``immutables.Map``): an update costs O(log n), not a copy of every order ever seen.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import msgspec
from immutables import Map

from . import memory
from .messages import (
    EXIT_LEGS,
    Broker,
    ModifyRejected,
    ModifyRouted,
    OrderModified,
    BrokerSide,
    GatewayOrderEvent,
    OrderBrokerRejected,
    OrderCancelled,
    OrderFilled,
    OrderGatewayRefused,
    OrderHeld,
    OrderRejected,
    OrderRouted,
    OrderState,
    OrderStatusChanged,
    OrderSubmitted,
    PlaceOrder,
    PositionSnapshot,
    RejectReason,
    Side,
    TradingState,
    TradingStateChanged,
)

# The order-rate limit counts the orders routed in the last RATE_WINDOW_NS (a rolling minute),
# from the OrderRouted events every replica folds, so all replicas count the same orders.
RATE_WINDOW_NS = 60 * 1_000_000_000


class LegView(msgspec.Struct, frozen=True, kw_only=True):
    leg: int
    side: BrokerSide
    qty: float
    filled: float = 0.0  # from OrderFilled events, each fill id once
    status: OrderState = OrderState.PENDING
    reported_filled: float = 0.0  # what the broker's status said (the audit compares the two)
    broker_order_ids: frozenset[str] = frozenset()  # more than one = placed twice
    # Set once the broker took a modification (None: as routed): what the order works with now.
    limit_price: float | None = None
    stop_price: float | None = None
    trail_amount: float | None = None

    @property
    def remaining(self) -> float:
        return 0.0 if self.status.terminal else max(self.qty - self.filled, 0.0)


class OrderView(msgspec.Struct, frozen=True, kw_only=True):
    """One intent's life as far as the events tell."""

    intent_id: str
    account: str
    symbol: str = ""
    side: Side | None = None
    qty: float = 0.0
    broker: Broker | None = None
    rejected: RejectReason | None = None  # set when the router refused the intent
    legs: tuple[LegView, ...] = ()
    routed: tuple[PlaceOrder, ...] = ()  # the broker orders the router sent
    fill_ids: frozenset[str] = frozenset()
    outcomes: int = 1  # routing outcomes seen for this intent (the audit wants exactly one)
    modifies: frozenset[str] = frozenset()  # modify ids already answered (routed or refused)

    @property
    def terminal(self) -> bool:
        if self.rejected is not None:
            return True
        for leg in self.legs:  # a loop, not all(<generator>): asked twice for every event folded
            if not leg.status.terminal:
                return False
        return True

    @property
    def filled(self) -> float:
        return sum(leg.filled for leg in self.legs)

    @property
    def status(self) -> OrderState:
        if self.rejected is not None:
            return OrderState.REJECTED
        states = {leg.status for leg in self.legs}
        if len(states) == 1:
            return states.pop()
        if OrderState.PARTIALLY_FILLED in states or any(leg.filled for leg in self.legs):
            return OrderState.PARTIALLY_FILLED
        return next(iter(sorted(states)))


def ledger_key(account: str, intent_id: str) -> str:
    """Intent ids are chosen by clients, one account at a time: the same id on two accounts is
    two orders. (Neither an account alias nor an intent id can contain ``:``.)"""
    return f"{account}:{intent_id}"


class RoutedTimes(msgspec.Struct, frozen=True, kw_only=True):
    """One account's routed-order times within the rate window, oldest first: a persistent deque.

    A sorted tuple copied on every order made folding quadratic in the orders of a window (a
    busy minute is tens of thousands of orders per account, each copying all the others). Here
    position ``lo + i`` holds the i-th oldest time in a HAMT, so the usual append at the newest
    end and the pruning at the oldest are O(log n) each, and counting is a binary search over
    positions. An order whose time is older than some already counted (clock skew between
    replicas) shifts only the newer ones up by one position.
    """

    lo: int = 0  # position of the oldest time kept
    at: Map[int, int] = msgspec.field(default_factory=Map)  # position -> time, positions lo .. lo+len-1

    def __len__(self) -> int:
        return len(self.at)

    def times(self) -> tuple[int, ...]:
        """The times, oldest first."""
        at = self.at
        return tuple(at[i] for i in range(self.lo, self.lo + len(at)))

    def _first_after(self, ts: int) -> int:
        """The position of the first time > ``ts`` (bisect_right over the positions)."""
        at, lo, hi = self.at, self.lo, self.lo + len(self.at)
        while lo < hi:
            mid = (lo + hi) // 2
            if at[mid] <= ts:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def count_after(self, since_ns: int) -> int:
        return self.lo + len(self.at) - self._first_after(since_ns)

    def add(self, ts: int) -> RoutedTimes:
        """These times and ``ts``, less those no longer within RATE_WINDOW_NS of the newest."""
        lo, hi = self.lo, self.lo + len(self.at)
        last = self.at[hi - 1] if hi > lo else None
        newest = ts if last is None or ts >= last else last
        floor = newest - RATE_WINDOW_NS
        # Where ts goes: after all (the common case, no search), or None: late, and already out of the window.
        at_ts = hi if newest == ts else self._first_after(ts) if ts > floor else None
        with self.at.mutate() as at:
            if at_ts is not None:
                for i in range(hi, at_ts, -1):  # usually none: ts is the newest
                    at[i] = at[i - 1]
                at[at_ts] = ts
                hi += 1
            while lo < hi and at[lo] <= floor:
                del at[lo]
                lo += 1
            kept = at.finish()
        return RoutedTimes(lo=lo, at=kept)


_NO_TIMES = RoutedTimes()


class Ledger(msgspec.Struct, frozen=True, kw_only=True):
    """Orders by account and intent id (:func:`ledger_key`), broker-reported positions by account and symbol, and an index of
    what is still working per (account, symbol) as (buy, sell) quantities."""

    orders: Map[str, OrderView] = msgspec.field(default_factory=Map)
    positions: Map[str, Map[str, float]] = msgspec.field(default_factory=Map)
    working: Map[tuple[str, str], tuple[float, float]] = msgspec.field(default_factory=Map)
    # Fills since the account's last broker snapshot: the snapshot lags the fill by a moment, and
    # a SELL right after a BUY fills must see the bought shares.
    unreported: Map[tuple[str, str], float] = msgspec.field(default_factory=Map)
    # The last trading-state change per account (absent = ACTIVE), who asked and why.
    trading: Map[str, TradingStateChanged] = msgspec.field(default_factory=Map)
    # Working orders per account: intent id -> symbol (counts and cancel-all read it).
    open_orders: Map[str, Map[str, str]] = msgspec.field(default_factory=Map)
    # Times (event ts) of the orders routed per account within RATE_WINDOW_NS of the newest.
    routed_times: Map[str, RoutedTimes] = msgspec.field(default_factory=Map)
    applied: int = 0


_NO_POSITIONS: Map[str, float] = Map()


_EXITS = frozenset(EXIT_LEGS.values())


def _working(view: OrderView | None) -> tuple[float, float]:
    if view is None or view.rejected is not None:
        return 0.0, 0.0
    buys = sells = exits = 0.0
    exit_side = BrokerSide.BUY
    for leg in view.legs:  # one pass: this runs twice for every event folded
        if leg.leg in _EXITS:
            # A bracket's exits are one-cancels-the-other: at most one of them can trade.
            exits, exit_side = max(exits, leg.remaining), leg.side
        elif leg.side is BrokerSide.BUY:
            buys += leg.remaining
        else:
            sells += leg.remaining
    if exits:
        if exit_side is BrokerSide.BUY:
            buys += exits
        else:
            sells += exits
    return buys, sells


def working_of(view: OrderView) -> tuple[float, float]:
    """(buy, sell) quantities this one order still has working."""
    return _working(view)


def _replace_leg(view: OrderView, leg_no: int, **changes: Any) -> OrderView:
    legs = tuple(msgspec.structs.replace(leg, **changes) if leg.leg == leg_no else leg for leg in view.legs)
    return msgspec.structs.replace(view, legs=legs)


def _leg(view: OrderView, leg_no: int) -> LegView | None:
    for leg in view.legs:  # a loop, not next(<generator>): once for every leg event folded
        if leg.leg == leg_no:
            return leg
    return None


def _is_open(view: OrderView | None) -> bool:
    return view is not None and not view.terminal


def _open_index(state: Ledger, old: OrderView | None, view: OrderView) -> Map[str, Map[str, str]]:
    was, now = _is_open(old), _is_open(view)
    if was == now:
        return state.open_orders
    book = state.open_orders.get(view.account, Map())
    book = book.set(view.intent_id, view.symbol) if now else book.delete(view.intent_id)
    return state.open_orders.set(view.account, book) if book else state.open_orders.delete(view.account)


def _with_order(state: Ledger, view: OrderView, old: OrderView | None) -> Ledger:
    """``view`` stored in place of ``old``, what ``state`` holds for the order now (every caller
    has just looked it up: passed, not looked up again, for every event folded)."""
    key = ledger_key(view.account, view.intent_id)
    open_orders = _open_index(state, old, view)
    old_b, old_s = _working(old)
    new_b, new_s = _working(view)
    working = state.working
    if (old_b, old_s) != (new_b, new_s):
        where = (view.account, view.symbol)
        b, s = working.get(where, (0.0, 0.0))
        b, s = b - old_b + new_b, s - old_s + new_s
        working = working.delete(where) if abs(b) < 1e-12 and abs(s) < 1e-12 and where in working \
            else working.set(where, (b, s))
    return msgspec.structs.replace(state, orders=state.orders.set(key, view), working=working,
                                   open_orders=open_orders,
                                   applied=state.applied + 1)


def _routed_at(state: Ledger, account: str, ts: int) -> Ledger:
    times = state.routed_times.get(account, _NO_TIMES).add(ts)
    return msgspec.structs.replace(state, routed_times=state.routed_times.set(account, times))


def _counted(state: Ledger) -> Ledger:
    return msgspec.structs.replace(state, applied=state.applied + 1)


def apply(state: Ledger, event: Any) -> Ledger:
    """Fold one event into the ledger. Unknown events and events of unknown intents only count."""
    cls = type(event)
    # singledispatch's own lookup (a weak-keyed cache behind a wrapper) is a tenth of a fold;
    # a plain dict of what it resolved per event type answers the same.
    step = _steps.get(cls)
    if step is None:
        step = _steps[cls] = _apply.dispatch(cls)
    return step(event, state)


_steps: dict[type, Any] = {}  # every handler is registered below at import, before any fold


@functools.singledispatch
def _apply(event: Any, state: Ledger) -> Ledger:
    return _counted(state)


@_apply.register
def _(event: PositionSnapshot, state: Ledger) -> Ledger:
    book = Map({p.symbol: p.qty for p in event.positions})
    unreported = state.unreported
    for key in [k for k in unreported if k[0] == event.account]:
        unreported = unreported.delete(key)
    return msgspec.structs.replace(state, positions=state.positions.set(event.account, book),
                                   unreported=unreported, applied=state.applied + 1)


@_apply.register
def _(event: TradingStateChanged, state: Ledger) -> Ledger:
    return msgspec.structs.replace(state, trading=state.trading.set(event.account, event),
                                   applied=state.applied + 1)


@_apply.register
def _(event: OrderRouted, state: Ledger) -> Ledger:
    if event.intent_id is None:
        return _counted(state)
    view = state.orders.get(ledger_key(event.account, event.intent_id))
    if view is not None:
        return _with_order(state, msgspec.structs.replace(view, outcomes=view.outcomes + 1), view)
    legs = tuple(LegView(leg=o.leg, side=o.side, qty=o.qty) for o in event.orders)
    intent = event.intent
    state = _routed_at(state, event.account, event.ts)
    return _with_order(state, OrderView(intent_id=event.intent_id, account=event.account,
                                        symbol=intent.symbol, side=intent.side, qty=intent.qty,
                                        broker=event.broker, legs=legs, routed=tuple(event.orders)), None)


@_apply.register
def _(event: OrderRejected, state: Ledger) -> Ledger:
    if event.intent_id is None or event.cancel_id is not None or event.reason is RejectReason.DUPLICATE_INTENT:
        # A refused cancel, or a reused intent id, changes nothing about the order.
        return _counted(state)
    view = state.orders.get(ledger_key(event.account, event.intent_id))
    if view is not None:
        return _with_order(state, msgspec.structs.replace(view, outcomes=view.outcomes + 1), view)
    intent = event.intent
    return _with_order(state, OrderView(
        intent_id=event.intent_id, account=event.account, rejected=event.reason,
        symbol=intent.symbol if intent else "", side=intent.side if intent else None,
        qty=intent.qty if intent else 0.0), None)


@_apply.register
def _(event: GatewayOrderEvent, state: Ledger) -> Ledger:
    view = state.orders.get(ledger_key(event.account, event.intent_id))
    leg = _leg(view, event.leg) if view is not None else None
    if view is None or leg is None:
        return _counted(state)
    cls = type(event)
    step = _leg_steps.get(cls)
    if step is None:
        step = _leg_steps[cls] = _on_leg.dispatch(cls)
    return step(event, state, view, leg)


_leg_steps: dict[type, Any] = {}  # as _steps, for the leg events


@functools.singledispatch
def _on_leg(event: GatewayOrderEvent, state: Ledger, view: OrderView, leg: LegView) -> Ledger:
    return _counted(state)  # e.g. OrderPlaceAttempted: nothing about the order changes yet


@_on_leg.register
def _(event: OrderFilled, state: Ledger, view: OrderView, leg: LegView) -> Ledger:
    if event.fill_id in view.fill_ids:
        return _counted(state)
    filled = leg.filled + event.qty
    status = OrderState.FILLED if filled >= leg.qty else OrderState.PARTIALLY_FILLED
    changed = _replace_leg(view, leg.leg, filled=filled, status=leg.status if leg.status.terminal else status)
    state = _with_order(state, msgspec.structs.replace(changed, fill_ids=view.fill_ids | {event.fill_id}), view)
    key = (view.account, view.symbol)
    signed = event.qty if leg.side is BrokerSide.BUY else -event.qty
    return msgspec.structs.replace(state, unreported=state.unreported.set(
        key, state.unreported.get(key, 0.0) + signed))


@_on_leg.register
def _(event: OrderStatusChanged, state: Ledger, view: OrderView, leg: LegView) -> Ledger:
    # Fills are counted from OrderFilled (deduplicated by fill id); the status total is kept
    # beside them so the audit can check that the two agree. A late status never revives
    # a finished leg.
    status = leg.status if leg.status.terminal else event.status
    return _with_order(state, _replace_leg(view, leg.leg, status=status,
                                           reported_filled=max(leg.reported_filled, event.filled)), view)


@_on_leg.register
def _(event: OrderSubmitted, state: Ledger, view: OrderView, leg: LegView) -> Ledger:
    if leg.status.terminal:
        return _counted(state)
    new = OrderState.SUBMITTED if leg.status is OrderState.PENDING else leg.status
    return _with_order(state, _replace_leg(view, leg.leg, status=new,
                                           broker_order_ids=leg.broker_order_ids | {event.broker_order_id}), view)


@_on_leg.register
def _(event: OrderModified, state: Ledger, view: OrderView, leg: LegView) -> Ledger:
    if leg.status.terminal:
        return _counted(state)
    return _with_order(state, _replace_leg(view, leg.leg, qty=event.qty, limit_price=event.limit_price,
                                           stop_price=event.stop_price, trail_amount=event.trail_amount), view)


def _answered(event: ModifyRouted | ModifyRejected, state: Ledger) -> Ledger:
    view = state.orders.get(ledger_key(event.account, event.intent_id)) if event.intent_id else None
    if view is None:
        return _counted(state)
    return _with_order(state, msgspec.structs.replace(view, modifies=view.modifies | {event.modify_id}), view)


_apply.register(ModifyRouted, _answered)
_apply.register(ModifyRejected, _answered)


def current(view: OrderView, leg_no: int) -> PlaceOrder | None:
    """The broker order of one leg as it works now: as routed, with the modifications the broker
    took (quantity and prices)."""
    routed = next((o for o in view.routed if o.leg == leg_no), None)
    leg = _leg(view, leg_no)
    if routed is None or leg is None:
        return routed
    changes: dict[str, Any] = {"qty": leg.qty}
    for name in ("limit_price", "stop_price", "trail_amount"):
        value = getattr(leg, name)
        if value is not None:
            changes[name] = value
    return msgspec.structs.replace(routed, **changes)


def _leg_becomes(status: OrderState) -> Any:
    def step(event: GatewayOrderEvent, state: Ledger, view: OrderView, leg: LegView) -> Ledger:
        if leg.status.terminal:
            return _counted(state)
        return _with_order(state, _replace_leg(view, leg.leg, status=status), view)
    return step


_on_leg.register(OrderCancelled, _leg_becomes(OrderState.CANCELLED))
_on_leg.register(OrderBrokerRejected, _leg_becomes(OrderState.REJECTED))
_on_leg.register(OrderGatewayRefused, _leg_becomes(OrderState.REJECTED))
_on_leg.register(OrderHeld, _leg_becomes(OrderState.HELD))


def replay(events: Iterable[Any], state: Ledger | None = None) -> Ledger:
    state = state or Ledger()
    for event in events:
        state = apply(state, event)
    return state


def order(state: Ledger, account: str, intent_id: str) -> OrderView | None:
    return state.orders.get(ledger_key(account, intent_id))


def broker_position(state: Ledger, account: str, symbol: str) -> float:
    """The broker's last reported position plus the fills it has not reported yet."""
    return state.positions.get(account, _NO_POSITIONS).get(symbol, 0.0) + state.unreported.get((account, symbol), 0.0)


def in_flight(state: Ledger, account: str, symbol: str) -> tuple[float, float]:
    """(buy, sell) quantities still working for the account in the symbol."""
    return state.working.get((account, symbol), (0.0, 0.0))


def trading_state(state: Ledger, account: str) -> TradingState:
    change = state.trading.get(account)
    return change.state if change is not None else TradingState.ACTIVE


def working_orders(state: Ledger, account: str, symbol: str | None = None) -> list[str]:
    """The intent ids of the account's working orders (of one symbol), sorted."""
    book = state.open_orders.get(account, Map())
    return sorted(i for i, s in book.items() if symbol is None or s == symbol)


def open_order_count(state: Ledger, account: str) -> int:
    return len(state.open_orders.get(account, Map()))


def routed_since(state: Ledger, account: str, since_ns: int) -> int:
    """Orders routed for the account after ``since_ns`` (exact within RATE_WINDOW_NS)."""
    return state.routed_times.get(account, _NO_TIMES).count_after(since_ns)


# --- snapshots: the ledger as bytes and back --------------------------------------------------
# A snapshot of the ledger lets a service start from it plus the events after it, instead of the
# whole history (janus_common.snapshots stores it). On the wire each persistent map is a list of
# (key, value) pairs (some keys are tuples, which no msgpack map key can be), in a struct that
# msgspec decodes in one pass; the maps are then built from the pairs. What is decoded is a
# Ledger equal to the one encoded, field for field.

# bumped when the Ledger's shape changes: an older snapshot is then ignored
# 2: routed_times per account as a RoutedTimes (first position, times), no longer a tuple
LEDGER_FORMAT = 2


class _LedgerWire(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The Ledger's fields, maps as pairs (a test holds the two field lists equal)."""

    orders: list[tuple[str, OrderView]]
    positions: list[tuple[str, list[tuple[str, float]]]]
    working: list[tuple[tuple[str, str], tuple[float, float]]]
    unreported: list[tuple[tuple[str, str], float]]
    trading: list[tuple[str, TradingStateChanged]]
    open_orders: list[tuple[str, list[tuple[str, str]]]]
    routed_times: list[tuple[str, int, tuple[int, ...]]]  # account, RoutedTimes.lo, its times oldest first
    applied: int


_ledger_encoder = msgspec.msgpack.Encoder()
_ledger_decoder = msgspec.msgpack.Decoder(_LedgerWire)


def encode_ledger(state: Ledger) -> bytes:
    return _ledger_encoder.encode(_LedgerWire(
        orders=list(state.orders.items()),
        positions=[(k, list(v.items())) for k, v in state.positions.items()],
        working=list(state.working.items()), unreported=list(state.unreported.items()),
        trading=list(state.trading.items()),
        open_orders=[(k, list(v.items())) for k, v in state.open_orders.items()],
        routed_times=[(k, v.lo, v.times()) for k, v in state.routed_times.items()], applied=state.applied))


def decode_ledger(data: bytes) -> Ledger:
    """Raises ``msgspec.DecodeError`` / ``msgspec.ValidationError`` for bytes that are no ledger."""
    # Hundreds of thousands of new objects, and as many map nodes built from them: with the
    # collector running, it would rescan them all, often (the maps' build was half the decode).
    with memory.no_gc():
        w = _ledger_decoder.decode(data)
        return Ledger(orders=Map(w.orders), positions=Map((k, Map(v)) for k, v in w.positions),
                      working=Map(w.working), unreported=Map(w.unreported), trading=Map(w.trading),
                      open_orders=Map((k, Map(v)) for k, v in w.open_orders),
                      routed_times=Map((k, RoutedTimes(lo=lo, at=Map((lo + i, t) for i, t in enumerate(ts))))
                                       for k, lo, ts in w.routed_times),
                      applied=w.applied)
