"""Builders for every NATS subject in DESIGN.md. Tokens are validated: a bad account alias or
symbol raises :class:`SubjectError` instead of producing a subject that routes elsewhere."""

from __future__ import annotations

import re

from .messages.base import Broker
from .symbols import SymbolError, from_token, to_token

ACCOUNT_RE = re.compile(r"^[A-Za-z0-9_-]+\Z")  # \Z: "$" would let a final newline through
PREFIX = "janus"
BROKERS = tuple(b.value for b in Broker)


class SubjectError(ValueError):
    def __init__(self, value: object, expected: str) -> None:
        self.value = value
        self.expected = expected
        super().__init__(f"bad subject token {value!r}: expected {expected}")


def account_token(account: str) -> str:
    if not isinstance(account, str) or not ACCOUNT_RE.match(account):
        raise SubjectError(account, "an account alias of letters, digits, '_' or '-'")
    return account


def broker_token(broker: str) -> str:
    broker = str(broker)
    if broker not in BROKERS:
        raise SubjectError(broker, f"a broker type: {', '.join(BROKERS)}")
    return broker


def symbol_token(symbol: str) -> str:
    try:
        return to_token(symbol)
    except SymbolError as exc:
        raise SubjectError(symbol, exc.expected) from exc


def intent(account: str) -> str:
    return f"{PREFIX}.intent.{account_token(account)}"


def control(account: str) -> str:
    """Account commands (halt, resume, cancel-all): a subject of their own, so the bus's
    permissions give them to the operator and not to every client that may trade the account."""
    return f"{PREFIX}.control.{account_token(account)}"


def route(broker: str, account: str) -> str:
    return f"{PREFIX}.route.{broker_token(broker)}.{account_token(account)}"


def evt_order(account: str) -> str:
    return f"{PREFIX}.evt.order.{account_token(account)}"


def evt_position(account: str) -> str:
    return f"{PREFIX}.evt.position.{account_token(account)}"


def evt_account(account: str) -> str:
    return f"{PREFIX}.evt.account.{account_token(account)}"


def evt_control(account: str) -> str:
    return f"{PREFIX}.evt.control.{account_token(account)}"


EVT_PREFIX = f"{PREFIX}.evt."
EVT_REGISTRY = f"{PREFIX}.evt.registry"


def md_tick(symbol: str) -> str:
    return f"{PREFIX}.md.tick.{symbol_token(symbol)}"


def md_bar(symbol: str) -> str:
    return f"{PREFIX}.md.bar.{symbol_token(symbol)}"


def val(account: str) -> str:
    return f"{PREFIX}.val.{account_token(account)}"


def dlq(consumer: str) -> str:
    return f"{PREFIX}.dlq.{account_token(consumer)}"


# request/reply
RPC_RESOLVE = f"{PREFIX}.rpc.registry.resolve"
RPC_HARMONY = f"{PREFIX}.rpc.registry.harmony"
RPC_MD_SUBSCRIBE = f"{PREFIX}.rpc.md.subscribe"
RPC_PRICER_SUBSCRIBE = f"{PREFIX}.rpc.pricer.subscribe"
ALL_RPC_CAPABILITIES = f"{PREFIX}.rpc.capabilities.*"


def rpc_lookup(broker: str) -> str:
    return f"{PREFIX}.rpc.lookup.{broker_token(broker)}"


def rpc_capabilities(account: str) -> str:
    return f"{PREFIX}.rpc.capabilities.{account_token(account)}"


def rpc_sync(account: str) -> str:
    return f"{PREFIX}.rpc.sync.{account_token(account)}"


# wildcards
ALL_INTENTS = f"{PREFIX}.intent.*"
ALL_CONTROL = f"{PREFIX}.control.*"
ALL_ROUTES = f"{PREFIX}.route.>"
ALL_EVENTS = f"{PREFIX}.evt.>"
ALL_ORDER_EVENTS = f"{PREFIX}.evt.order.*"
ALL_POSITION_EVENTS = f"{PREFIX}.evt.position.*"
ALL_ACCOUNT_EVENTS = f"{PREFIX}.evt.account.*"
ALL_CONTROL_EVENTS = f"{PREFIX}.evt.control.*"
ALL_MARKET_DATA = f"{PREFIX}.md.>"
ALL_TICKS = f"{PREFIX}.md.tick.*"
ALL_BARS = f"{PREFIX}.md.bar.*"
ALL_VALUATIONS = f"{PREFIX}.val.*"
ALL_DLQ = f"{PREFIX}.dlq.>"


def last_token(subject: str) -> str:
    return subject.rsplit(".", 1)[-1]


def account_of(subject: str) -> str:
    """The account alias a per-account subject ends with."""
    return account_token(last_token(subject))


def symbol_of(subject: str) -> str:
    """The canonical symbol a ``janus.md.*.{symbol}`` subject carries."""
    return from_token(last_token(subject))
