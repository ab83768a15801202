"""Broker-side descriptions of an instrument, as the registry stores them."""

from __future__ import annotations

import msgspec

from ..symbols import AssetClass
from .base import BrokerRef, Symbol, Word

__all__ = [
    "IbContract",
    "RegistryRecord",
    "WebullInstrument",
]



class IbContract(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What IB needs to identify a contract. ``con_id`` alone suffices once known."""

    symbol: Symbol
    sec_type: Word  # STK, FUT, OPT, CASH, CRYPTO
    exchange: Word = "SMART"
    primary_exchange: Word | None = None
    currency: Word = "USD"
    con_id: int | None = None
    contract_month: Word | None = None  # YYYYMM
    last_trade_date: Word | None = None  # YYYYMMDD, the real one
    multiplier: float | None = None
    trading_class: Word | None = None
    local_symbol: Symbol | None = None
    strike: float | None = None
    right: Word | None = None
    min_tick: float | None = None  # IB contract details minTick: prices must be multiples of it


class WebullInstrument(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    symbol: Symbol
    market: Word = "US"
    category: Word = "US_STOCK"
    instrument_id: BrokerRef | None = None


class RegistryRecord(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One row of the symbol registry: the canonical symbol and each broker's fields."""

    symbol: Symbol
    asset_class: AssetClass
    exchange: Word = "SMART"
    currency: Word = "USD"
    ib: IbContract | None = None
    webull: WebullInstrument | None = None
    # field name -> who wrote it (config, lookup, holdings, harmony)
    written_by: dict[Word, Word] = {}
    updated_at: int | None = None  # ns since the epoch
