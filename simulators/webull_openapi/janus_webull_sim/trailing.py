"""Trailing stops (``TRAILING_STOP_LOSS``): the trail's fields and the stop it puts under the price.

Pure functions over integer cents. A SELL (or SHORT) trail keeps a reference at the highest last
price since placement and its stop a step below it; a BUY mirrors that with the lowest last price
and the stop a step above. The reference only ever moves in the order's favour, so the stop never
loosens on its own; it triggers when the last price reaches it and the order then trades as a
market order.

Webull's fields: ``trailing_type`` AMOUNT (``trailing_stop_step`` in dollars, on the 0.01 grid) or
PERCENTAGE (``trailing_stop_step`` a fraction: "0.05" is 5 %; Webull: it "can not exceed 1").
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

from janus_webull_sim.errors import BadRequest
from janus_webull_sim.prices import fmt_cents, to_cents

TRAILING_TYPES = ("AMOUNT", "PERCENTAGE")
TRAILING_FIELDS = ("trailing_type", "trailing_stop_step")
MAX_STEP_CENTS = 100_000_000  # the same bounds as any price
MAX_STOP_CENTS = 100_000_000
MAX_NUMBER_TEXT = 40


@dataclass(frozen=True)
class Trail:
    kind: str  # AMOUNT | PERCENTAGE
    step: Decimal  # dollars (AMOUNT, on the cent grid) or a fraction of the price (PERCENTAGE)

    def step_text(self) -> str:
        if self.kind == "AMOUNT":
            return fmt_cents(int(self.step * 100))
        return str(self.step)


def sells(side: str) -> bool:
    """SELL and SHORT trail below the price; BUY above it."""
    return side != "BUY"


def parse_kind(value: Any) -> str:
    if value not in TRAILING_TYPES:
        raise BadRequest(f"trailing_type must be one of {', '.join(TRAILING_TYPES)}",
                         error_code="INVALID_TRAILING_TYPE")
    return str(value)


def parse_step(kind: str, value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise BadRequest("trailing_stop_step must be a number or a numeric string")
    if isinstance(value, str) and len(value) > MAX_NUMBER_TEXT:
        raise BadRequest(f"trailing_stop_step is not a number of at most {MAX_NUMBER_TEXT} characters")
    if kind == "AMOUNT":
        try:
            cents = to_cents(value)
        except (ValueError, InvalidOperation) as exc:
            raise BadRequest(f"trailing_stop_step: {exc}", error_code="INVALID_TRAILING_STOP_STEP") from exc
        if not 0 < cents <= MAX_STEP_CENTS:
            raise BadRequest(f"an AMOUNT trailing_stop_step must be above 0 and at most {fmt_cents(MAX_STEP_CENTS)}",
                             error_code="INVALID_TRAILING_STOP_STEP")
        return Decimal(cents) / 100
    try:
        step = Decimal(str(value))
    except InvalidOperation as exc:
        raise BadRequest(f"trailing_stop_step is not a number: {str(value)[:40]!r}",
                         error_code="INVALID_TRAILING_STOP_STEP") from exc
    # A 100 % trail would put a SELL's stop at zero, where it can never trigger: below 1 only.
    if not step.is_finite() or not 0 < step < 1:
        raise BadRequest("a PERCENTAGE trailing_stop_step is a fraction above 0 and below 1 (0.05 is 5%)",
                         error_code="INVALID_TRAILING_STOP_STEP")
    return step


def parse_trail(entry: dict[str, Any]) -> Trail:
    """Both fields are required on a TRAILING_STOP_LOSS order."""
    for key in TRAILING_FIELDS:
        if entry.get(key) in (None, ""):
            raise BadRequest(f"{key} is required for TRAILING_STOP_LOSS")
    kind = parse_kind(entry["trailing_type"])
    return Trail(kind, parse_step(kind, entry["trailing_stop_step"]))


def stop_for(trail: Trail, reference: int, side: str) -> int:
    """The stop a step away from the reference, on the cent grid, rounded away from the price
    (a trail never comes closer than asked)."""
    ref = Decimal(reference)
    if trail.kind == "AMOUNT":
        offset = trail.step * 100
        return int(ref - offset) if sells(side) else int(ref + offset)
    if sells(side):
        return int((ref * (1 - trail.step)).to_integral_value(ROUND_FLOOR))
    return int((ref * (1 + trail.step)).to_integral_value(ROUND_CEILING))


def follow(reference: int, last: int, side: str) -> int:
    """The reference after a trade at ``last``: the best price seen for the order, never worse."""
    return max(reference, last) if sells(side) else min(reference, last)


def reached(stop: int, last: int, side: str) -> bool:
    return last <= stop if sells(side) else last >= stop


def usable(stop: int) -> bool:
    """A stop at or below zero could never trigger, and one above the price bound is no price:
    a trail that would put its stop there is refused."""
    return 0 < stop <= MAX_STOP_CENTS
