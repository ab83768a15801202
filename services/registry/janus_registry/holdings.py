"""Which IB holdings may fill the registry, and under which key. Pure code, no IO.

Positions reported by IB fill missing entries with unique look-up matches only. Futures are
keyed ``ROOT.YYMM``; options are shown with canonical-like symbols but never persisted.
"""

from __future__ import annotations

from typing import Any

import msgspec

from janus_common import messages as m
from janus_common.messages import Broker
from janus_common.symbols import AssetClass, SymbolError, normalize

from .lookups import contract_yymm, ib_request


class Wanted(msgspec.Struct, frozen=True):
    symbol: str | None  # canonical key when the position's symbol is one; else from the match
    asset_class: AssetClass
    request: m.LookupRequest


def _key(position: m.Position) -> str | None:
    try:
        return normalize(position.symbol, position.asset_class)
    except SymbolError:
        return None


def wanted(snapshot: m.PositionSnapshot) -> list[Wanted]:
    """The positions of an IB snapshot worth a look-up, once each, in snapshot order."""
    if snapshot.broker is not Broker.IB:
        return []
    out: list[Wanted] = []
    seen: set[str] = set()
    for position in snapshot.positions:
        if position.asset_class is AssetClass.OPTION:
            continue
        key = _key(position)
        if key is None and not (position.asset_class is AssetClass.FUTURE and position.con_id):
            continue  # nothing to key it by, now or after the look-up
        ident = key or f"conid:{position.con_id}"
        if ident in seen:
            continue
        seen.add(ident)
        out.append(Wanted(key, position.asset_class,
                          ib_request(key or position.symbol, position.asset_class,
                                     currency=position.currency, con_id=position.con_id)))
    return out


def future_key(values: dict[str, Any]) -> str | None:
    """``ROOT.YYMM`` of an IB future's fields (the contract month, not the expiry day)."""
    root, yymm = values.get("ib.symbol"), contract_yymm(values)
    if not root or not yymm:
        return None
    try:
        return normalize(f"{root}.{yymm}", AssetClass.FUTURE)
    except SymbolError:
        return None


def key_for(w: Wanted, values: dict[str, Any]) -> str | None:
    if w.symbol is not None:
        return w.symbol
    return future_key(values) if w.asset_class is AssetClass.FUTURE else None
