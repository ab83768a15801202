"""janus.rpc.lookup.webull: ticker → Webull instrument through the instruments endpoint."""

from __future__ import annotations

import asyncio
from typing import Any

from janus_common.messages import LookupCandidate, LookupNotFound, LookupReply, LookupRequest, WebullInstrument
from janus_common.symbols import AssetClass
from janus_gateway import lookup as answers

from .orders import OrderDesk
from .webull_api import WebullError


def candidate(row: dict[str, Any]) -> LookupCandidate:
    return LookupCandidate(
        webull=WebullInstrument(symbol=str(row.get("symbol")), market="US", category="US_STOCK",
                                instrument_id=str(row["instrument_id"]) if row.get("instrument_id") else None),
        description=str(row.get("name") or ""))


class Lookups:
    def __init__(self, desk: OrderDesk, ready: asyncio.Event) -> None:
        self.desk = desk
        self.ready = ready

    async def handle(self, req: LookupRequest) -> LookupReply:
        if req.asset_class is not AssetClass.EQUITY:
            return LookupNotFound(message=f"the Webull gateway trades US equities, not {req.asset_class}")
        symbol = req.symbol.strip().upper()
        if not symbol or len(symbol) > 20:
            return answers.invalid_symbol(f"{req.symbol!r} is not a ticker")
        if not self.ready.is_set():
            return answers.unavailable("the Webull gateway is not connected")
        try:
            rows = await self.desk.call(self.desk.api.instruments, [symbol])
        except WebullError as exc:
            return answers.unavailable(f"Webull look-up failed: {exc.code}")
        found = [candidate(r) for r in rows if str(r.get("symbol", "")).upper() == symbol]
        return answers.outcome(found, f"Webull has no US stock {symbol}")
