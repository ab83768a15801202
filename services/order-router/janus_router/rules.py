"""What the router knows about accounts: per-account rules over the brokers' capability table
(:mod:`janus_common.capabilities`, shared with clients)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from janus_common.capabilities import CAPABILITIES, BrokerCaps, narrowed
from janus_common.config import AccountConfig, RiskConfig
from janus_common.messages import Broker, OrderType

__all__ = ["ALL_TYPES", "CAPABILITIES", "AccountRules", "BrokerCaps"]

ALL_TYPES = frozenset(OrderType)


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
        return narrowed(table[self.broker], self.order_types)

    @classmethod
    def from_config(cls, alias: str, account: AccountConfig) -> "AccountRules":
        return cls(alias, account.broker, account.allow_short, account.locate_required,
                   dict(account.order_type_fallback),
                   frozenset(account.order_types) if account.order_types is not None else None,
                   account.risk)
