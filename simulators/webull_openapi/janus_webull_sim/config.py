"""Simulator configuration: credentials, accounts, the instrument catalogue, timing.

Defaults give a usable simulator with no file; ``--config FILE`` (TOML) overrides any field.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class InstrumentConfig:
    symbol: str
    instrument_id: str
    name: str
    exchange_code: str
    price: str  # starting last price, a decimal string on the 0.01 grid
    shortable: bool = True
    currency: str = "USD"


@dataclass(frozen=True)
class AccountConfig:
    account_id: str
    account_number: str
    cash: str = "1000000.00"
    user_id: str = "SIMUSER0001"
    account_type: str = "MARGIN"
    account_class: str = "INDIVIDUAL_MARGIN"
    account_label: str = "Simulated margin account"


def _stk(symbol: str, iid: str, exch: str, price: str, name: str, shortable: bool = True) -> InstrumentConfig:
    return InstrumentConfig(symbol, iid, name, exch, price, shortable)


# The IB simulator's US equities (same starting prices), under Webull's ticker spelling.
DEFAULT_INSTRUMENTS: tuple[InstrumentConfig, ...] = (
    _stk("AAPL", "913256135", "NAS", "190.00", "Apple Inc"),
    _stk("MSFT", "913323997", "NAS", "420.00", "Microsoft Corp"),
    _stk("SPY", "913243251", "ARCA", "560.00", "SPDR S&P 500 ETF Trust"),
    _stk("QQQ", "913243250", "NAS", "480.00", "Invesco QQQ Trust"),
    _stk("TSLA", "913255598", "NAS", "250.00", "Tesla Inc", shortable=False),
    _stk("NVDA", "913257561", "NAS", "130.00", "NVIDIA Corp"),
    _stk("AMZN", "913256180", "NAS", "185.00", "Amazon.com Inc"),
    _stk("GOOGL", "913303928", "NAS", "165.00", "Alphabet Inc Class A"),
    _stk("META", "913303964", "NAS", "500.00", "Meta Platforms Inc"),
    _stk("IBM", "913254235", "NYSE", "210.00", "International Business Machines"),
    _stk("JPM", "913254999", "NYSE", "200.00", "JPMorgan Chase & Co"),
    _stk("BRK.B", "913254558", "NYSE", "450.00", "Berkshire Hathaway Inc Class B"),
    _stk("SHOP", "913430515", "NYSE", "75.00", "Shopify Inc", shortable=False),
)


@dataclass(frozen=True)
class SimConfig:
    app_key: str = "sim-app-key"
    app_secret: str = "sim-app-secret"
    accounts: tuple[AccountConfig, ...] = (AccountConfig("SIMWB0001", "5MV00001"),)
    instruments: tuple[InstrumentConfig, ...] = DEFAULT_INSTRUMENTS
    # Matching and price moves happen once per tick.
    tick_interval: float = 0.5
    # Standard deviation of one tick's price move, in 0.01 ticks.
    volatility_ticks: float = 2.0
    # Shares one order can take per tick: larger orders fill in parts.
    fill_chunk: int = 100
    ping_interval: float = 10.0
    timestamp_tolerance: float = 300.0
    token_check_enabled: bool = False
    # How many /auth/tokens/check calls answer PENDING before NORMAL (0: created NORMAL).
    token_pending_checks: int = 0
    token_ttl_seconds: int = 15 * 24 * 3600

    def with_overrides(self, **kw: Any) -> SimConfig:
        return replace(self, **kw)

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> SimConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        kw = dict(data)
        if "accounts" in kw:
            kw["accounts"] = tuple(AccountConfig(**a) for a in kw["accounts"])
        if "instruments" in kw:
            kw["instruments"] = tuple(InstrumentConfig(**i) for i in kw["instruments"])
        return cls(**kw)

    @classmethod
    def from_file(cls, path: str | Path) -> SimConfig:
        with open(path, "rb") as fh:
            return cls.from_mapping(tomllib.load(fh))

    def instrument(self, symbol: str) -> InstrumentConfig | None:
        return next((i for i in self.instruments if i.symbol == symbol), None)


__all__ = ["AccountConfig", "InstrumentConfig", "SimConfig", "DEFAULT_INSTRUMENTS"]
