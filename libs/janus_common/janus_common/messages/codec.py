"""MessagePack on the wire; one typed decoder per subject family.

A bad payload never surfaces as a bare msgspec exception: :class:`MessageDecodeError` names
the family, the subject when known, and msgspec's path-precise reason.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec

from .accounts import AccountEvent, PositionEvent
from .control import AccountCommand, ControlEvent
from .deadletter import DeadLetter
from .market import MarketData, Valuation
from .orders import Intent, OrderLifeEvent, RouteCommand
from .registry import RegistryEvent
from .rpc import (
    CapabilitiesReply,
    CapabilitiesRequest,
    HarmonyReply,
    HarmonyRequest,
    LookupReply,
    LookupRequest,
    MarketDataReply,
    MarketDataRequest,
    ResolveReply,
    ResolveRequest,
    SyncReply,
    SyncRequest,
)

__all__ = [
    "ACCOUNT_EVENTS",
    "ANY_EVENT",
    "CAPABILITIES_REPLY",
    "CAPABILITIES_REQUEST",
    "CONTROL_EVENTS",
    "Codec",
    "DEAD_LETTERS",
    "HARMONY_REPLY",
    "HARMONY_REQUEST",
    "INTENTS",
    "LOOKUP_REPLY",
    "LOOKUP_REQUEST",
    "MARKET_DATA",
    "MD_REPLY",
    "MD_REQUEST",
    "MessageDecodeError",
    "ORDER_EVENTS",
    "POSITION_EVENTS",
    "REGISTRY_EVENTS",
    "RESOLVE_REPLY",
    "RESOLVE_REQUEST",
    "ROUTES",
    "SYNC_REPLY",
    "SYNC_REQUEST",
    "VALUATIONS",
    "codec_for_subject",
    "encode",
]


T = TypeVar("T")

_encoder = msgspec.msgpack.Encoder()


def encode(message: msgspec.Struct) -> bytes:
    return _encoder.encode(message)


class MessageDecodeError(ValueError):
    """Bytes that are not a valid message of the expected family."""

    def __init__(self, family: str, reason: str, *, subject: str | None = None, size: int = 0):
        self.family = family
        self.reason = reason
        self.subject = subject
        self.size = size
        where = f" on {subject}" if subject else ""
        super().__init__(f"undecodable {family} message{where} ({size} bytes): {reason}")


class Codec(Generic[T]):
    """Decoder for one family (a tagged union)."""

    def __init__(self, family: str, union: Any) -> None:
        self.family = family
        self.union = union
        self._decoder = msgspec.msgpack.Decoder(union)

    def decode(self, data: bytes, subject: str | None = None) -> T:
        try:
            return self._decoder.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise MessageDecodeError(self.family, str(exc), subject=subject, size=len(data)) from exc

    encode = staticmethod(encode)


INTENTS: Codec[Intent | AccountCommand] = Codec("intent", Intent | AccountCommand)
ROUTES: Codec[RouteCommand] = Codec("route", RouteCommand)
ORDER_EVENTS: Codec[OrderLifeEvent] = Codec("order-event", OrderLifeEvent)
POSITION_EVENTS: Codec[PositionEvent] = Codec("position-event", PositionEvent)
ACCOUNT_EVENTS: Codec[AccountEvent] = Codec("account-event", AccountEvent)
CONTROL_EVENTS: Codec[ControlEvent] = Codec("control-event", ControlEvent)
REGISTRY_EVENTS: Codec[RegistryEvent] = Codec("registry-event", RegistryEvent)
MARKET_DATA: Codec[MarketData] = Codec("market-data", MarketData)
VALUATIONS: Codec[Valuation] = Codec("valuation", Valuation)
DEAD_LETTERS: Codec[DeadLetter] = Codec("dead-letter", DeadLetter)
RESOLVE_REQUEST: Codec[ResolveRequest] = Codec("resolve-request", ResolveRequest)
RESOLVE_REPLY: Codec[ResolveReply] = Codec("resolve-reply", ResolveReply)
LOOKUP_REQUEST: Codec[LookupRequest] = Codec("lookup-request", LookupRequest)
LOOKUP_REPLY: Codec[LookupReply] = Codec("lookup-reply", LookupReply)
HARMONY_REQUEST: Codec[HarmonyRequest] = Codec("harmony-request", HarmonyRequest)
HARMONY_REPLY: Codec[HarmonyReply] = Codec("harmony-reply", HarmonyReply)
SYNC_REQUEST: Codec[SyncRequest] = Codec("sync-request", SyncRequest)
SYNC_REPLY: Codec[SyncReply] = Codec("sync-reply", SyncReply)
MD_REQUEST: Codec[MarketDataRequest] = Codec("md-request", MarketDataRequest)
MD_REPLY: Codec[MarketDataReply] = Codec("md-reply", MarketDataReply)
CAPABILITIES_REQUEST: Codec[CapabilitiesRequest] = Codec("capabilities-request", CapabilitiesRequest)
CAPABILITIES_REPLY: Codec[CapabilitiesReply] = Codec("capabilities-reply", CapabilitiesReply)

# Everything on janus.evt.> in one union, for readers of the whole EVENTS stream (audit).
ANY_EVENT: Codec[Any] = Codec(
    "event", OrderLifeEvent | PositionEvent | AccountEvent | RegistryEvent | ControlEvent
)

_BY_PREFIX: list[tuple[str, Codec[Any]]] = [
    ("janus.intent.", INTENTS),
    ("janus.control.", INTENTS),
    ("janus.route.", ROUTES),
    ("janus.evt.order.", ORDER_EVENTS),
    ("janus.evt.position.", POSITION_EVENTS),
    ("janus.evt.account.", ACCOUNT_EVENTS),
    ("janus.evt.control.", CONTROL_EVENTS),
    ("janus.evt.registry", REGISTRY_EVENTS),
    ("janus.md.", MARKET_DATA),
    ("janus.val.", VALUATIONS),
    ("janus.dlq.", DEAD_LETTERS),
]


def codec_for_subject(subject: str) -> Codec[Any]:
    """The codec of the family a (non-RPC) subject belongs to."""
    for prefix, codec in _BY_PREFIX:
        if subject.startswith(prefix):
            return codec
    raise KeyError(f"no message family for subject {subject!r}")
