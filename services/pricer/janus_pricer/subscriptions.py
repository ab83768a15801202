"""Which symbols the market-data account should stream for the pricer. Pure.

``wanted`` comes from the holdings (and clients' requests); ``active`` is what the market-data
gateway confirmed. The pricer asks for the difference and drops what nobody needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from janus_common.messages import MarketDataSubscribed


@dataclass(frozen=True)
class Plan:
    subscribe: tuple[str, ...]
    unsubscribe: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.subscribe or self.unsubscribe)


def wanted(held: Iterable[str], requested: Mapping[str, Iterable[str]]) -> frozenset[str]:
    """Held symbols plus every client's requested ones."""
    out = set(held)
    for symbols in requested.values():
        out.update(symbols)
    return frozenset(out)


def plan(wanted: frozenset[str], active: frozenset[str]) -> Plan:
    return Plan(subscribe=tuple(sorted(wanted - active)),
                unsubscribe=tuple(sorted(active - wanted)))


def after_subscribe(active: frozenset[str], reply: MarketDataSubscribed) -> frozenset[str]:
    return active | frozenset(reply.subscribed)


def after_unsubscribe(active: frozenset[str], symbols: Iterable[str]) -> frozenset[str]:
    return active - frozenset(symbols)
