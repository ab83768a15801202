"""Registry entries and the one rule that governs every write: fill missing fields only.

Pure code, no IO. An entry is a canonical key (symbol, asset class) plus a flat map of field
name → value (``exchange``, ``ib.con_id``, ``webull.symbol`` …) and, per field, who wrote it
and when. Flat names make the fill rule, the database columns and the provenance one
vocabulary; :func:`to_record` turns an entry into the wire's :class:`RegistryRecord`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import msgspec

from janus_common.messages import IbContract, RegistryRecord, WebullInstrument
from janus_common.symbols import AssetClass, CanonicalSymbol


class Source(StrEnum):
    """Who wrote a field."""

    CONFIG = "config"
    LOOKUP = "lookup"
    HOLDINGS = "holdings"
    HARMONY = "harmony"


KEY_FIELDS = ("exchange", "currency")
IB_FIELDS = (
    "ib.symbol", "ib.sec_type", "ib.exchange", "ib.primary_exchange", "ib.currency",
    "ib.con_id", "ib.contract_month", "ib.last_trade_date", "ib.multiplier",
    "ib.trading_class", "ib.local_symbol", "ib.min_tick",
)
WEBULL_FIELDS = ("webull.symbol", "webull.market", "webull.category", "webull.instrument_id")
FIELDS: tuple[str, ...] = KEY_FIELDS + IB_FIELDS + WEBULL_FIELDS

# The IbContract attributes the registry keeps (strike and right belong to options, which are
# display only and never persisted).
_IB_ATTRS = tuple(f.removeprefix("ib.") for f in IB_FIELDS)
_WEBULL_ATTRS = tuple(f.removeprefix("webull.") for f in WEBULL_FIELDS)


class Stamp(msgspec.Struct, frozen=True):
    by: str  # a Source value
    at: int  # ns since the epoch


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    asset_class: AssetClass
    values: dict[str, Any] = {}
    provenance: dict[str, Stamp] = {}

    def has(self, field: str) -> bool:
        return self.values.get(field) is not None

    @property
    def updated_at(self) -> int | None:
        return max((s.at for s in self.provenance.values()), default=None)


class Write(msgspec.Struct, frozen=True):
    """Fill ``values`` into the row of ``symbol`` (created if absent), stamped ``source``/``at``."""

    symbol: str
    asset_class: AssetClass
    values: dict[str, Any]
    source: Source
    at: int


def key_values(key: CanonicalSymbol) -> dict[str, Any]:
    return {"exchange": key.exchange, "currency": key.currency}


def ib_values(contract: IbContract | None) -> dict[str, Any]:
    if contract is None:
        return {}
    out: dict[str, Any] = {}
    for attr in _IB_ATTRS:
        value = getattr(contract, attr)
        if value is None or value == "":
            continue
        if attr in ("multiplier", "min_tick"):
            value = float(value)
        out[f"ib.{attr}"] = value
    return out


def webull_values(instrument: WebullInstrument | None) -> dict[str, Any]:
    if instrument is None:
        return {}
    return {f"webull.{attr}": getattr(instrument, attr) for attr in _WEBULL_ATTRS
            if getattr(instrument, attr) not in (None, "")}


def fill(
    entry: Entry | None,
    symbol: str,
    asset_class: AssetClass,
    values: dict[str, Any],
    source: Source | str,
    at: int,
) -> tuple[Entry, list[str]]:
    """``entry`` with every field of ``values`` it lacks; present fields are never touched.

    Returns the new entry and the names of the fields filled (in :data:`FIELDS` order), so a
    caller writes and announces exactly those."""
    base = entry if entry is not None else Entry(symbol=symbol, asset_class=asset_class)
    filled = [f for f in FIELDS if values.get(f) is not None and not base.has(f)]
    if not filled:
        return base, []
    stamp = Stamp(str(source), at)
    return (
        Entry(
            symbol=base.symbol,
            asset_class=base.asset_class,
            values={**base.values, **{f: values[f] for f in filled}},
            provenance={**base.provenance, **{f: stamp for f in filled}},
        ),
        filled,
    )


def absorb(entry: Entry | None, other: Entry) -> Entry:
    """Fill ``entry`` from another copy of the same row, keeping the other's stamps. Because
    writes only ever fill, absorbing copies in any order converges on the same entry."""
    if entry is None:
        return other
    filled = [f for f in FIELDS if other.has(f) and not entry.has(f)]
    if not filled:
        return entry
    return Entry(
        symbol=entry.symbol,
        asset_class=entry.asset_class,
        values={**entry.values, **{f: other.values[f] for f in filled}},
        provenance={**entry.provenance, **{f: other.provenance[f] for f in filled
                                           if f in other.provenance}},
    )


def _sub(values: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {f.removeprefix(prefix): v for f, v in values.items() if f.startswith(prefix) and v is not None}


def to_record(entry: Entry) -> RegistryRecord:
    v = entry.values
    ib_part = _sub(v, "ib.")
    wb_part = _sub(v, "webull.")
    # An IbContract needs at least symbol and secType; a partial IB half stays unannounced
    # until harmony or a look-up completes it (the record keeps the flat provenance anyway).
    ib = IbContract(**ib_part) if "symbol" in ib_part and "sec_type" in ib_part else None
    webull = WebullInstrument(**wb_part) if "symbol" in wb_part else None
    return RegistryRecord(
        symbol=entry.symbol,
        asset_class=entry.asset_class,
        exchange=v.get("exchange") or "SMART",
        currency=v.get("currency") or "USD",
        ib=ib,
        webull=webull,
        written_by={f: s.by for f, s in entry.provenance.items()},
        updated_at=entry.updated_at,
    )


def from_record(record: RegistryRecord) -> Entry:
    """An entry from a record on the wire (another replica's write). Only fields named in
    ``written_by`` are taken: the struct defaults (IbContract's SMART/USD) are not row data."""
    values: dict[str, Any] = {"exchange": record.exchange, "currency": record.currency}
    values.update(ib_values(record.ib))
    values.update(webull_values(record.webull))
    values = {f: v for f, v in values.items() if f in record.written_by}
    at = record.updated_at or 0
    provenance = {f: Stamp(record.written_by[f], at) for f in values}
    return Entry(symbol=record.symbol, asset_class=record.asset_class, values=values,
                 provenance=provenance)
