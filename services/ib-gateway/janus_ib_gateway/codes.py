"""IB's error codes, named and classified once. Every other module asks :func:`classify`.

IB sends one ``error`` message for everything: lost connectivity, data-farm notices, held
orders, missing market-data entitlements, confirmations, and real refusals. What a code means
for Janus depends only on its class."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "CONNECTIVITY_LOST", "CONNECTIVITY_RESTORED", "CONNECTIVITY_RESTORED_DATA_LOST", "CodeClass",
    "DELAYED_DATA", "FARM_BROKEN", "FARM_OK", "HELD_FOR_LOCATE", "MARKET_FARM_OK", "NO_SECURITY_DEFINITION",
    "classify", "is_entitlement_failure",
]

CONNECTIVITY_LOST = 1100
CONNECTIVITY_RESTORED_DATA_LOST = 1101
CONNECTIVITY_RESTORED = 1102
FARM_BROKEN = frozenset({2103, 2105, 2157})  # market data / HMDS / security definition farm down
MARKET_FARM_OK = 2104
FARM_OK = frozenset({MARKET_FARM_OK, 2106, 2158})
HELD_FOR_LOCATE = 404
NO_SECURITY_DEFINITION = 200
NO_SUBSCRIPTION = 354
DELAYED_DATA = 10167  # "displaying delayed market data": accepted, but delayed
DELAYED_NOT_SUBSCRIBED = 10168
ORDER_CANCELLED = 202
CANCEL_NOT_FOUND = 10147
CANCEL_REFUSED = 10148
ORDER_MESSAGE_WARNING = 399


class CodeClass(StrEnum):
    CONNECTIVITY = "CONNECTIVITY"  # 1100 lost; 1101/1102 restored
    FARM = "FARM"  # a data farm broke or came back: DEGRADED / READY
    HELD = "HELD"  # an order held (e.g. for a locate): not rejected
    ENTITLEMENT = "ENTITLEMENT"  # market data the account may not have (or only delayed)
    INFORMATIONAL = "INFORMATIONAL"  # confirmations and warnings: nothing to report
    ORDER = "ORDER"  # anything else about an order: a refusal if IB had not accepted it yet


_CLASSES = {
    CONNECTIVITY_LOST: CodeClass.CONNECTIVITY,
    CONNECTIVITY_RESTORED_DATA_LOST: CodeClass.CONNECTIVITY,
    CONNECTIVITY_RESTORED: CodeClass.CONNECTIVITY,
    **{code: CodeClass.FARM for code in FARM_BROKEN | FARM_OK},
    HELD_FOR_LOCATE: CodeClass.HELD,
    NO_SUBSCRIPTION: CodeClass.ENTITLEMENT,
    DELAYED_DATA: CodeClass.ENTITLEMENT,
    DELAYED_NOT_SUBSCRIBED: CodeClass.ENTITLEMENT,
    ORDER_CANCELLED: CodeClass.INFORMATIONAL,
    CANCEL_NOT_FOUND: CodeClass.INFORMATIONAL,
    CANCEL_REFUSED: CodeClass.INFORMATIONAL,
    ORDER_MESSAGE_WARNING: CodeClass.INFORMATIONAL,
}


def classify(code: int) -> CodeClass:
    found = _CLASSES.get(code)
    if found is not None:
        return found
    if 2100 <= code < 2200:  # the 21xx range is IB's warnings and notices
        return CodeClass.INFORMATIONAL
    return CodeClass.ORDER


def is_entitlement_failure(code: int) -> bool:
    """A market-data request that will not deliver (a delayed-data notice does deliver)."""
    return code in (NO_SUBSCRIPTION, DELAYED_NOT_SUBSCRIBED, NO_SECURITY_DEFINITION)
