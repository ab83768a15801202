"""Account control: operators' requests (on ``janus.intent.{account}``, beside the intents) and
the router's answers as events (on ``janus.evt.control.{account}``).

Requests travel with the intents on purpose: the router consumes an account's intents one at
a time in stream order, so a halt takes effect exactly between two intents, on whichever
replica holds the account, and survives any router being down (INTENTS is durable)."""

from __future__ import annotations

import msgspec

from .base import Event, Message, RejectReason, TradingState, new_id, now_ns

# --- janus.intent.{account} (commands) -----------------------------------------------------


class TradingStateRequest(Message, frozen=True, kw_only=True):
    """Set the account's trading state; with ``cancel_working`` also cancel its working orders."""

    request_id: str = msgspec.field(default_factory=new_id)
    account: str
    state: TradingState
    reason: str = ""
    requested_by: str = ""
    cancel_working: bool = False
    ts: int = msgspec.field(default_factory=now_ns)


class CancelAllRequest(Message, frozen=True, kw_only=True):
    """Cancel every working order of the account, or of one canonical symbol."""

    request_id: str = msgspec.field(default_factory=new_id)
    account: str
    symbol: str | None = None
    reason: str = ""
    requested_by: str = ""
    ts: int = msgspec.field(default_factory=now_ns)


AccountCommand = TradingStateRequest | CancelAllRequest

# --- janus.evt.control.{account} (facts) ----------------------------------------------------


class TradingStateChanged(Event, frozen=True, kw_only=True):
    """The account's trading state from now on (``previous`` may equal ``state``: the request
    is recorded either way, with who asked and why)."""

    request_id: str
    state: TradingState
    previous: TradingState
    reason: str = ""
    requested_by: str = ""


class CancelAllRouted(Event, frozen=True, kw_only=True):
    """The router sent a cancel for each working order listed (intent id → cancel id)."""

    request_id: str
    symbol: str | None = None
    cancels: dict[str, str] = {}
    reason: str = ""
    requested_by: str = ""


class ControlRejected(Event, frozen=True, kw_only=True):
    request_id: str
    reason: RejectReason
    message: str


ControlEvent = TradingStateChanged | CancelAllRouted | ControlRejected
