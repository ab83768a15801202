"""The gateway's safety rules, pure: which route messages are not this gateway's to act on,
which are too old to place, and when a broker order that keeps failing is quarantined instead
of tried again.

A failure has a *kind*: ``NO_ANSWER`` (the connection dropped while placing, the broker never
acknowledged, or the gateway died mid-place — a restart cannot tell these apart) or the name of
an unexpected exception. An order that failed the same way ``same_way`` times, or ``at_most``
times in any mix, is poison: it is refused ``POISON`` and the account's later orders go on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from janus_common.capabilities import CAPABILITIES, describe
from janus_common.messages import Broker, CancelOrder, ModifyOrder, PlaceOrder, RejectReason

from .adapter import PlaceFailed

__all__ = ["NO_ANSWER", "failure_kind", "is_stale", "misaddressed", "quarantine", "quarantine_detail"]

NO_ANSWER = "NO_ANSWER"


def failure_kind(exc: BaseException) -> str:
    return NO_ANSWER if isinstance(exc, PlaceFailed) else type(exc).__name__


def misaddressed(command: PlaceOrder | CancelOrder | ModifyOrder, alias: str, broker: Broker) -> tuple[RejectReason, str] | None:
    """Why a route message that arrived on this gateway's subject must not be acted on: it names
    another account or broker. The subject only says who may publish there (the router); the
    payload is what a broker call would act on, so the two must agree before anything is placed
    or cancelled. The account is checked first: it is what decides whose money moves."""
    what = "cancel" if isinstance(command, CancelOrder) else "modification" if isinstance(command, ModifyOrder) else "order"
    if command.account != alias:
        return (RejectReason.ACCOUNT_MISMATCH,
                f"{what} for account {command.account} arrived at the {broker} gateway of {alias}: not acted on")
    if command.broker is not broker:
        return (RejectReason.BROKER_MISMATCH,
                f"{what} for broker {command.broker} arrived at the {broker} gateway of {alias}: not acted on")
    return None


def is_stale(sent_ns: int, now_ns: int, max_age_s: float) -> bool:
    """A route message older than ``max_age_s`` is not placed (0 or less: never stale). A
    message stamped in the future is not stale: clocks differ a little between hosts."""
    return max_age_s > 0 and now_ns - sent_ns > max_age_s * 1e9


def quarantine(failures: Sequence[str], *, same_way: int = 2, at_most: int = 3) -> bool:
    """Whether an order whose placements failed with these kinds must not be tried again."""
    if not failures:
        return False
    return len(failures) >= at_most or max(Counter(failures).values()) >= same_way


def quarantine_detail(order_key: str, failures: Sequence[str], last_detail: str) -> str:
    counts = ", ".join(f"{kind} ×{n}" for kind, n in sorted(Counter(failures).items()))
    tail = f"; last: {last_detail}" if last_detail else ""
    return f"placing {order_key} failed {len(failures)} times ({counts}){tail}: quarantined"


def unsupported(order: PlaceOrder, broker: Broker) -> tuple[RejectReason, str] | None:
    """What the broker's capability table says it cannot take (the router refuses these first;
    this is the same table at the last step, so a route from anywhere else is refused too,
    never half-placed)."""
    caps = CAPABILITIES[broker]
    if order.order_type not in caps.order_types:
        return RejectReason.ORDER_TYPE_UNSUPPORTED, (f"{broker} takes no {order.order_type} orders; it takes "
                                                     f"{describe(caps.order_types)}")
    if order.tif not in caps.tifs:
        return RejectReason.TIF_UNSUPPORTED, f"{broker} takes no {order.tif} orders; it takes {describe(caps.tifs)}"
    return None

