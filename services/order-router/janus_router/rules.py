"""What the router knows about brokers and accounts: capability tables and per-account rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from janus_common.config import AccountConfig, RiskConfig
from janus_common.messages import Broker, OrderType, Tif

ALL_TYPES = frozenset(OrderType)


@dataclass(frozen=True)
class BrokerCaps:
    order_types: frozenset[OrderType]
    tifs: frozenset[Tif]
    # Webull sells short with an explicit SHORT side; IB takes one SELL whatever the position.
    explicit_short: bool


CAPABILITIES: Mapping[Broker, BrokerCaps] = {
    Broker.IB: BrokerCaps(ALL_TYPES, frozenset({Tif.DAY, Tif.GTC, Tif.IOC}), explicit_short=False),
    Broker.WEBULL: BrokerCaps(ALL_TYPES, frozenset({Tif.DAY, Tif.GTC}), explicit_short=True),
    # Janus's own paper book (janus-paper-gateway): one SELL whatever the position, like IB.
    Broker.PAPER: BrokerCaps(ALL_TYPES, frozenset({Tif.DAY, Tif.GTC, Tif.IOC}), explicit_short=False),
}


@dataclass(frozen=True)
class AccountRules:
    account: str
    broker: Broker
    allow_short: bool = False
    locate_required: bool = False
    fallback: Mapping[OrderType, OrderType] = field(default_factory=dict)
    order_types: frozenset[OrderType] | None = None
    risk: RiskConfig = RiskConfig()

    def caps(self, table: Mapping[Broker, BrokerCaps] = CAPABILITIES) -> BrokerCaps:
        """The broker's capabilities, narrowed by the account's own restriction if any."""
        caps = table[self.broker]
        if self.order_types is None:
            return caps
        return BrokerCaps(caps.order_types & self.order_types, caps.tifs, caps.explicit_short)

    @classmethod
    def from_config(cls, alias: str, account: AccountConfig) -> "AccountRules":
        return cls(alias, account.broker, account.allow_short, account.locate_required,
                   dict(account.order_type_fallback),
                   frozenset(account.order_types) if account.order_types is not None else None,
                   account.risk)
