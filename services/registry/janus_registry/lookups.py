"""Broker look-ups as the registry asks and reads them. Pure code, no IO.

A look-up request carries the canonical symbol and asset class; ``exchange=None`` asks the
gateway for its default filter (US + SMART; futures on CME, GLOBEX when resolving a conId).
A reply is read into an :class:`Outcome`; only :class:`Unique` may ever be written.
"""

from __future__ import annotations

from typing import Any

import msgspec

from janus_common import messages as m
from janus_common.messages import Broker, RejectReason
from janus_common.symbols import AssetClass, Future, SymbolError, parse

from .model import ib_values, webull_values


class Unique(msgspec.Struct, frozen=True):
    values: dict[str, Any]  # flat registry fields of the one match


class Ambiguous(msgspec.Struct, frozen=True):
    candidates: list[m.LookupCandidate]


class NotFound(msgspec.Struct, frozen=True):
    message: str


class Failed(msgspec.Struct, frozen=True):
    """The look-up itself did not happen or made no sense (no gateway, timeout, bad reply)."""

    reason: RejectReason
    message: str


Outcome = Unique | Ambiguous | NotFound | Failed


def ib_request(symbol: str, asset_class: AssetClass, *, currency: str = "USD",
               con_id: int | None = None) -> m.LookupRequest:
    return m.LookupRequest(symbol=symbol, asset_class=asset_class, exchange=None,
                           currency=currency, con_id=con_id)


def webull_request(ticker: str) -> m.LookupRequest:
    """Webull identifies a US equity by its ticker alone."""
    return m.LookupRequest(symbol=ticker, asset_class=AssetClass.EQUITY)


def contract_yymm(values: dict[str, Any]) -> str | None:
    """``YYMM`` of a future's contract month (``ib.contract_month`` or the last-trade date)."""
    month = values.get("ib.contract_month") or (values.get("ib.last_trade_date") or "")[:6]
    return month[2:6] if len(month) == 6 and month.isdigit() else None


def _future_mismatch(symbol: str, values: dict[str, Any]) -> str | None:
    try:
        parsed = parse(symbol, AssetClass.FUTURE)
    except SymbolError:
        return None
    assert isinstance(parsed, Future)
    want = f"{parsed.year % 100:02d}{parsed.month:02d}"
    got = contract_yymm(values)
    if got is not None and got != want:
        return f"the look-up for {symbol} answered contract month 20{got}, not 20{want}"
    return None


def classify(reply: m.LookupReply, broker: Broker, symbol: str, asset_class: AssetClass) -> Outcome:
    """What a gateway's reply means for ``symbol``. A unique match that is not what was asked
    (another contract month, no broker half) is refused rather than written."""
    match reply:
        case m.LookupUnique(candidate=candidate):
            values = ib_values(candidate.ib) if broker is Broker.IB else webull_values(candidate.webull)
            if not values:
                return Failed(RejectReason.INTERNAL,
                              f"the {broker} look-up for {symbol} answered a match without {broker} fields")
            if broker is Broker.IB and asset_class is AssetClass.FUTURE:
                mismatch = _future_mismatch(symbol, values)
                if mismatch:
                    return NotFound(mismatch)
            return Unique(values)
        case m.LookupAmbiguous(candidates=candidates):
            return Ambiguous(list(candidates))
        case m.LookupNotFound(message=message):
            return NotFound(message or f"no {broker} contract matches {symbol}")
        case m.RpcError(reason=reason, message=message):
            return Failed(reason, f"{broker} look-up failed: {message}")
    return Failed(RejectReason.INTERNAL, f"unexpected look-up reply {type(reply).__name__}")


def candidate_record(candidate: m.LookupCandidate, symbol: str,
                     asset_class: AssetClass) -> m.RegistryRecord:
    """A candidate shown to the caller of an ambiguous resolve (never written)."""
    ib = candidate.ib
    return m.RegistryRecord(
        symbol=symbol,
        asset_class=asset_class,
        exchange=(ib.primary_exchange or ib.exchange) if ib else "SMART",
        currency=ib.currency if ib else "USD",
        ib=ib,
        webull=candidate.webull,
    )


def error_reply(outcome: Ambiguous | NotFound | Failed, symbol: str,
                asset_class: AssetClass) -> m.RpcError:
    match outcome:
        case Ambiguous(candidates=candidates):
            return m.RpcError(
                reason=RejectReason.AMBIGUOUS_SYMBOL,
                message=f"{symbol} matches {len(candidates)} contracts; nothing was written",
                candidates=[candidate_record(c, symbol, asset_class) for c in candidates],
            )
        case NotFound(message=message):
            return m.RpcError(reason=RejectReason.UNKNOWN_SYMBOL,
                              message=f"{symbol} is not in the registry and the look-up found none: {message}")
        case Failed(reason=reason, message=message):
            return m.RpcError(reason=reason, message=message)
    raise TypeError(f"not an error outcome: {outcome!r}")


def describe(outcome: Outcome) -> str:
    """A short sentence for logs."""
    match outcome:
        case Unique(values=values):
            return f"unique: {len(values)} fields"
        case Ambiguous(candidates=candidates):
            return f"ambiguous: {len(candidates)} candidates"
        case NotFound(message=message) | Failed(message=message):
            return message
    return type(outcome).__name__
