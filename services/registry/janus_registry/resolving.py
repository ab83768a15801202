"""What a resolve request asks and what its reply holds. Pure code, no IO."""

from __future__ import annotations

import msgspec

from janus_common import messages as m
from janus_common.messages import Broker, RejectReason
from janus_common.symbols import AssetClass, CanonicalSymbol, SymbolError, canonical

from .model import Entry, to_record


class Target(msgspec.Struct, frozen=True):
    key: CanonicalSymbol
    broker: Broker | None
    class_given: bool  # the caller named the asset class (else it was inferred)


def target(request: m.ResolveRequest) -> Target | m.RpcError:
    try:
        key = canonical(request.symbol, request.asset_class)
    except (SymbolError, ValueError) as exc:
        return m.RpcError(reason=RejectReason.INVALID_SYMBOL, message=str(exc))
    if key.asset_class is AssetClass.OPTION:
        return m.RpcError(reason=RejectReason.INVALID_SYMBOL,
                          message=f"{key.symbol}: options are display only and not in the registry")
    return Target(key, request.broker, request.asset_class is not None)


def by_ticker(t: Target) -> bool:
    """Webull needs only the ticker: a Webull-only resolve of an equity needs no row."""
    return t.broker is Broker.WEBULL and t.key.asset_class is AssetClass.EQUITY


def ticker_record(key: CanonicalSymbol) -> m.RegistryRecord:
    return m.RegistryRecord(symbol=key.symbol, asset_class=key.asset_class, exchange=key.exchange,
                            currency=key.currency, webull=m.WebullInstrument(symbol=key.symbol))


def needs_ib(entry: Entry, t: Target) -> bool:
    """An IB resolve of a row without its IB half (say a Webull-only mapping) is a miss."""
    return t.broker is Broker.IB and not (entry.has("ib.symbol") and entry.has("ib.sec_type"))


def conflict(entry: Entry, t: Target) -> m.RpcError | None:
    if t.class_given and entry.asset_class is not t.key.asset_class:
        return m.RpcError(reason=RejectReason.INVALID_SYMBOL,
                          message=f"{t.key.symbol} is registered as {entry.asset_class}, "
                                  f"not {t.key.asset_class}")
    return None


def reply_record(entry: Entry, broker: Broker | None) -> m.RegistryRecord:
    record = to_record(entry)
    if broker is Broker.WEBULL and record.webull is None and entry.asset_class is AssetClass.EQUITY:
        record = msgspec.structs.replace(record, webull=m.WebullInstrument(symbol=entry.symbol))
    return record
