"""The base of every Janus message and the vocabulary (enums) they share."""

from __future__ import annotations

import time
import uuid
from enum import StrEnum

import msgspec

__all__ = [
    "Broker",
    "BrokerSide",
    "Event",
    "Message",
    "OrderState",
    "OrderType",
    "PositionEffect",
    "RejectReason",
    "Side",
    "Tif",
    "new_id",
    "now_ns",
]



def new_id() -> str:
    """A fresh message id: 32 lowercase hex characters (fits Webull's client_order_id rules)."""
    return uuid.uuid4().hex


def now_ns() -> int:
    return time.time_ns()


class Message(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind"):
    """Every message is a frozen struct tagged with its class name in the ``kind`` field."""


class Event(Message, frozen=True, kw_only=True):
    """A fact. Every event carries an id, a time (ns since the epoch) and the account.

    ``prev_hash`` chains the events of one subject: the publisher (``bus.publish``) sets it to
    the SHA-256 of the bytes stored just before on the same subject ("" for the first), so
    the audit can tell that an event was removed, edited or slipped in."""

    event_id: str = msgspec.field(default_factory=new_id)
    ts: int = msgspec.field(default_factory=now_ns)
    account: str
    prev_hash: str = ""


class Broker(StrEnum):
    IB = "ib"
    WEBULL = "webull"
    PAPER = "paper"  # an account Janus keeps itself, priced by IB market data


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class BrokerSide(StrEnum):
    """What a broker is asked to do. SHORT exists for brokers that need an explicit short."""

    BUY = "BUY"
    SELL = "SELL"
    SHORT = "SHORT"


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP = "STOP"
    STOP_LIMIT = "STOP_LIMIT"


class Tif(StrEnum):
    DAY = "DAY"
    GTC = "GTC"
    IOC = "IOC"


class PositionEffect(StrEnum):
    OPEN_LONG = "OPEN_LONG"
    ADD_LONG = "ADD_LONG"
    CLOSE_LONG = "CLOSE_LONG"
    OPEN_SHORT = "OPEN_SHORT"
    ADD_SHORT = "ADD_SHORT"
    CLOSE_SHORT = "CLOSE_SHORT"
    CLOSE_LONG_OPEN_SHORT = "CLOSE_LONG_OPEN_SHORT"
    CLOSE_SHORT_OPEN_LONG = "CLOSE_SHORT_OPEN_LONG"


class OrderState(StrEnum):
    """Broker-neutral order states. Terminal: FILLED, CANCELLED, REJECTED."""

    PENDING = "PENDING"
    SUBMITTED = "SUBMITTED"
    PRE_SUBMITTED = "PRE_SUBMITTED"
    HELD = "HELD"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"

    @property
    def terminal(self) -> bool:
        return self in (OrderState.FILLED, OrderState.CANCELLED, OrderState.REJECTED)


class RejectReason(StrEnum):
    """Why Janus refused an intent or a request. Codes are stable: clients branch on them."""

    MALFORMED = "MALFORMED"
    INVALID_QTY = "INVALID_QTY"
    INVALID_PRICE = "INVALID_PRICE"
    MISSING_LIMIT_PRICE = "MISSING_LIMIT_PRICE"
    MISSING_STOP_PRICE = "MISSING_STOP_PRICE"
    UNKNOWN_TIF = "UNKNOWN_TIF"
    UNKNOWN_ACCOUNT = "UNKNOWN_ACCOUNT"
    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
    AMBIGUOUS_SYMBOL = "AMBIGUOUS_SYMBOL"
    INVALID_SYMBOL = "INVALID_SYMBOL"
    SHORT_NOT_ALLOWED = "SHORT_NOT_ALLOWED"
    LOCATE_REQUIRED = "LOCATE_REQUIRED"
    ORDER_TYPE_UNSUPPORTED = "ORDER_TYPE_UNSUPPORTED"
    TIF_UNSUPPORTED = "TIF_UNSUPPORTED"
    ACCOUNT_MISMATCH = "ACCOUNT_MISMATCH"
    DUPLICATE_INTENT = "DUPLICATE_INTENT"
    UNKNOWN_INTENT = "UNKNOWN_INTENT"
    ORDER_FINISHED = "ORDER_FINISHED"
    REGISTRY_UNAVAILABLE = "REGISTRY_UNAVAILABLE"
    BROKER_UNAVAILABLE = "BROKER_UNAVAILABLE"
    DATABASE_ERROR = "DATABASE_ERROR"
    INTERNAL = "INTERNAL"
    # Refusals by a gateway (OrderGatewayRefused): the order never reached the broker.
    NO_CONTRACT = "NO_CONTRACT"  # the route carries nothing this broker can place
    PRIOR_LEG_NOT_FILLED = "PRIOR_LEG_NOT_FILLED"  # the closing leg of a split SELL did not fill
    STALE = "STALE"  # the route message is older than the gateway's --max-route-age
    POISON = "POISON"  # placing it failed the same way twice (dropped connection, exception)
