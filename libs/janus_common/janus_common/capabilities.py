"""What each broker can do with an order, as data: the router decides from this table (narrowed
per account by its ``order_types:``), and clients read the same table (``janus capabilities``),
so what Janus refuses and what it says it takes cannot drift apart. Pure: no IO."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from .messages import Broker, Capabilities, OrderType, Tif

__all__ = [
    "BracketStyle",
    "BrokerCaps",
    "CAPABILITIES",
    "PRICED_BY",
    "TRAILING",
    "answer",
    "describe",
    "narrowed",
]


class BracketStyle(StrEnum):
    NONE = "NONE"
    NATIVE = "NATIVE"  # the broker holds the exits and cancels the sibling (IB: parentId + OCA)
    MANAGED = "MANAGED"  # Janus's gateway places the exits once the entry fills and cancels the sibling


@dataclass(frozen=True)
class BrokerCaps:
    order_types: frozenset[OrderType]
    tifs: frozenset[Tif]
    # Webull sells short with an explicit SHORT side; IB takes one SELL whatever the position.
    explicit_short: bool
    modify: bool = False  # a working order's quantity and prices can be changed in place
    brackets: BracketStyle = BracketStyle.NONE
    trail_percent: bool = False  # trailing stops by percent as well as by amount
    outside_rth: bool = False


BASIC = frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT})
TRAILING = frozenset({OrderType.TRAILING_STOP, OrderType.TRAILING_STOP_LIMIT})
# Which prices each type is placed with (the router checks them, the gateways map them).
PRICED_BY: Mapping[OrderType, frozenset[str]] = {
    OrderType.MARKET: frozenset(),
    OrderType.LIMIT: frozenset({"limit_price"}),
    OrderType.STOP: frozenset({"stop_price"}),
    OrderType.STOP_LIMIT: frozenset({"limit_price", "stop_price"}),
    OrderType.TRAILING_STOP: frozenset(),
    OrderType.TRAILING_STOP_LIMIT: frozenset({"limit_offset"}),
    OrderType.MARKET_ON_CLOSE: frozenset(),
    OrderType.LIMIT_ON_CLOSE: frozenset({"limit_price"}),
}

CAPABILITIES: Mapping[Broker, BrokerCaps] = {
    Broker.IB: BrokerCaps(frozenset(OrderType), frozenset(Tif), explicit_short=False, modify=True,
                          brackets=BracketStyle.NATIVE, trail_percent=True, outside_rth=True),
    # Webull's OpenAPI: trailing stops (amount or percent), replace, DAY/GTC only, core session only.
    Broker.WEBULL: BrokerCaps(BASIC | {OrderType.TRAILING_STOP}, frozenset({Tif.DAY, Tif.GTC}),
                              explicit_short=True, modify=True, brackets=BracketStyle.MANAGED,
                              trail_percent=True),
    # Janus's own paper book (janus-paper-gateway): one SELL whatever the position, like IB.
    Broker.PAPER: BrokerCaps(BASIC, frozenset({Tif.DAY, Tif.GTC, Tif.IOC}), explicit_short=False),
}


def narrowed(caps: BrokerCaps, order_types: Iterable[OrderType] | None) -> BrokerCaps:
    """The broker's capabilities narrowed by an account's own restriction, if any."""
    if order_types is None:
        return caps
    return BrokerCaps(caps.order_types & frozenset(order_types), caps.tifs, caps.explicit_short, caps.modify,
                      caps.brackets, caps.trail_percent, caps.outside_rth)


def describe(values: Iterable[StrEnum]) -> str:
    """``A, B, C`` in the enum's own order: what an account can do instead, in a refusal."""
    listed = [str(v) for v in values]
    return ", ".join(sorted(listed)) if listed else "none"


def answer(account: str, broker: Broker, caps: BrokerCaps, *, allow_short: bool,
           fallback: Mapping[OrderType, OrderType]) -> Capabilities:
    """The ``janus.rpc.capabilities.<account>`` reply for these capabilities."""
    return Capabilities(account=account, broker=broker, order_types=sorted(caps.order_types),
                        tifs=sorted(caps.tifs), modify=caps.modify, brackets=str(caps.brackets),
                        trail_percent=caps.trail_percent, outside_rth=caps.outside_rth,
                        explicit_short=caps.explicit_short, allow_short=allow_short, fallback=dict(fallback))
