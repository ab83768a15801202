"""Harmony's decisions: which entries lack which broker fields, and the summary. Pure code.

Harmony fills missing fields only: an entry whose fields for a broker type are complete is
not looked up at all (never re-validated), and a filled field is never overwritten.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from janus_common import messages as m
from janus_common.messages import Broker
from janus_common.symbols import AssetClass

from .lookups import Ambiguous, Failed, NotFound, Outcome, Unique, ib_request, webull_request
from .model import Entry

# ib.min_tick too: the router's tick check needs it, and rows written before it was kept
# (or from holdings, which do not carry it) get it from one look-up.
_IB_COMMON = ("ib.symbol", "ib.sec_type", "ib.exchange", "ib.currency", "ib.con_id", "ib.min_tick")

# The fields whose absence makes an entry worth a look-up, per broker type and asset class.
# Optional extras (trading class, local symbol …) are filled when a look-up happens anyway.
REQUIRED: dict[Broker, dict[AssetClass, tuple[str, ...]]] = {
    Broker.IB: {
        AssetClass.EQUITY: _IB_COMMON + ("ib.primary_exchange",),
        AssetClass.FUTURE: _IB_COMMON + ("ib.contract_month", "ib.last_trade_date", "ib.multiplier"),
        AssetClass.FOREX: _IB_COMMON,
        AssetClass.CRYPTO: _IB_COMMON,
    },
    # Webull by ticker: US equities only.
    Broker.WEBULL: {
        AssetClass.EQUITY: ("webull.symbol", "webull.market", "webull.category", "webull.instrument_id"),
    },
}


def missing(entry: Entry, broker: Broker) -> list[str]:
    return [f for f in REQUIRED[broker].get(entry.asset_class, ()) if not entry.has(f)]


def request_for(entry: Entry, broker: Broker) -> m.LookupRequest:
    if broker is Broker.WEBULL:
        return webull_request(entry.values.get("webull.symbol") or entry.symbol)
    return ib_request(entry.symbol, entry.asset_class,
                      currency=entry.values.get("currency") or "USD",
                      con_id=entry.values.get("ib.con_id"))


class Checked(msgspec.Struct, frozen=True):
    broker: Broker
    symbol: str
    outcome: Outcome


def summarize(brokers: Iterable[Broker], checked: Iterable[Checked],
              filled: dict[Broker, int]) -> dict[str, m.HarmonyCounts]:
    """Counts per broker type. ``filled``: entries that gained at least one field."""
    counts = {b: dict(checked=0, filled=filled.get(b, 0), ambiguous=0, not_found=0, failed=0)
              for b in brokers}
    for c in checked:
        row = counts.setdefault(c.broker, dict(checked=0, filled=filled.get(c.broker, 0),
                                               ambiguous=0, not_found=0, failed=0))
        row["checked"] += 1
        match c.outcome:
            case Ambiguous():
                row["ambiguous"] += 1
            case NotFound():
                row["not_found"] += 1
            case Failed():
                row["failed"] += 1
            case Unique():
                pass
    return {str(b): m.HarmonyCounts(**row) for b, row in counts.items()}
