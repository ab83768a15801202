"""Broker-side descriptions of an instrument, as the registry stores them."""

from __future__ import annotations

import msgspec

from ..symbols import AssetClass

__all__ = [
    "IbContract",
    "RegistryRecord",
    "WebullInstrument",
]



class IbContract(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What IB needs to identify a contract. ``con_id`` alone suffices once known."""

    symbol: str
    sec_type: str  # STK, FUT, OPT, CASH, CRYPTO
    exchange: str = "SMART"
    primary_exchange: str | None = None
    currency: str = "USD"
    con_id: int | None = None
    contract_month: str | None = None  # YYYYMM
    last_trade_date: str | None = None  # YYYYMMDD, the real one
    multiplier: float | None = None
    trading_class: str | None = None
    local_symbol: str | None = None
    strike: float | None = None
    right: str | None = None


class WebullInstrument(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    symbol: str
    market: str = "US"
    category: str = "US_STOCK"
    instrument_id: str | None = None


class RegistryRecord(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One row of the symbol registry: the canonical symbol and each broker's fields."""

    symbol: str
    asset_class: AssetClass
    exchange: str = "SMART"
    currency: str = "USD"
    ib: IbContract | None = None
    webull: WebullInstrument | None = None
    # field name -> who wrote it (config, lookup, holdings, harmony)
    written_by: dict[str, str] = {}
    updated_at: int | None = None  # ns since the epoch
