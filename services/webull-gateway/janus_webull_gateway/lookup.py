"""janus.rpc.lookup.webull: ticker → Webull instrument through the instruments endpoint."""

from __future__ import annotations

import asyncio

from janus_common.messages import (
    LookupAmbiguous,
    LookupCandidate,
    LookupNotFound,
    LookupRequest,
    LookupUnique,
    RejectReason,
    RpcError,
    WebullInstrument,
)
from janus_common.symbols import AssetClass

from .webull_api import WebullError


def candidate(row: dict) -> LookupCandidate:
    return LookupCandidate(
        webull=WebullInstrument(symbol=str(row.get("symbol")), market="US", category="US_STOCK",
                                instrument_id=str(row["instrument_id"]) if row.get("instrument_id") else None),
        description=str(row.get("name") or ""))


class Lookups:
    def __init__(self, desk, ready: asyncio.Event) -> None:
        self.desk = desk
        self.ready = ready

    async def handle(self, req: LookupRequest):
        if req.asset_class is not AssetClass.EQUITY:
            return LookupNotFound(message=f"the Webull gateway trades US equities, not {req.asset_class}")
        symbol = req.symbol.strip().upper()
        if not symbol or len(symbol) > 20:
            return RpcError(reason=RejectReason.INVALID_SYMBOL, message=f"{req.symbol!r} is not a ticker")
        if not self.ready.is_set():
            return RpcError(reason=RejectReason.BROKER_UNAVAILABLE, message="the Webull gateway is not connected")
        try:
            rows = await self.desk.call(self.desk.api.instruments, [symbol])
        except WebullError as exc:
            return RpcError(reason=RejectReason.BROKER_UNAVAILABLE, message=f"Webull look-up failed: {exc.code}")
        found = [r for r in rows if str(r.get("symbol", "")).upper() == symbol]
        if not found:
            return LookupNotFound(message=f"Webull has no US stock {symbol}")
        if len(found) > 1:
            return LookupAmbiguous(candidates=[candidate(r) for r in found])
        return LookupUnique(candidate=candidate(found[0]))
