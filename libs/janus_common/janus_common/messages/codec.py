"""MessagePack on the wire; one typed decoder per subject family.

A bad payload never surfaces as a bare msgspec exception: :class:`MessageDecodeError` names
the family, the subject when known, and msgspec's path-precise reason.

A family may also accept JSON (the intents, so that a client with only a NATS library can
send one): the publisher says so with a ``Content-Type: application/json`` header, and the
same union is decoded by msgspec.json, so the types, bounds and error paths are the same.
Everything Janus publishes stays MessagePack.
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
    "CONTENT_TYPE",
    "JSON",
    "MSGPACK",
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
    "carried_on",
    "codec_for_subject",
    "content_type_of",
    "rpc_codecs_for_subject",
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


MSGPACK = "application/msgpack"
JSON = "application/json"
CONTENT_TYPE = "Content-Type"  # the NATS header a publisher of JSON sets


def content_type_of(headers: dict[str, str] | None) -> str | None:
    """The media type a message's headers declare (lowercased, parameters such as ``charset``
    dropped), None when they declare none. Header names are matched whatever their case: NATS
    keeps them as sent, and clients in other languages spell them their own way."""
    for name, value in (headers or {}).items():
        if name.lower() == "content-type":
            return value.split(";", 1)[0].strip().lower()
    return None


class Codec(Generic[T]):
    """Decoder for one family (a tagged union), one decoder per content type it accepts:
    MessagePack always (the default when a message declares none), JSON where listed."""

    def __init__(self, family: str, union: Any, *, content_types: tuple[str, ...] = (MSGPACK,)) -> None:
        self.family = family
        self.union = union
        self.content_types = content_types
        makers = {MSGPACK: msgspec.msgpack.Decoder, JSON: msgspec.json.Decoder}
        self._decoders: dict[str, Any] = {ct: makers[ct](union) for ct in content_types}

    def decode(self, data: bytes, subject: str | None = None, *, content_type: str | None = None) -> T:
        """``content_type``: what the message's ``Content-Type`` header says (see
        :func:`content_type_of`); None is MessagePack. A type this family does not accept is
        a decode error like any other unreadable message."""
        decoder = self._decoders.get(content_type or MSGPACK)
        if decoder is None:
            raise MessageDecodeError(self.family, f"content type {content_type!r} is not accepted "
                                     f"(accepted: {', '.join(self.content_types)})", subject=subject, size=len(data))
        try:
            return decoder.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise MessageDecodeError(self.family, str(exc), subject=subject, size=len(data)) from exc

    def decode_loose(self, data: bytes, content_type: str | None = None) -> Any:
        """The payload as plain data (dicts, lists), without the family's types: what can still
        be read from a message that failed :meth:`decode` (its ids, to answer it). None when
        not even that parses."""
        loose = msgspec.json.decode if (content_type or MSGPACK) == JSON else msgspec.msgpack.decode
        try:
            return loose(data)
        except msgspec.DecodeError:
            return None

    encode = staticmethod(encode)


# Intents and account commands come from clients, in any language: MessagePack or JSON.
INTENTS: Codec[Intent | AccountCommand] = Codec("intent", Intent | AccountCommand, content_types=(MSGPACK, JSON))
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


# Subjects that carry only part of their family: the INTENTS codec reads both subjects (one
# consumer keeps an account's halt and its orders in order), and the router refuses the other
# part on each (WRONG_SUBJECT). The published schema lists only what a subject carries.
_CARRIES: list[tuple[str, Any]] = [
    ("janus.intent.", Intent),
    ("janus.control.", AccountCommand),
]


def carried_on(subject: str) -> Any:
    """The union of what ``subject`` carries: its family's, unless the family is shared."""
    for prefix, union in _CARRIES:
        if subject.startswith(prefix):
            return union
    return codec_for_subject(subject).union


def codec_for_subject(subject: str) -> Codec[Any]:
    """The codec of the family a (non-RPC) subject belongs to."""
    for prefix, codec in _BY_PREFIX:
        if subject.startswith(prefix):
            return codec
    raise KeyError(f"no message family for subject {subject!r}")


# Request/reply subjects: (prefix, request codec, reply codec).
_RPC_BY_PREFIX: list[tuple[str, Codec[Any], Codec[Any]]] = [
    ("janus.rpc.registry.resolve", RESOLVE_REQUEST, RESOLVE_REPLY),
    ("janus.rpc.registry.harmony", HARMONY_REQUEST, HARMONY_REPLY),
    ("janus.rpc.lookup.", LOOKUP_REQUEST, LOOKUP_REPLY),
    ("janus.rpc.sync.", SYNC_REQUEST, SYNC_REPLY),
    ("janus.rpc.md.subscribe", MD_REQUEST, MD_REPLY),
    ("janus.rpc.pricer.subscribe", MD_REQUEST, MD_REPLY),
    ("janus.rpc.capabilities.", CAPABILITIES_REQUEST, CAPABILITIES_REPLY),
]


def rpc_codecs_for_subject(subject: str) -> tuple[Codec[Any], Codec[Any]]:
    """The (request, reply) codecs of an RPC subject."""
    for prefix, req, reply in _RPC_BY_PREFIX:
        if subject.startswith(prefix):
            return req, reply
    raise KeyError(f"no request/reply family for subject {subject!r}")
