"""The contract between the gateway kernel and one broker: :class:`BrokerAdapter` and the
broker-neutral reports it speaks.

An adapter only translates. It never publishes to NATS, never decides whether an order was
already placed, and keeps no order book: it tells the kernel what the broker said (reports, pushed
to the sink the kernel binds) and does what the kernel asks (place, cancel, look up). Every
order it hears about is named by its Janus order key (``order_key(intent_id, leg)``), which the
adapter carries to the broker and back (IB ``orderRef``, Webull ``client_order_id`` mapping).

Reports are plain frozen structs: the kernel's tracker folds them into events, one apply per
report type. A gateway made of an adapter only is served by
:func:`janus_gateway.service.serve_adapter` (its ``setup`` builds the adapter and calls it).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Protocol, runtime_checkable

import msgspec

from janus_common.messages import (
    Broker,
    RejectReason,
    BrokerSide,
    LookupReply,
    LookupRequest,
    OrderState,
    PlaceOrder,
    Position,
)

__all__ = [
    "AccountValuesReport",
    "AdapterError",
    "BrokerAdapter",
    "BrokerUnavailable",
    "ConnectionNotice",
    "ErrorKind",
    "ErrorReport",
    "ExternalOrderReport",
    "ModifyRefused",
    "FillReport",
    "NoticeKind",
    "OrderRefused",
    "OrderStatusReport",
    "PlaceFailed",
    "Report",
    "ReportSink",
]


# --- reports: what the broker said, in Janus's words ------------------------------------------


class OrderStatusReport(msgspec.Struct, frozen=True, kw_only=True):
    """The broker's current view of one Janus order. ``filled`` is cumulative; a report may
    repeat an earlier one or be stale (the tracker keeps only what moves forward)."""

    order_key: str
    status: OrderState
    filled: float = 0.0
    remaining: float | None = None  # None: the kernel derives it from the routed quantity
    avg_fill_price: float | None = None
    broker_order_id: str = ""  # empty while the broker has not acknowledged the order
    perm_id: str | None = None
    client_order_id: str | None = None
    broker_status: str = ""  # the broker's own word, for people
    reason: str | None = None  # why it was cancelled, when the broker says
    qty: float = 0.0  # the order's total as the broker says it (0: the routed quantity)
    acknowledged: bool = True  # the broker accepted the order (IB: it has a permId)
    # Brokers that report fills only as the growth of ``filled`` (Webull): the tracker derives the
    # fill from it, priced by the last execution when it covers the growth, else by the averages.
    fills_from_status: bool = False
    last_fill_qty: float = 0.0
    last_fill_price: float = 0.0


class FillReport(msgspec.Struct, frozen=True, kw_only=True):
    """One execution. ``fill_id`` is unique per broker execution: the kernel publishes it once."""

    order_key: str
    fill_id: str
    qty: float
    price: float
    side: BrokerSide | None = None  # None: the side the order was routed with
    symbol: str = ""  # "" : the symbol the order was routed with
    commission: float | None = None
    commission_currency: str | None = None
    broker_order_id: str = ""


class ErrorKind(StrEnum):
    """What an error about one order means for it."""

    REJECTED = "REJECTED"  # the broker refused the order: it is finished
    ERROR = "ERROR"  # a refusal if the broker had not accepted the order yet, else a WARNING
    HELD = "HELD"  # the broker holds it (e.g. waiting for a locate): not rejected, may go on
    WARNING = "WARNING"  # about a live order (e.g. a refused modification): it still works
    INFORMATIONAL = "INFORMATIONAL"  # confirmations and notices: nothing to report


class ErrorReport(msgspec.Struct, frozen=True, kw_only=True):
    """The broker said something went wrong with one order. The adapter classifies it (it
    knows its broker's codes); the tracker decides what it means given the order's state (an
    error about an order the broker already accepted never rejects it)."""

    order_key: str
    kind: ErrorKind
    code: str
    text: str


class ExternalOrderReport(msgspec.Struct, frozen=True, kw_only=True):
    """An order on the account that Janus did not place (the broker's app, another client)."""

    broker_order_id: str
    symbol: str
    side: BrokerSide
    qty: float
    order_type: str
    status: OrderState


class NoticeKind(StrEnum):
    DEGRADED = "DEGRADED"  # up, but part of it is down (a data farm, the event stream)
    RESTORED = "RESTORED"  # that part is back
    ACCOUNT_CHANGED = "ACCOUNT_CHANGED"  # positions or account values moved: publish (debounced)


class ConnectionNotice(msgspec.Struct, frozen=True, kw_only=True):
    kind: NoticeKind
    detail: str = ""
    code: int | None = None


Report = OrderStatusReport | FillReport | ErrorReport | ExternalOrderReport | ConnectionNotice
ReportSink = Callable[[Report], None]
"""Called from the event loop (an adapter on threads hops back first); it only enqueues."""


class AccountValuesReport(msgspec.Struct, frozen=True, kw_only=True):
    currency: str = "USD"
    cash: float | None = None
    net_liquidation: float | None = None
    buying_power: float | None = None
    values: dict[str, str] = {}


# --- errors an adapter raises ----------------------------------------------------------------


class AdapterError(RuntimeError):
    """Base of what an adapter raises on purpose; anything else is unexpected."""

    reason: str = "ADAPTER_ERROR"

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


class BrokerUnavailable(AdapterError):
    """Not connected, or a transient failure (429, 5xx, network) before anything was sent:
    the route message is tried again later and it does NOT count as a failed placement."""

    reason = "BROKER_UNAVAILABLE"


class PlaceFailed(AdapterError):
    """The order was (perhaps) sent and no answer came: the connection dropped while placing
    it, or the broker never acknowledged it. Counts towards the poison quarantine."""

    reason = "PLACE_FAILED"


class OrderRefused(AdapterError):
    """Janus cannot send this order to this broker (no contract for it, addressed to another
    account, a leg whose prior leg did not fill, a field the broker cannot express): it is
    refused (``OrderGatewayRefused``) and never sent."""

    reason: RejectReason

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = RejectReason(reason)


class ModifyRefused(AdapterError):
    """The broker (or the gateway, for a broker that cannot) refused a modification: the order
    goes on as it was. ``code`` is the broker's own code where it gave one."""

    reason = "MODIFY_REFUSED"

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


# --- the adapter -----------------------------------------------------------------------------


@runtime_checkable
class BrokerAdapter(Protocol):
    """One broker account, as the kernel sees it. All methods run on the event loop; an adapter
    whose SDK blocks runs its calls on threads itself."""

    broker: Broker

    def bind(self, sink: ReportSink) -> None:
        """Where reports go from now on. Called once, before :meth:`connect`."""

    async def connect(self) -> str:
        """Connect (or reconnect) and return a description of the account for the logs. Raises
        :class:`BrokerUnavailable` when the broker cannot be reached."""

    async def reconcile(self, known: frozenset[str]) -> int:
        """After every (re)connect, before any route message is taken: report the current state
        of every order in ``known`` (the order keys the kernel tracks) the broker still knows,
        and every execution since, so whatever happened while away is published now. Returns
        the number of open orders."""

    async def watch(self) -> str:
        """Return when the connection is lost (or stops answering), with why."""

    async def disconnect(self) -> None:
        """Close the connection (idempotent)."""

    async def place(self, order: PlaceOrder) -> None:
        """Send one order, carrying ``order.order_key`` to the broker, and return once the
        broker acknowledged or refused it (the outcome arrives as reports). Raises
        :class:`BrokerUnavailable` if nothing was sent, :class:`PlaceFailed` if it was and no
        answer came. Only called for an order the broker does not have (see :meth:`has_order`)."""

    async def has_order(self, order_key: str) -> bool:
        """Whether the broker already has this order (placed before a restart or behind an
        ambiguous failure). If so the adapter also reports its current state."""

    async def cancel(self, order_key: str) -> None:
        """Ask the broker to cancel a working order; the outcome arrives as reports. An order
        the broker does not have or that already ended is no error."""

    async def lookup(self, request: LookupRequest) -> LookupReply:
        """Contract look-up (the ``janus.rpc.lookup.<broker>`` RPC)."""

    async def open_orders(self) -> int:
        """Ask the broker for every open order (``sync``) and report them; return their count."""

    async def positions(self) -> list[Position]:
        """Every position of the account, canonical symbols, sorted by symbol."""

    async def account_values(self) -> AccountValuesReport | None:
        """The account's values; None when the broker has none to give yet."""
