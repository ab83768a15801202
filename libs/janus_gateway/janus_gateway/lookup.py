"""The look-up RPC's answers, the same for every broker: what was found becomes unique,
ambiguous or not found; a broker that cannot answer is a typed error."""

from __future__ import annotations

from janus_common.messages import (
    LookupAmbiguous,
    LookupCandidate,
    LookupNotFound,
    LookupReply,
    LookupUnique,
    RejectReason,
    RpcError,
)

__all__ = ["invalid_symbol", "outcome", "unavailable"]


def outcome(found: list[LookupCandidate], not_found: str) -> LookupReply:
    if not found:
        return LookupNotFound(message=not_found)
    if len(found) > 1:
        return LookupAmbiguous(candidates=found)
    return LookupUnique(candidate=found[0])


def unavailable(message: str) -> RpcError:
    return RpcError(reason=RejectReason.BROKER_UNAVAILABLE, message=message)


def invalid_symbol(message: str) -> RpcError:
    return RpcError(reason=RejectReason.INVALID_SYMBOL, message=message)
