"""Canonical symbols: exhaustive properties (≥ 1,000 examples each) and the documented forms."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from contract_months import front, option_expiry, option_symbol
from janus_common.symbols import (
    AssetClass,
    Equity,
    Future,
    Option,
    Pair,
    Right,
    SymbolError,
    canonical,
    format_symbol,
    from_token,
    infer_asset_class,
    is_subject_token,
    normalize,
    parse,
    to_token,
)

# Live months, whatever today is; malformed ones (month 13, 30 February) stay literal below.
NQ = front("NQ")
EXPIRY = date.fromisoformat(f"{option_expiry()[:4]}-{option_expiry()[4:6]}-{option_expiry()[6:]}")

MANY = settings(max_examples=1000, deadline=None)

roots = st.from_regex(r"[A-Z][A-Z0-9]{0,9}", fullmatch=True)
strikes = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("999999"), places=3,
                      allow_nan=False, allow_infinity=False).map(lambda d: d.normalize())

equities = st.builds(Equity, roots, st.one_of(st.none(), st.from_regex(r"[A-Z]", fullmatch=True)))
futures = st.builds(Future, roots, st.integers(2000, 2099), st.integers(1, 12))
options = st.builds(Option, roots, st.dates(date(2000, 1, 1), date(2099, 12, 31)),
                    st.sampled_from(list(Right)), strikes)
fx = st.builds(Pair, st.from_regex(r"[A-Z]{3}", fullmatch=True), st.from_regex(r"[A-Z]{3}", fullmatch=True))
crypto = st.builds(Pair, st.from_regex(r"[A-Z0-9]{2,10}", fullmatch=True),
                   st.from_regex(r"[A-Z]{3,5}", fullmatch=True))

parsed_with_class = st.one_of(
    st.tuples(equities, st.just(AssetClass.EQUITY)),
    st.tuples(futures, st.just(AssetClass.FUTURE)),
    st.tuples(options, st.just(AssetClass.OPTION)),
    st.tuples(fx, st.just(AssetClass.FOREX)),
    st.tuples(crypto, st.just(AssetClass.CRYPTO)),
)

# The NATS rule, written independently of the code under test: a token is non-empty and has
# no '.', no whitespace, and (for publishing) no wildcard '*' or '>'.
NATS_TOKEN = re.compile(r"[^.\s*>]+")


@MANY
@given(parsed_with_class)
def test_parse_of_format_is_identity(item):
    parsed, cls = item
    text = format_symbol(parsed)
    assert parse(text, cls) == parsed
    assert format_symbol(parse(text, cls)) == text


@MANY
@given(parsed_with_class)
def test_every_symbol_token_is_a_legal_nats_token_and_round_trips(item):
    parsed, _ = item
    text = format_symbol(parsed)
    token = to_token(text)
    assert NATS_TOKEN.fullmatch(token)
    assert is_subject_token(token)
    assert from_token(token) == text


@MANY
@given(st.text(max_size=30))
@example("NQ.2613")
@example("AAPL..B")
@example(front("NQ").canonical.lower())
@example("NQ.260230.C.100")
def test_arbitrary_text_parses_canonically_or_raises_symbol_error(text):
    try:
        parsed = parse(text)
    except SymbolError as exc:
        assert exc.text == text and exc.expected
        assert repr(text) in str(exc)
        return
    assert format_symbol(parse(format_symbol(parsed))) == format_symbol(parsed)


@MANY
@given(st.text(max_size=20))
def test_from_token_rejects_what_is_not_one_token(token):
    if NATS_TOKEN.fullmatch(token):
        symbol = from_token(token)
        assert "." not in token and symbol.count(".") == token.count("~")
    else:
        with pytest.raises(SymbolError):
            from_token(token)


@pytest.mark.parametrize(
    ("text", "cls", "parsed"),
    [
        ("AAPL", AssetClass.EQUITY, Equity("AAPL")),
        ("BRK.B", AssetClass.EQUITY, Equity("BRK", "B")),
        (NQ.canonical, AssetClass.FUTURE, Future("NQ", NQ.year, NQ.month)),
        (option_symbol("NQ", "C", "15000"), AssetClass.OPTION, Option("NQ", EXPIRY, Right.CALL, Decimal(15000))),
        (option_symbol("SPY", "P", "432.5"), AssetClass.OPTION, Option("SPY", EXPIRY, Right.PUT, Decimal("432.5"))),
        ("EUR.USD", AssetClass.FOREX, Pair("EUR", "USD")),
    ],
)
def test_documented_forms(text, cls, parsed):
    assert infer_asset_class(text) is cls
    assert parse(text) == parsed
    assert format_symbol(parsed) == text


def test_asset_class_decides_an_ambiguous_pair():
    assert parse("BTC.USD") == Pair("BTC", "USD")
    assert canonical("BTC.USD", AssetClass.CRYPTO).asset_class is AssetClass.CRYPTO
    assert canonical("BTC.USD").asset_class is AssetClass.FOREX
    assert canonical("btc.usd", "CRYPTO").currency == "USD"


def test_canonical_defaults():
    aapl = canonical(" aapl ")
    assert (aapl.symbol, aapl.asset_class, aapl.exchange, aapl.currency) == ("AAPL", "EQUITY", "SMART", "USD")
    assert canonical(NQ.canonical).exchange == "CME"
    assert canonical("EUR.JPY").currency == "JPY"


def test_normalize_tidies_strikes_and_case():
    assert normalize(option_symbol("nq", "c", "15000.50")) == option_symbol("NQ", "C", "15000.5")


@pytest.mark.parametrize(
    ("text", "cls", "expected_fragment"),
    [
        ("NQ.2613", AssetClass.FUTURE, "month 01-12"),
        ("NQ.260231.C.1", AssetClass.OPTION, "calendar date"),
        (option_symbol("NQ", "C", "0"), AssetClass.OPTION, "positive strike"),
        ("aapl", None, "AAPL, BRK.B"),
        ("AAPL", AssetClass.FUTURE, "ROOT.YYMM"),
        ("", None, "AAPL"),
    ],
)
def test_bad_strings_name_the_input_and_what_was_expected(text, cls, expected_fragment):
    with pytest.raises(SymbolError) as info:
        parse(text, cls)
    assert info.value.text == text
    assert expected_fragment in str(info.value)


def test_non_string_is_a_symbol_error():
    with pytest.raises(SymbolError):
        parse(42)  # type: ignore[arg-type]
    with pytest.raises(SymbolError):
        to_token("")
