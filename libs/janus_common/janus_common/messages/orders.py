"""Order messages: client intents, router→gateway commands, and the order's life as events."""

from __future__ import annotations

import msgspec

from ..symbols import AssetClass
from .base import (
    Broker,
    BrokerRef,
    BrokerSide,
    Event,
    Id,
    LegRole,
    Message,
    OrderState,
    OrderType,
    PositionEffect,
    RejectReason,
    Side,
    Symbol,
    Text,
    Tif,
    Word,
    new_id,
    now_ns,
)
from .contracts import IbContract, WebullInstrument

__all__ = [
    "EXIT_LEGS",
    "ModifyIntent",
    "ModifyOrder",
    "ModifyRejected",
    "ModifyRouted",
    "OrderModified",
    "CancelIntent",
    "CancelOrder",
    "CancelRouted",
    "ExternalOrderSeen",
    "GatewayOrderEvent",
    "Intent",
    "OrderBrokerRejected",
    "OrderCancelled",
    "OrderEvent",
    "OrderFilled",
    "OrderGatewayRefused",
    "OrderHeld",
    "OrderIntent",
    "OrderLifeEvent",
    "OrderPlaceAttempted",
    "OrderRejected",
    "OrderRouted",
    "OrderStatusChanged",
    "OrderSubmitted",
    "PlaceOrder",
    "PositionDecision",
    "RouteCommand",
    "RouteRefused",
    "order_key",
    "split_order_key",
]


# --- janus.intent.{account} -------------------------------------------------------------


class OrderIntent(Message, frozen=True, kw_only=True):
    """A client asks for an order, in Janus's broker-agnostic vocabulary."""

    intent_id: Id = msgspec.field(default_factory=new_id)
    account: Id
    symbol: Symbol
    side: Side
    order_type: OrderType = msgspec.field(name="type")
    qty: float
    limit_price: float | None = None
    stop_price: float | None = None
    tif: Tif = Tif.DAY
    asset_class: AssetClass | None = None
    locate_ref: BrokerRef | None = None  # a short-locate reference, for accounts that need one
    ts: int = msgspec.field(default_factory=now_ns)
    # trailing stops: how far the stop follows the price (one of the two), and for a trailing
    # stop limit how far beyond the stop its limit sits
    trail_amount: float | None = None
    trail_percent: float | None = None
    limit_offset: float | None = None
    expire_at: int | None = None  # GTD: when it expires, ns since the epoch (UTC)
    outside_rth: bool = False  # may trigger and fill outside regular trading hours
    # A bracket: exits placed with the entry, one-cancels-the-other, active once the entry fills.
    take_profit: float | None = None  # the limit price of the exit that takes the profit
    stop_loss: float | None = None  # the stop price of the exit that cuts the loss

    @property
    def bracket(self) -> bool:
        return self.take_profit is not None or self.stop_loss is not None


class ModifyIntent(Message, frozen=True, kw_only=True):
    """A client asks to change a working order that ``intent_id`` created: its quantity and/or
    prices (a bracket's exit by its role). What is not given stays as it is."""

    modify_id: Id = msgspec.field(default_factory=new_id)
    intent_id: Id
    account: Id
    role: LegRole = LegRole.ENTRY
    qty: float | None = None
    limit_price: float | None = None
    stop_price: float | None = None
    trail_amount: float | None = None
    ts: int = msgspec.field(default_factory=now_ns)


class CancelIntent(Message, frozen=True, kw_only=True):
    """A client asks to cancel the order that ``intent_id`` created."""

    cancel_id: Id = msgspec.field(default_factory=new_id)
    intent_id: Id
    account: Id
    ts: int = msgspec.field(default_factory=now_ns)


Intent = OrderIntent | CancelIntent | ModifyIntent

# A bracket's exits are legs of its intent (0 is the entry, 1 the opening half of a split SELL).
EXIT_LEGS = {LegRole.TAKE_PROFIT: 2, LegRole.STOP_LOSS: 3}

# --- janus.route.{broker}.{account} -----------------------------------------------------


class PlaceOrder(Message, frozen=True, kw_only=True):
    """Router → gateway: place exactly this broker order for the intent (leg 0, or 1 when a
    SELL crossing zero is split into a closing SELL and an opening SHORT)."""

    intent_id: Id
    leg: int = 0
    account: Id
    broker: Broker
    symbol: Symbol
    side: BrokerSide
    order_type: OrderType = msgspec.field(name="type")
    qty: float
    limit_price: float | None = None
    stop_price: float | None = None
    tif: Tif = Tif.DAY
    ib: IbContract | None = None
    webull: WebullInstrument | None = None
    ts: int = msgspec.field(default_factory=now_ns)
    trail_amount: float | None = None
    trail_percent: float | None = None
    limit_offset: float | None = None
    expire_at: int | None = None
    outside_rth: bool = False
    # Brackets: every leg of one names the exit legs; an exit is active once ``parent_leg``
    # filled, and when one of a group fills its ``oca_group`` siblings are cancelled.
    role: LegRole = LegRole.ENTRY
    exit_legs: tuple[int, ...] = ()
    parent_leg: int | None = None
    oca_group: Id | None = None

    @property
    def order_key(self) -> str:
        """Unique per broker order: the intent id, suffixed by ``#leg`` when there are two.
        (``#`` because client-chosen intent ids may contain ``-``.)"""
        return order_key(self.intent_id, self.leg)


class CancelOrder(Message, frozen=True, kw_only=True):
    intent_id: Id
    account: Id
    broker: Broker
    cancel_id: Id = msgspec.field(default_factory=new_id)
    ts: int = msgspec.field(default_factory=now_ns)


class ModifyOrder(Message, frozen=True, kw_only=True):
    """Router → gateway: change this working broker order to these figures (all of them, as
    they are to be: the router filled in what the client left unchanged)."""

    intent_id: Id
    leg: int = 0
    account: Id
    broker: Broker
    modify_id: Id
    qty: float
    limit_price: float | None = None
    stop_price: float | None = None
    trail_amount: float | None = None
    ts: int = msgspec.field(default_factory=now_ns)

    @property
    def order_key(self) -> str:
        return order_key(self.intent_id, self.leg)


RouteCommand = PlaceOrder | CancelOrder | ModifyOrder


def order_key(intent_id: str, leg: int = 0) -> str:
    return intent_id if leg == 0 else f"{intent_id}#{leg}"


def split_order_key(key: str) -> tuple[str, int]:
    """The inverse of :func:`order_key`."""
    intent_id, sep, leg = key.rpartition("#")
    if sep and leg.isdigit():
        return intent_id, int(leg)
    return key, 0

# --- janus.evt.order.{account} ----------------------------------------------------------


class PositionDecision(msgspec.Struct, frozen=True, kw_only=True):
    """Why a SELL became what it became: the inputs and the outcome, for later explanation."""

    broker_position: float
    in_flight: float  # signed quantity of this account's orders still working in the symbol
    projected_position: float
    allow_short: bool
    locate_required: bool
    effect: PositionEffect


class OrderEvent(Event, frozen=True, kw_only=True):
    intent_id: Id | None = None


class OrderRouted(OrderEvent, frozen=True, kw_only=True):
    intent: OrderIntent
    broker: Broker
    decision: PositionDecision
    orders: list[PlaceOrder]


class OrderRejected(OrderEvent, frozen=True, kw_only=True):
    """Janus refused an intent (or a cancel) before it reached a broker."""

    reason: RejectReason
    message: Text
    cancel_id: Id | None = None
    intent: OrderIntent | None = None


class CancelRouted(OrderEvent, frozen=True, kw_only=True):
    """The router sent a cancel for the intent's broker order(s); the outcome follows."""

    cancel_id: Id
    broker: Broker


class ModifyRouted(OrderEvent, frozen=True, kw_only=True):
    """The router sent a modification of the intent's broker order; the outcome follows."""

    modify_id: Id
    broker: Broker
    orders: list[ModifyOrder]


class ModifyRejected(OrderEvent, frozen=True, kw_only=True):
    """A modification refused, by Janus (before the broker saw it) or by the broker (``code``
    and its words); the order goes on as it was."""

    modify_id: Id
    reason: RejectReason
    message: Text
    leg: int | None = None
    code: Word | None = None  # the broker's own code, when the broker refused it


class GatewayOrderEvent(OrderEvent, frozen=True, kw_only=True):
    """What a gateway says about one broker order of an intent: always the intent, the broker
    and the leg (0, or 1 for the opening leg of a split SELL), so folds never probe for them."""

    intent_id: Id
    broker: Broker
    leg: int


class OrderSubmitted(GatewayOrderEvent, frozen=True, kw_only=True):
    broker_order_id: BrokerRef
    perm_id: BrokerRef | None = None
    client_order_id: BrokerRef | None = None


class OrderStatusChanged(GatewayOrderEvent, frozen=True, kw_only=True):
    broker_order_id: BrokerRef | None = None
    status: OrderState
    filled: float = 0.0
    remaining: float = 0.0
    avg_fill_price: float | None = None
    broker_status: Word | None = None  # the broker's own word, for people


class OrderFilled(GatewayOrderEvent, frozen=True, kw_only=True):
    fill_id: BrokerRef  # IB execId / Webull fill id: each published exactly once
    symbol: Symbol
    side: BrokerSide
    qty: float
    price: float
    commission: float | None = None
    commission_currency: Word | None = None
    broker_order_id: BrokerRef | None = None


class OrderCancelled(GatewayOrderEvent, frozen=True, kw_only=True):
    filled: float = 0.0
    reason: Text | None = None


class OrderModified(GatewayOrderEvent, frozen=True, kw_only=True):
    """The broker took the modification: the order works with these figures from now on."""

    modify_id: Id
    qty: float
    limit_price: float | None = None
    stop_price: float | None = None
    trail_amount: float | None = None


class OrderBrokerRejected(GatewayOrderEvent, frozen=True, kw_only=True):
    """The BROKER refused the order (its own code and sentence)."""

    code: Word
    text: Text


class OrderGatewayRefused(GatewayOrderEvent, frozen=True, kw_only=True):
    """Janus's gateway refused to place the order, so no broker ever saw it (or saw it and
    lost the connection on it, twice): a route with no contract for this broker, a route
    message too old to place (``STALE``), one that keeps failing (``POISON``)."""

    reason: RejectReason
    text: Text


class OrderPlaceAttempted(GatewayOrderEvent, frozen=True, kw_only=True):
    """The gateway is about to send the order to the broker (the ``attempt``-th time). Kept so
    the poison quarantine counts attempts across gateway restarts."""

    attempt: int
    detail: Text = ""  # why the attempt before this one failed, if one did


class OrderHeld(GatewayOrderEvent, frozen=True, kw_only=True):
    """The broker holds the order (e.g. IB 404, waiting for a locate): not rejected."""

    code: Word
    text: Text


class ExternalOrderSeen(OrderEvent, frozen=True, kw_only=True):
    """An order on the account placed outside Janus (another IB client, the broker's app)."""

    broker: Broker
    broker_order_id: BrokerRef
    symbol: BrokerRef  # the broker's own symbol: an order Janus did not make may not map
    side: BrokerSide
    qty: float
    order_type: Word
    status: OrderState


class RouteRefused(OrderEvent, frozen=True, kw_only=True):
    """A gateway refused a route message addressed to another account or broker than its own
    (it arrived on this gateway's route subject): nothing was placed or cancelled. Recorded on
    the subject of the account the gateway serves, the only one it may publish on.

    ``intent_id`` stays None on purpose: the named intent is another account's (intent ids are
    scoped by account), and anything that keys orders by (account, intent id) — the ledger, the
    gateway's book, a client waiting on this account's intent of the same id — must not take
    this refusal for the end of an order of this account."""

    named_intent_id: Id
    leg: int = 0
    cancel_id: Id | None = None  # set when the refused message was a cancel
    named_account: Id
    named_broker: Word
    reason: RejectReason
    text: Text


OrderLifeEvent = (
    OrderRouted
    | OrderRejected
    | CancelRouted
    | OrderSubmitted
    | OrderStatusChanged
    | OrderFilled
    | OrderCancelled
    | OrderBrokerRejected
    | OrderGatewayRefused
    | OrderPlaceAttempted
    | OrderHeld
    | ExternalOrderSeen
    | RouteRefused
    | ModifyRouted
    | ModifyRejected
    | OrderModified
)
