"""The base of every Janus message and the vocabulary (enums) they share."""

from __future__ import annotations

import itertools
import os
import time
from enum import StrEnum
from typing import Annotated

import msgspec

# Bounds on every string of the catalogue, so that no field can carry a payload big enough to
# be copied into a header, a dead letter or an outcome event beyond the server's max payload.
# A value out of bounds is a decode error (MessageDecodeError), never a crash further on.
ID_MAX = 64
# \Z, not $: Python's $ also matches before a final newline, and an id "x\n" would then pass
# into message ids (NATS headers) and subjects. (Found by tests/unit/test_bounds.py.)
ID_PATTERN = r"^[A-Za-z0-9_-]+\Z"
SYMBOL_MAX = 32
TEXT_MAX = 2048

# Ids Janus and its clients choose (intent, cancel and event ids; account aliases): they end up
# in subjects, msg-ids, IB orderRef and Webull client_order_id.
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=ID_MAX, pattern=ID_PATTERN)]
# Ids a broker assigns (IB execId "0000e0d5.6543a1b2.01.01", perm ids, Webull order ids): their
# alphabet is the broker's, so only their length is ours to bound.
BrokerRef = Annotated[str, msgspec.Meta(max_length=ID_MAX)]
Symbol = Annotated[str, msgspec.Meta(max_length=SYMBOL_MAX)]
# Short words: currencies, exchanges, sec types, status words, codes, sources, names.
Word = Annotated[str, msgspec.Meta(max_length=ID_MAX)]
Text = Annotated[str, msgspec.Meta(max_length=TEXT_MAX)]
Subject = Annotated[str, msgspec.Meta(max_length=256)]
Hash = Annotated[str, msgspec.Meta(max_length=ID_MAX)]  # SHA-256 hex, "" for the first


def clip(text: str, limit: int = TEXT_MAX) -> str:
    """Text from outside Janus (a broker's error, an exception) cut to fit its field: the event
    that carries it must stay readable, and ``bus.publish`` refuses one that would not be."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = [
    "BrokerRef",
    "Broker",
    "Hash",
    "ID_MAX",
    "ID_PATTERN",
    "Id",
    "SYMBOL_MAX",
    "Subject",
    "Symbol",
    "TEXT_MAX",
    "Text",
    "TradingState",
    "Word",
    "clip",
    "BrokerSide",
    "Event",
    "Message",
    "OrderState",
    "LegRole",
    "OrderType",
    "PositionEffect",
    "RejectReason",
    "Side",
    "Tif",
    "new_id",
    "now_ns",
]



class _Ids:
    """Fresh ids without a system call each: a random 64-bit prefix per process, drawn again in
    a forked child, then a counter. ``uuid4`` read the OS's random source for every id, a
    visible share of a busy router's time; two processes share a prefix with odds of 2**-64."""

    def __init__(self) -> None:
        self.reseed()
        os.register_at_fork(after_in_child=self.reseed)

    def reseed(self) -> None:
        self.prefix = os.urandom(8).hex()
        self.counter = itertools.count()

    def next(self) -> str:
        return f"{self.prefix}{next(self.counter) & 0xFFFF_FFFF_FFFF_FFFF:016x}"


_ids = _Ids()


def new_id() -> str:
    """A fresh message id: 32 lowercase hex characters (fits Webull's client_order_id rules),
    unique across processes."""
    return _ids.next()


def now_ns() -> int:
    return time.time_ns()


class Message(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind"):
    """Every message is a frozen struct tagged with its class name in the ``kind`` field."""


class Event(Message, frozen=True, kw_only=True):
    """A fact. Every event carries an id, a time (ns since the epoch) and the account.

    ``prev_hash`` chains the events of one subject: the publisher (``bus.publish``) sets it to
    the SHA-256 of the bytes stored just before on the same subject ("" for the first), so
    the audit can tell that an event was removed, edited or slipped in."""

    event_id: Id = msgspec.field(default_factory=new_id)
    ts: int = msgspec.field(default_factory=now_ns)
    account: Id
    prev_hash: Hash = ""


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
    # the stop follows the price by trail_amount (or trail_percent) and never moves back
    TRAILING_STOP = "TRAILING_STOP"
    TRAILING_STOP_LIMIT = "TRAILING_STOP_LIMIT"  # on trigger, a limit limit_offset beyond the stop
    MARKET_ON_CLOSE = "MARKET_ON_CLOSE"
    LIMIT_ON_CLOSE = "LIMIT_ON_CLOSE"


class Tif(StrEnum):
    DAY = "DAY"
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"  # all at once or nothing
    GTD = "GTD"  # until expire_at
    OPG = "OPG"  # at the opening auction only


class LegRole(StrEnum):
    """What a broker order is to its intent: the order itself, or a bracket's exit."""

    ENTRY = "ENTRY"
    TAKE_PROFIT = "TAKE_PROFIT"
    STOP_LOSS = "STOP_LOSS"


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
        return self in _TERMINAL  # a set built once: every event folded asks this, often twice


_TERMINAL = frozenset({OrderState.FILLED, OrderState.CANCELLED, OrderState.REJECTED})


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
    WRONG_SUBJECT = "WRONG_SUBJECT"  # a command on the intents subject, an order on the control one
    DUPLICATE_INTENT = "DUPLICATE_INTENT"
    UNKNOWN_INTENT = "UNKNOWN_INTENT"
    ORDER_FINISHED = "ORDER_FINISHED"
    REGISTRY_UNAVAILABLE = "REGISTRY_UNAVAILABLE"
    BROKER_UNAVAILABLE = "BROKER_UNAVAILABLE"
    DATABASE_ERROR = "DATABASE_ERROR"
    INTERNAL = "INTERNAL"
    UNPROCESSABLE = "UNPROCESSABLE"  # the router failed on it every delivery: dead-lettered, answered
    # pre-trade checks and trading states (the router's risk.py says the order they run in)
    ACCOUNT_HALTED = "ACCOUNT_HALTED"
    REDUCE_ONLY = "REDUCE_ONLY"
    FRACTIONAL_QTY = "FRACTIONAL_QTY"
    PRICE_NOT_ON_TICK = "PRICE_NOT_ON_TICK"
    NO_REFERENCE_PRICE = "NO_REFERENCE_PRICE"
    PRICE_OUT_OF_BAND = "PRICE_OUT_OF_BAND"
    RISK_MAX_QTY = "RISK_MAX_QTY"
    RISK_MAX_NOTIONAL = "RISK_MAX_NOTIONAL"
    RISK_MAX_POSITION = "RISK_MAX_POSITION"
    RISK_MAX_OPEN_ORDERS = "RISK_MAX_OPEN_ORDERS"
    RATE_LIMITED = "RATE_LIMITED"
    # too old to act on: an intent older than the router's max_intent_age_s, or a route message
    # older than the gateway's --max-route-age
    STALE = "STALE"

    # the order surface: trailing stops, GTD, brackets, modify
    MISSING_TRAIL = "MISSING_TRAIL"  # a trailing stop needs trail_amount or trail_percent (one)
    INVALID_EXPIRY = "INVALID_EXPIRY"  # GTD without expire_at, or one in the past; expire_at on another tif
    INVALID_BRACKET = "INVALID_BRACKET"  # exits on the wrong side of the entry, or on a kind of order that has none
    BRACKET_UNSUPPORTED = "BRACKET_UNSUPPORTED"
    OUTSIDE_RTH_UNSUPPORTED = "OUTSIDE_RTH_UNSUPPORTED"
    MODIFY_UNSUPPORTED = "MODIFY_UNSUPPORTED"  # the broker (or this kind of order) cannot be modified
    NOTHING_TO_MODIFY = "NOTHING_TO_MODIFY"
    BROKER_REFUSED = "BROKER_REFUSED"  # the broker said no (its code and words follow)

    # Refusals by a gateway (OrderGatewayRefused): the order never reached the broker.
    NO_CONTRACT = "NO_CONTRACT"  # the route carries nothing this broker can place
    PRIOR_LEG_NOT_FILLED = "PRIOR_LEG_NOT_FILLED"  # the closing leg of a split SELL did not fill
    POISON = "POISON"  # placing it failed the same way twice (dropped connection, exception)
    # a route message naming another broker than the gateway's (ACCOUNT_MISMATCH: another account)
    BROKER_MISMATCH = "BROKER_MISMATCH"


class TradingState(StrEnum):
    """What an account may do now. REDUCING: only orders that reduce the position; HALTED:
    no new order at all (cancels always pass)."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"
