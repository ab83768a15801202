"""The contracts the simulator lists, and how a request's contract is matched. Pure."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from . import expiries
from .expiries import FutureRoot


@dataclass(frozen=True)
class Spec:
    con_id: int
    symbol: str
    sec_type: str  # STK, FUT, OPT, CASH
    primary_exchange: str
    exchange: str = "SMART"  # what contractData reports as the exchange
    currency: str = "USD"
    local_symbol: str = ""
    trading_class: str = ""
    min_tick: float = 0.01
    multiplier: str = ""
    last_trade_date: str = ""  # YYYYMMDD
    contract_month: str = ""  # YYYYMM
    strike: float = 0.0
    right: str = ""
    long_name: str = ""
    price: float = 100.0  # where the seeded price path starts
    shortable: bool = True
    valid_exchanges: tuple[str, ...] = ("SMART",)

    @property
    def lot(self) -> float:
        """Typical size at the touch: the simulator fills larger orders in parts."""
        if self.sec_type == "CASH":
            return 1_000_000.0  # IDEALPRO quotes in millions of the base currency
        return 5.0 if self.sec_type == "FUT" else (10.0 if self.sec_type == "OPT" else 300.0)


def _stk(con_id: int, symbol: str, primary: str, price: float, name: str, **kw: Any) -> Spec:
    return Spec(con_id, symbol, "STK", primary, local_symbol=symbol, trading_class=kw.pop("tc", symbol),
                long_name=name, price=price, valid_exchanges=("SMART", primary), **kw)


def _fut(root: FutureRoot, year: int, month: int, price: float) -> Spec:
    last = expiries.last_trade(root, year, month)
    return Spec(expiries.future_con_id(root, year, month), root.root, "FUT", root.exchange, exchange=root.exchange,
                local_symbol=expiries.local_symbol(root.root, year, month), trading_class=root.root,
                min_tick=root.min_tick, multiplier=root.multiplier, last_trade_date=last.strftime("%Y%m%d"),
                contract_month=f"{year}{month:02d}", long_name=f"{root.name} {year}{month:02d}",
                price=price, valid_exchanges=(root.exchange,))


def _opt(underlying: Spec, expiry: date, right: str, strike: float) -> Spec:
    yymmdd = expiry.strftime("%y%m%d")
    local = f"{underlying.symbol:<6}{yymmdd}{right}{int(round(strike * 1000)):08d}"
    intrinsic = max(underlying.price - strike, 0.0) if right == "C" else max(strike - underlying.price, 0.0)
    return Spec(expiries.option_con_id(expiry, strike, right), underlying.symbol, "OPT", "CBOE", local_symbol=local,
                trading_class=underlying.symbol, multiplier="100", last_trade_date=expiry.strftime("%Y%m%d"),
                contract_month=expiry.strftime("%Y%m"), strike=strike, right=right, long_name=underlying.long_name,
                price=round(intrinsic + 4.0, 2), valid_exchanges=("SMART", "CBOE"))


def _fx(con_id: int, base: str, quote: str, price: float, name: str, tick: float = 0.00005) -> Spec:
    """An IDEALPRO pair as IB lists it: symbol = base currency, currency = quote currency,
    local symbol ``EUR.USD``; the min tick is IB's (half a pip; 0.005 for yen pairs)."""
    pair = f"{base}.{quote}"
    return Spec(con_id, base, "CASH", "IDEALPRO", exchange="IDEALPRO", currency=quote, local_symbol=pair,
                trading_class=pair, min_tick=tick, long_name=name, price=price, valid_exchanges=("IDEALPRO",))


STATIC_CATALOGUE: tuple[Spec, ...] = (
    _stk(265598, "AAPL", "NASDAQ", 190.00, "APPLE INC"),
    _stk(272093, "MSFT", "NASDAQ", 420.00, "MICROSOFT CORP"),
    _stk(756733, "SPY", "ARCA", 560.00, "SPDR S&P 500 ETF TRUST"),
    _stk(320227571, "QQQ", "NASDAQ", 480.00, "INVESCO QQQ TRUST SERIES 1"),
    _stk(76792991, "TSLA", "NASDAQ", 250.00, "TESLA INC", shortable=False),
    _stk(4815747, "NVDA", "NASDAQ", 130.00, "NVIDIA CORP"),
    _stk(3691937, "AMZN", "NASDAQ", 185.00, "AMAZON.COM INC"),
    _stk(208813719, "GOOGL", "NASDAQ", 165.00, "ALPHABET INC-CL A"),
    _stk(107113386, "META", "NASDAQ", 500.00, "META PLATFORMS INC-CLASS A"),
    _stk(8314, "IBM", "NYSE", 210.00, "INTL BUSINESS MACHINES CORP"),
    _stk(1520593, "JPM", "NYSE", 200.00, "JPMORGAN CHASE & CO"),
    _stk(72063691, "BRK B", "NYSE", 450.00, "BERKSHIRE HATHAWAY INC-CL B", tc="BRK B"),
    # Listed twice: an unfiltered look-up of SHOP is ambiguous, US + SMART + USD is unique.
    _stk(195014116, "SHOP", "NYSE", 75.00, "SHOPIFY INC - CLASS A"),
    _stk(195014117, "SHOP", "TSE", 103.00, "SHOPIFY INC - CLASS A", currency="CAD"),
    # A made-up ticker with two US listings in USD: ambiguous even under the default filter.
    _stk(900001, "DUAL", "NYSE", 40.00, "DUAL LISTED CORP (SIMULATED)"),
    _stk(900002, "DUAL", "NASDAQ", 40.00, "DUAL LISTED CORP (SIMULATED)"),
    # The majors on IDEALPRO, with IB's conIds.
    _fx(12087792, "EUR", "USD", 1.08, "European Monetary Union Euro"),
    _fx(12087797, "GBP", "USD", 1.27, "British pound"),
    _fx(15016059, "USD", "JPY", 150.0, "US dollar", tick=0.005),
    _fx(14433401, "AUD", "USD", 0.66, "Australian dollar"),
    _fx(15016062, "USD", "CAD", 1.36, "US dollar"),
    _fx(12087820, "USD", "CHF", 0.88, "US dollar"),
)

FUTURES_LISTED = 4  # quarterly expiries of ES/NQ listed at once (CL: this many + 2 monthly ones)
OPTION_STRIKES = (170.0, 180.0, 190.0, 200.0, 210.0, 220.0)


def calendar(today: date) -> tuple[Spec, ...]:
    """The futures and options listed on ``today`` (see ``expiries``)."""
    out: list[Spec] = []
    for root in expiries.FUTURE_ROOTS:
        months = expiries.live_months(root, today, FUTURES_LISTED + (2 if root.monthly else 0))
        for i, (year, month) in enumerate(months):
            out.append(_fut(root, year, month, root.price + i * root.step))
    aapl = STATIC_CATALOGUE[0]
    for offset in (0, 1):
        expiry = expiries.option_expiry(today, offset)
        out.extend(_opt(aapl, expiry, right, strike) for strike in OPTION_STRIKES for right in ("C", "P"))
    return tuple(out)


def listed(static: tuple[Spec, ...], today: date, *, generate: bool = True) -> tuple[Spec, ...]:
    """What a TWS lists on ``today``: the static contracts not yet expired, plus the calendar.
    An expired contract is not listed, so a request for it answers 200 as IB does."""
    stamp = today.strftime("%Y%m%d")
    specs = static + (calendar(today) if generate else ())
    return tuple(s for s in specs if not s.last_trade_date or s.last_trade_date >= stamp)


@dataclass(frozen=True)
class Query:
    """The contract fields a client sent (the 12 fields of a Contract on the wire)."""

    con_id: int = 0
    symbol: str = ""
    sec_type: str = ""
    last_trade: str = ""
    strike: float = 0.0
    right: str = ""
    multiplier: str = ""
    exchange: str = ""
    primary_exchange: str = ""
    currency: str = ""
    local_symbol: str = ""
    trading_class: str = ""


EXCHANGE_REQUIRED = "Error validating request.-'bW' : cause - Please enter exchange"
# What IB Gateway answers to an order without one (its own wording for placeOrder).
ORDER_EXCHANGE_REQUIRED = "Error validating request.-'bF' : cause - Missing order exchange"


def lacks_exchange(q: Query) -> bool:
    """A contract IB cannot route or price: no conId and no exchange. Market data, history and
    orders refuse it with 321 (EXCHANGE_REQUIRED); contract details search without one, as IB's do."""
    return not q.con_id and not q.exchange.strip()


def _same_right(a: str, b: str) -> bool:
    return a[:1].upper() == b[:1].upper()


def _same_expiry(spec: Spec, asked: str) -> bool:
    """IB reads YYYYMM as the contract month and YYYYMMDD as the last trading day (CL's
    February contract stops trading in January: a month prefix of the date would be ambiguous)."""
    if len(asked) == 6:
        return spec.contract_month == asked
    return spec.last_trade_date == asked[:8]


def _exchange_ok(spec: Spec, exchange: str) -> bool:
    if not exchange:
        return True
    if exchange == "GLOBEX":  # CME's electronic venue: same contracts as CME for our futures
        exchange = "CME"
    return exchange in spec.valid_exchanges or exchange == spec.exchange


def match(catalogue: tuple[Spec, ...], q: Query) -> list[Spec]:
    """Every listed contract the query describes; several = ambiguous, none = error 200."""
    if q.con_id:
        return [s for s in catalogue if s.con_id == q.con_id]
    found = []
    for s in catalogue:
        if q.symbol and s.symbol != q.symbol.upper() and s.local_symbol != q.symbol.upper():
            continue
        if not q.symbol and not q.local_symbol:
            continue
        if q.sec_type and s.sec_type != q.sec_type:
            continue
        if not _exchange_ok(s, q.exchange):
            continue
        if q.primary_exchange and s.primary_exchange != q.primary_exchange:
            continue
        if q.currency and s.currency != q.currency:
            continue
        if q.last_trade and not _same_expiry(s, q.last_trade):
            continue
        if q.strike and abs(s.strike - q.strike) > 1e-9:
            continue
        if q.right and not _same_right(s.right, q.right):
            continue
        if q.multiplier and s.multiplier and float(q.multiplier) != float(s.multiplier):
            continue
        if q.local_symbol and s.local_symbol != q.local_symbol:
            continue
        if q.trading_class and s.trading_class != q.trading_class:
            continue
        found.append(s)
    return found


def from_config(raw: list[dict[str, Any]]) -> tuple[Spec, ...]:
    """A catalogue from config entries: Spec field names, unknown keys refused."""
    specs = []
    for i, entry in enumerate(raw):
        try:
            entry = dict(entry)
            if "valid_exchanges" in entry:
                entry["valid_exchanges"] = tuple(entry["valid_exchanges"])
            specs.append(Spec(**entry))
        except TypeError as exc:
            raise ValueError(f"contracts[{i}]: {exc}") from None
    return tuple(specs)


def with_price(spec: Spec, price: float) -> Spec:
    return replace(spec, price=price)


