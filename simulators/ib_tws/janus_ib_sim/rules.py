"""IB's rules across an order's fields — type against time in force, GTD dates, outsideRth,
trailing fields, groups — checked before anything is stored. Pure.

``book.validate`` checks each field alone (side, size, prices on the tick grid); this checks
how they combine and answers what the order becomes: its expiry and whether it may trade
outside regular hours, plus the warnings IB sends with such an order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from . import book, hours, trailing
from .book import OrderError
from .catalogue import Spec
from .orderwire import OrderRequest

OPG_TYPES = ("MKT", "LMT")
AUCTION_TYPES = ("MOC", "LOC")


@dataclass(frozen=True)
class Checked:
    expires_at: float | None = None
    outside_rth: bool = False
    warnings: list[tuple[int, str]] = field(default_factory=list)


def check(spec: Spec, r: OrderRequest, now: float) -> Checked:
    if r.conditions:
        raise OrderError(387, "Unsupported order type: orders with conditions are not supported by the simulator.")
    book.validate(spec, r.action, r.qty, r.order_type, r.lmt, r.aux, r.tif)
    trailing.validate(r.order_type, r.aux if r.order_type in trailing.TRAILING else None, r.trailing_pct,
                      r.trail_stop, r.lmt_offset, spec.min_tick)
    if r.order_type in AUCTION_TYPES and r.tif not in ("DAY", ""):
        raise OrderError(113, "The Tif option should be set to DAY for MOC and LOC orders.")
    if r.tif == "OPG" and r.order_type not in OPG_TYPES:
        raise OrderError(111, "The TIF (Tif type) and the order type are incompatible.")
    if r.tif in ("IOC", "FOK") and r.order_type in AUCTION_TYPES:
        raise OrderError(111, "The TIF (Tif type) and the order type are incompatible.")
    if r.oca_type not in (0, 1, 2, 3):
        raise OrderError(321, f"Error validating request:-'bO' : cause - Invalid OCA type {r.oca_type}")
    if r.parent_id < 0:
        raise OrderError(135, f"Can't find order with id = {r.parent_id}")
    expires_at = None
    if r.tif == "GTD":
        try:
            expires_at = hours.good_till(r.good_till, now)
        except ValueError as exc:
            raise OrderError(201 if "past" in str(exc) else 321, _gtd_text(str(exc))) from exc
        if not math.isfinite(expires_at):
            raise OrderError(321, _gtd_text("unreadable goodTillDate"))
    warnings: list[tuple[int, str]] = []
    outside = r.outside_rth
    if outside and r.order_type not in hours.OUTSIDE_RTH_TYPES:
        outside = False  # IB takes the order and drops the flag
        warnings.append((2109, 'Order Event Warning:Attribute "Outside Regular Trading Hours" is ignored based '
                               "on the order type and destination. PlaceOrder is now being processed."))
    return Checked(expires_at, outside, warnings)


def _gtd_text(reason: str) -> str:
    if reason.startswith("Invalid GTD: the good-till"):
        return f"Order rejected - reason:{reason}"
    return f"Error validating request:-'bO' : cause - {reason}"


def modify_mismatch(order: book.SimOrder, spec: Spec, r: OrderRequest) -> None:
    """A modify keeps the contract and the side, as IB: otherwise 105."""
    if spec.con_id != order.spec.con_id or r.action != order.action:
        raise OrderError(105, "Order being modified does not match original order.")
