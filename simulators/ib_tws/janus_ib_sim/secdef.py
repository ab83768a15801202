"""Reference look-ups over the catalogue: symbol search (reqMatchingSymbols) and option chain
parameters (reqSecDefOptParams). Pure."""

from __future__ import annotations

from dataclasses import dataclass

from .catalogue import Spec

MAX_MATCHES = 16  # IB answers at most this many descriptions
UNDERLYING_TYPES = ("STK", "IND", "FUT", "CASH")
DERIVATIVE_TYPES = {"OPT": "OPT", "FOP": "FOP", "FUT": "FUT", "WAR": "WAR"}


@dataclass(frozen=True)
class Description:
    spec: Spec
    derivative_sec_types: tuple[str, ...]


def _rank(spec: Spec, pattern: str) -> int | None:
    """0 exact symbol, 1 symbol prefix, 2 a word of the long name starts with it, None no match."""
    symbol = spec.symbol.upper()
    if symbol == pattern or spec.local_symbol.upper() == pattern:
        return 0
    if symbol.startswith(pattern) or spec.local_symbol.upper().replace(".", "").startswith(pattern):
        return 1
    words = spec.long_name.upper().replace("-", " ").replace(",", " ").split()
    return 2 if any(w.startswith(pattern) for w in words) else None


def matching_symbols(catalogue: tuple[Spec, ...], pattern: str) -> list[Description]:
    """Underlyings whose symbol starts with the pattern, or one of whose name words does, best
    first; each with the derivative types listed on it. No match: an empty list (as IB)."""
    wanted = pattern.strip().upper()
    if not wanted:
        return []
    ranked = []
    for i, spec in enumerate(catalogue):
        if spec.sec_type not in UNDERLYING_TYPES:
            continue
        rank = _rank(spec, wanted)
        if rank is not None:
            ranked.append((rank, i, spec))
    ranked.sort(key=lambda r: (r[0], r[1]))
    out = []
    for _, _, spec in ranked[:MAX_MATCHES]:
        types = sorted({s.sec_type for s in catalogue if s.symbol == spec.symbol and s.sec_type in DERIVATIVE_TYPES
                        and s.con_id != spec.con_id and spec.sec_type == "STK"})
        out.append(Description(spec, tuple(types)))
    return out


@dataclass(frozen=True)
class Chain:
    exchange: str
    underlying_con_id: int
    trading_class: str
    multiplier: str
    expirations: tuple[str, ...]
    strikes: tuple[float, ...]


def option_chains(catalogue: tuple[Spec, ...], symbol: str, exchange: str, underlying_sec_type: str,
                  underlying_con_id: int) -> list[Chain]:
    """One chain per (exchange, trading class) of the options listed on the underlying, as IB
    answers: a FUT underlying has FOP chains, anything else OPT chains. An unknown underlying,
    or a conId that is not the symbol's, has none."""
    underlying = [s for s in catalogue if s.symbol == symbol.upper() and s.sec_type == (underlying_sec_type or "STK")
                  and (not underlying_con_id or s.con_id == underlying_con_id)]
    if not underlying:
        return []
    con_id = underlying_con_id or underlying[0].con_id
    kind = "FOP" if underlying_sec_type == "FUT" else "OPT"
    options = [s for s in catalogue if s.sec_type == kind and s.symbol == symbol.upper()]
    chains: dict[tuple[str, str, str], tuple[set[str], set[float]]] = {}
    for opt in options:
        for venue in opt.valid_exchanges:
            if exchange and venue != exchange:
                continue
            expirations, strikes = chains.setdefault((venue, opt.trading_class, opt.multiplier), (set(), set()))
            expirations.add(opt.last_trade_date)
            strikes.add(opt.strike)
    return [Chain(venue, con_id, tc, mult, tuple(sorted(exp)), tuple(sorted(strikes)))
            for (venue, tc, mult), (exp, strikes) in sorted(chains.items())]
