"""janus.rpc.lookup.ib: canonical symbol → IB contract with the default filter (stocks US +
SMART + USD; futures CME, GLOBEX when CME finds nothing). Unique, ambiguous or not found."""

from __future__ import annotations

import asyncio

from ib_async import IB, Contract, ContractDetails

from janus_common.messages import IbContract, LookupCandidate, LookupReply, LookupRequest
from janus_common.symbols import SymbolError
from janus_gateway import lookup as answers

from .mapping import LookupQuery, lookup_query


def candidate(cd: ContractDetails) -> LookupCandidate | None:
    """The candidate ``cd`` describes; None when it carries no contract (ib_async's
    ContractDetails allows that): such a detail names nothing that could be traded."""
    c = cd.contract
    if c is None:
        return None
    return LookupCandidate(
        ib=IbContract(symbol=c.symbol, sec_type=c.secType, exchange=c.exchange or "SMART",
                      primary_exchange=c.primaryExchange or None, currency=c.currency or "USD",
                      con_id=c.conId or None, contract_month=cd.contractMonth or None,
                      last_trade_date=c.lastTradeDateOrContractMonth or None,
                      multiplier=float(c.multiplier) if c.multiplier else None,
                      trading_class=c.tradingClass or None, local_symbol=c.localSymbol or None,
                      strike=c.strike or None, right=c.right or None, min_tick=cd.minTick or None),
        description=cd.longName or "")


def contract_for(q: LookupQuery, exchange: str | None = None) -> Contract:
    return Contract(secType=q.sec_type, symbol=q.symbol, exchange=exchange or q.exchange, currency=q.currency,
                    lastTradeDateOrContractMonth=q.last_trade, primaryExchange=q.primary_exchange,
                    strike=q.strike, right=q.right)


class Lookups:
    def __init__(self, ib: IB, ready: asyncio.Event, *, concurrency: int = 4, timeout: float = 8.0):
        self.ib = ib
        self.ready = ready
        # ib_async already paces requests under IB's 50 msgs/s; this bounds a burst's fan-out.
        self._slots = asyncio.Semaphore(concurrency)
        self.timeout = timeout

    async def details(self, q: LookupQuery) -> list[ContractDetails]:
        async with self._slots:
            found = await asyncio.wait_for(self.ib.reqContractDetailsAsync(contract_for(q)), self.timeout)
            if not found and q.fallback_exchange:
                found = await asyncio.wait_for(
                    self.ib.reqContractDetailsAsync(contract_for(q, q.fallback_exchange)), self.timeout)
        return found

    async def handle(self, req: LookupRequest) -> LookupReply:
        try:
            q = lookup_query(req.symbol, req.asset_class, req.exchange, req.currency)
        except SymbolError as exc:
            return answers.invalid_symbol(str(exc))
        if req.con_id:
            q = LookupQuery(q.sec_type, q.symbol, q.exchange, q.currency)
        if not self.ready.is_set():
            return answers.unavailable("the IB gateway is not connected to IB")
        try:
            found = await self.details(q)
        except asyncio.TimeoutError:
            return answers.unavailable(f"IB did not answer the look-up of {req.symbol}")
        if req.con_id:
            found = [cd for cd in found if cd.contract is not None and cd.contract.conId == req.con_id]
        return answers.outcome([c for c in map(candidate, found) if c is not None],
                               f"IB has no {q.sec_type} {req.symbol} on {q.exchange} in {q.currency}")
