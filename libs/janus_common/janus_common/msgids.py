"""``Nats-Msg-Id`` values. JetStream deduplicates by this header within a stream, and intent
and cancel ids are chosen by clients one account at a time: every msg-id built from them
starts with the account, or the same id on two accounts would silently drop the second."""

from __future__ import annotations


def intent(account: str, intent_id: str) -> str:
    return f"{account}:{intent_id}"


def cancel(account: str, cancel_id: str) -> str:
    return f"{account}:cancel:{cancel_id}"


def outcome(account: str, intent_id: str) -> str:
    return f"{account}:outcome:{intent_id}"


def cancel_outcome(account: str, cancel_id: str) -> str:
    return f"{account}:cancel-outcome:{cancel_id}"


def duplicate(account: str, intent_id: str, ts: int) -> str:
    return f"{account}:duplicate:{intent_id}:{ts}"


def malformed(account: str, stream_seq: int) -> str:
    return f"{account}:malformed:{stream_seq}"


def route(account: str, order_key: str) -> str:
    return f"{account}:route:{order_key}"


def cancel_route(account: str, cancel_id: str) -> str:
    return f"{account}:cancel:{cancel_id}"


def modify(account: str, modify_id: str) -> str:
    return f"{account}:modify:{modify_id}"


def modify_outcome(account: str, modify_id: str) -> str:
    return f"{account}:modify-outcome:{modify_id}"


def modify_route(account: str, modify_id: str, order_key: str) -> str:
    return f"{account}:modify:{modify_id}:{order_key}"
