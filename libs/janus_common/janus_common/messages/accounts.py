"""Positions, account values and gateway connection state, as the brokers report them."""

from __future__ import annotations

from enum import StrEnum

import msgspec

from ..symbols import AssetClass
from .base import Broker, BrokerRef, Event, Symbol, Text, Word

__all__ = [
    "AccountEvent",
    "AccountValues",
    "ConnectionState",
    "GatewayConnection",
    "Position",
    "PositionEvent",
    "PositionSnapshot",
]



class Position(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    symbol: Symbol  # canonical (options canonical-like, display only)
    asset_class: AssetClass
    qty: float  # signed: negative is short
    avg_cost: float  # per unit, without the multiplier
    multiplier: float = 1.0
    currency: Word = "USD"
    broker_symbol: BrokerRef | None = None
    con_id: int | None = None


# --- janus.evt.position.{account} -------------------------------------------------------


class PositionSnapshot(Event, frozen=True, kw_only=True):
    """Every position of the account as the broker reports it now (replaces the last one)."""

    broker: Broker
    positions: list[Position]


PositionEvent = PositionSnapshot

# --- janus.evt.account.{account} --------------------------------------------------------


class AccountValues(Event, frozen=True, kw_only=True):
    broker: Broker
    currency: Word = "USD"
    cash: float | None = None
    net_liquidation: float | None = None
    buying_power: float | None = None
    values: dict[Word, Text] = {}  # the broker's own key/values, for people


class ConnectionState(StrEnum):
    CONNECTING = "CONNECTING"
    CONNECTED = "CONNECTED"
    RECONCILING = "RECONCILING"
    READY = "READY"
    DEGRADED = "DEGRADED"  # up, but a data farm or the event stream is down
    DISCONNECTED = "DISCONNECTED"


class GatewayConnection(Event, frozen=True, kw_only=True):
    broker: Broker
    state: ConnectionState
    detail: Text = ""
    code: int | None = None


AccountEvent = AccountValues | GatewayConnection
