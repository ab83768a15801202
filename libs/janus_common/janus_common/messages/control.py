"""Account control: operators' requests (on ``janus.intent.{account}``, beside the intents) and
the router's answers as events (on ``janus.evt.control.{account}``).

Requests travel with the intents on purpose: the router consumes an account's intents one at
a time in stream order, so a halt takes effect exactly between two intents, on whichever
replica holds the account, and survives any router being down (INTENTS is durable)."""

from __future__ import annotations

import msgspec

from .base import Event, Id, Message, RejectReason, Symbol, Text, TradingState, Word, new_id, now_ns

__all__ = [
    "AccountCommand",
    "CancelAllRequest",
    "CancelAllRouted",
    "ControlEvent",
    "ControlRejected",
    "TradingStateChanged",
    "TradingStateRequest",
]

# --- janus.intent.{account} (commands) -----------------------------------------------------


class TradingStateRequest(Message, frozen=True, kw_only=True):
    """Set the account's trading state; with ``cancel_working`` also cancel its working orders."""

    request_id: Id = msgspec.field(default_factory=new_id)
    account: Id
    state: TradingState
    reason: Text = ""
    requested_by: Word = ""
    cancel_working: bool = False
    ts: int = msgspec.field(default_factory=now_ns)


class CancelAllRequest(Message, frozen=True, kw_only=True):
    """Cancel every working order of the account, or of one canonical symbol."""

    request_id: Id = msgspec.field(default_factory=new_id)
    account: Id
    symbol: Symbol | None = None
    reason: Text = ""
    requested_by: Word = ""
    ts: int = msgspec.field(default_factory=now_ns)


AccountCommand = TradingStateRequest | CancelAllRequest

# --- janus.evt.control.{account} (facts) ----------------------------------------------------


class TradingStateChanged(Event, frozen=True, kw_only=True):
    """The account's trading state from now on (``previous`` may equal ``state``: the request
    is recorded either way, with who asked and why)."""

    request_id: Id
    state: TradingState
    previous: TradingState
    reason: Text = ""
    requested_by: Word = ""


class CancelAllRouted(Event, frozen=True, kw_only=True):
    """The router sent a cancel for each working order listed (intent id → cancel id)."""

    request_id: Id
    symbol: Symbol | None = None
    cancels: dict[Id, Id] = {}
    reason: Text = ""
    requested_by: Word = ""


class ControlRejected(Event, frozen=True, kw_only=True):
    request_id: Id
    reason: RejectReason
    message: Text


ControlEvent = TradingStateChanged | CancelAllRouted | ControlRejected
