"""Canonical symbols: the one symbol vocabulary clients and services share.

Pure code, no IO. String forms (DESIGN.md "Canonical symbols"):

* EQUITY  ``AAPL``, class shares ``BRK.B``
* FUTURE  ``ROOT.YYMM`` — ``NQ.2603`` is the March 2026 contract month
* OPTION  ``ROOT.YYMMDD.C|P.STRIKE`` — ``NQ.260320.C.15000``, strikes may carry decimals
* FOREX   ``BASE.QUOTE`` — ``EUR.USD``
* CRYPTO  ``BASE.QUOTE`` — ``BTC.USD`` (same shape as FOREX: the asset class decides)

``parse`` and ``format_symbol`` are exact inverses on canonical strings. Where a string alone
is ambiguous (``EUR.USD`` could be FOREX or CRYPTO) the caller's asset class decides; without
one, the rules in :func:`infer_asset_class` apply. Inside NATS subjects a symbol is written
with ``.`` replaced by ``~`` because ``.`` separates subject tokens.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum

import msgspec


class AssetClass(StrEnum):
    EQUITY = "EQUITY"
    FOREX = "FOREX"
    FUTURE = "FUTURE"
    OPTION = "OPTION"
    CRYPTO = "CRYPTO"


class Right(StrEnum):
    CALL = "C"
    PUT = "P"


class SymbolError(ValueError):
    """A string that is not a canonical symbol (or token). Names the input and what was expected."""

    def __init__(self, text: object, expected: str) -> None:
        self.text = text
        self.expected = expected
        super().__init__(f"bad symbol {text!r}: expected {expected}")


DEFAULT_EXCHANGE: dict[AssetClass, str] = {
    AssetClass.EQUITY: "SMART",
    AssetClass.OPTION: "SMART",
    AssetClass.FUTURE: "CME",
    AssetClass.FOREX: "IDEALPRO",
    AssetClass.CRYPTO: "PAXOS",
}

_ROOT = r"[A-Z][A-Z0-9]{0,9}"
_EQUITY_RE = re.compile(rf"^({_ROOT})(?:\.([A-Z]))?\Z")
_FUTURE_RE = re.compile(rf"^({_ROOT})\.([0-9]{{2}})([0-9]{{2}})\Z")
_OPTION_RE = re.compile(rf"^({_ROOT})\.([0-9]{{2}})([0-9]{{2}})([0-9]{{2}})\.([CP])\.([0-9]+(?:\.[0-9]+)?)\Z")
_FOREX_RE = re.compile(r"^([A-Z]{3})\.([A-Z]{3})\Z")
_CRYPTO_RE = re.compile(r"^([A-Z0-9]{2,10})\.([A-Z]{3,5})\Z")
_TOKEN_BAD = re.compile(r"[\s.*>]")


class Equity(msgspec.Struct, frozen=True):
    root: str
    share_class: str | None = None


class Future(msgspec.Struct, frozen=True):
    root: str
    year: int  # four digits, 2000-2099
    month: int  # 1-12

    @property
    def contract_month(self) -> str:
        """IB's ``lastTradeDateOrContractMonth`` for a month: ``YYYYMM``."""
        return f"{self.year:04d}{self.month:02d}"


class Option(msgspec.Struct, frozen=True):
    root: str
    expiry: date
    right: Right
    strike: Decimal


class Pair(msgspec.Struct, frozen=True):
    base: str
    quote: str


Parsed = Equity | Future | Option | Pair


class CanonicalSymbol(msgspec.Struct, frozen=True):
    """The registry's key: the canonical string plus what Janus needs to know about it."""

    symbol: str
    asset_class: AssetClass
    exchange: str = "SMART"
    currency: str = "USD"


def _strike_text(strike: Decimal) -> str:
    # Canonical strike: plain decimal notation, no exponent, no trailing fractional zeros.
    text = format(strike, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _parse_strike(text: str, whole: str) -> Decimal:
    try:
        strike = Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the regex already admits digits only
        raise SymbolError(whole, "a decimal strike") from exc
    if strike <= 0:
        raise SymbolError(whole, "a positive strike")
    return strike


def _year(yy: str) -> int:
    return 2000 + int(yy)


def infer_asset_class(text: str) -> AssetClass:
    """The asset class a string names when the caller gives none."""
    if _OPTION_RE.match(text):
        return AssetClass.OPTION
    if _FUTURE_RE.match(text):
        return AssetClass.FUTURE
    if _EQUITY_RE.match(text):
        return AssetClass.EQUITY
    if _FOREX_RE.match(text):
        return AssetClass.FOREX
    if _CRYPTO_RE.match(text):
        return AssetClass.CRYPTO
    raise SymbolError(
        text,
        "AAPL, BRK.B, ROOT.YYMM (future), ROOT.YYMMDD.C|P.STRIKE (option), "
        "EUR.USD (forex) or BTC.USD (crypto)",
    )


def parse(text: str, asset_class: AssetClass | str | None = None) -> Parsed:
    """Parse a canonical string. Raises :class:`SymbolError` naming the input on failure."""
    if not isinstance(text, str):
        raise SymbolError(text, "a string")
    cls = AssetClass(asset_class) if asset_class is not None else infer_asset_class(text)
    if cls is AssetClass.EQUITY:
        m = _EQUITY_RE.match(text)
        if not m:
            raise SymbolError(text, "an equity like AAPL or BRK.B (uppercase, class share one letter)")
        return Equity(m.group(1), m.group(2))
    if cls is AssetClass.FUTURE:
        m = _FUTURE_RE.match(text)
        if not m:
            raise SymbolError(text, "a future ROOT.YYMM like NQ.2603")
        month = int(m.group(3))
        if not 1 <= month <= 12:
            raise SymbolError(text, "a future month 01-12 in ROOT.YYMM")
        return Future(m.group(1), _year(m.group(2)), month)
    if cls is AssetClass.OPTION:
        m = _OPTION_RE.match(text)
        if not m:
            raise SymbolError(text, "an option ROOT.YYMMDD.C|P.STRIKE like NQ.260320.C.15000")
        try:
            expiry = date(_year(m.group(2)), int(m.group(3)), int(m.group(4)))
        except ValueError as exc:
            raise SymbolError(text, "a real calendar date in ROOT.YYMMDD") from exc
        return Option(m.group(1), expiry, Right(m.group(5)), _parse_strike(m.group(6), text))
    if cls is AssetClass.FOREX:
        m = _FOREX_RE.match(text)
        if not m:
            raise SymbolError(text, "a forex pair BASE.QUOTE like EUR.USD")
        return Pair(m.group(1), m.group(2))
    m = _CRYPTO_RE.match(text)
    if not m:
        raise SymbolError(text, "a crypto pair BASE.QUOTE like BTC.USD")
    return Pair(m.group(1), m.group(2))


def format_symbol(parsed: Parsed) -> str:
    """The canonical string of a parsed symbol; the inverse of :func:`parse`."""
    match parsed:
        case Equity(root, None):
            return root
        case Equity(root, share_class):
            return f"{root}.{share_class}"
        case Future(root, year, month):
            return f"{root}.{year % 100:02d}{month:02d}"
        case Option(root, expiry, right, strike):
            return f"{root}.{expiry:%y%m%d}.{Right(right).value}.{_strike_text(strike)}"
        case Pair(base, quote):
            return f"{base}.{quote}"
    raise TypeError(f"not a parsed symbol: {parsed!r}")


def normalize(text: str, asset_class: AssetClass | str | None = None) -> str:
    """Canonical form of a user's string: upper-cased, surrounding blanks dropped, strike tidied."""
    if not isinstance(text, str):
        raise SymbolError(text, "a string")
    return format_symbol(parse(text.strip().upper(), asset_class))


def canonical(
    text: str,
    asset_class: AssetClass | str | None = None,
    *,
    exchange: str | None = None,
    currency: str | None = None,
) -> CanonicalSymbol:
    """A :class:`CanonicalSymbol` with defaults: SMART/CME/… exchange, USD or the pair's quote."""
    cls = AssetClass(asset_class) if asset_class is not None else infer_asset_class(text.strip().upper())
    parsed = parse(text.strip().upper(), cls)
    if currency is None:
        currency = parsed.quote if isinstance(parsed, Pair) else "USD"
    return CanonicalSymbol(
        symbol=format_symbol(parsed),
        asset_class=cls,
        exchange=exchange or DEFAULT_EXCHANGE[cls],
        currency=currency,
    )


def to_token(symbol: str) -> str:
    """A symbol as one NATS subject token (``NQ.2603`` → ``NQ~2603``)."""
    if not isinstance(symbol, str) or not symbol or "~" in symbol:
        raise SymbolError(symbol, "a non-empty symbol without '~'")
    token = symbol.replace(".", "~")
    if _TOKEN_BAD.search(token):
        raise SymbolError(symbol, "no whitespace, '*' or '>' (NATS subject token rules)")
    return token


def from_token(token: str) -> str:
    """The symbol a subject token carries (``NQ~2603`` → ``NQ.2603``)."""
    if not isinstance(token, str) or not token or _TOKEN_BAD.search(token):
        raise SymbolError(token, "one NATS subject token (no '.', whitespace, '*' or '>')")
    return token.replace("~", ".")


def is_subject_token(token: str) -> bool:
    """True when ``token`` is legal as one token of a NATS subject."""
    return bool(token) and not _TOKEN_BAD.search(token)
