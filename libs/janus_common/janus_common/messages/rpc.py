"""Request/reply messages on janus.rpc.* (core NATS, queue groups)."""

from __future__ import annotations

import msgspec

from ..symbols import AssetClass
from .base import Broker, Id, Message, OrderType, RejectReason, Symbol, Text, Tif, Word
from .contracts import IbContract, RegistryRecord, WebullInstrument

__all__ = [
    "Capabilities",
    "CapabilitiesReply",
    "CapabilitiesRequest",
    "HarmonyCounts",
    "HarmonyReply",
    "HarmonyRequest",
    "HarmonySummary",
    "LookupAmbiguous",
    "LookupCandidate",
    "LookupNotFound",
    "LookupReply",
    "LookupRequest",
    "LookupUnique",
    "MarketDataReply",
    "MarketDataRequest",
    "MarketDataSubscribe",
    "MarketDataSubscribed",
    "MarketDataUnsubscribe",
    "ResolveReply",
    "ResolveRequest",
    "Resolved",
    "RpcError",
    "SyncDone",
    "SyncReply",
    "SyncRequest",
]



class RpcError(Message, frozen=True, kw_only=True):
    """Any RPC can answer this instead of its reply: a reason code and a sentence."""

    reason: RejectReason
    message: Text
    candidates: list[RegistryRecord] = []
    # RATE_LIMITED: the budget the caller used up (calls per window) and whose it was
    limit: int | None = None
    window_s: float | None = None
    caller: Word | None = None


# registry resolve: janus.rpc.registry.resolve
class ResolveRequest(Message, frozen=True, kw_only=True):
    symbol: Symbol
    asset_class: AssetClass | None = None
    broker: Broker | None = None  # what the caller will trade on; Webull needs only the ticker


class Resolved(Message, frozen=True, kw_only=True):
    record: RegistryRecord
    source: Word  # cache, database, lookup


ResolveReply = Resolved | RpcError


# broker look-up: janus.rpc.lookup.{broker}
class LookupRequest(Message, frozen=True, kw_only=True):
    symbol: Symbol
    asset_class: AssetClass
    exchange: Word | None = None  # None = the default filter (US + SMART; FUT on CME)
    currency: Word = "USD"
    con_id: int | None = None


class LookupCandidate(msgspec.Struct, frozen=True, kw_only=True):
    ib: IbContract | None = None
    webull: WebullInstrument | None = None
    description: Text = ""


class LookupUnique(Message, frozen=True, kw_only=True):
    candidate: LookupCandidate


class LookupAmbiguous(Message, frozen=True, kw_only=True):
    candidates: list[LookupCandidate]


class LookupNotFound(Message, frozen=True, kw_only=True):
    message: Text


LookupReply = LookupUnique | LookupAmbiguous | LookupNotFound | RpcError


# harmony: janus.rpc.registry.harmony
class HarmonyRequest(Message, frozen=True, kw_only=True):
    requested_by: Word = "cli"


class HarmonyCounts(msgspec.Struct, frozen=True, kw_only=True):
    checked: int = 0
    filled: int = 0
    ambiguous: int = 0
    not_found: int = 0
    failed: int = 0


class HarmonySummary(Message, frozen=True, kw_only=True):
    ok: bool
    per_broker: dict[Word, HarmonyCounts]
    error: Text | None = None


HarmonyReply = HarmonySummary | RpcError


# sync: janus.rpc.sync.{account}
class SyncRequest(Message, frozen=True, kw_only=True):
    account: Id


class SyncDone(Message, frozen=True, kw_only=True):
    account: Id
    open_orders: int


SyncReply = SyncDone | RpcError


# market-data subscriptions: janus.rpc.md.subscribe
class MarketDataSubscribe(Message, frozen=True, kw_only=True):
    symbols: list[Symbol]
    requester: Word


class MarketDataUnsubscribe(Message, frozen=True, kw_only=True):
    symbols: list[Symbol]
    requester: Word


MarketDataRequest = MarketDataSubscribe | MarketDataUnsubscribe


class MarketDataSubscribed(Message, frozen=True, kw_only=True):
    subscribed: list[Symbol]
    failed: dict[Symbol, Text] = {}


MarketDataReply = MarketDataSubscribed | RpcError


# --- janus.rpc.capabilities.<account> (the router) ---------------------------------------------


class CapabilitiesRequest(Message, frozen=True, kw_only=True):
    account: Id


class Capabilities(Message, frozen=True, kw_only=True):
    """What ``account`` can send, as the router decides it (janus_common.capabilities)."""

    account: Id
    broker: Broker
    order_types: list[OrderType]
    tifs: list[Tif]
    modify: bool
    brackets: Word  # NONE | NATIVE (the broker holds the exits) | MANAGED (Janus's gateway does)
    trail_percent: bool
    outside_rth: bool
    explicit_short: bool
    allow_short: bool
    fallback: dict[OrderType, OrderType] = msgspec.field(default_factory=dict)


CapabilitiesReply = Capabilities | RpcError

