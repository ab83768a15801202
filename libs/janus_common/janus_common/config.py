"""``config.yaml`` → typed configuration.

Strings may hold ``${NAME}`` or ``${NAME:-default}``: secrets come from the environment, never
from the file. Every error names the key it is about (``accounts.ib-1.ib.port``).
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Annotated, Any

import msgspec
import yaml

from .messages import ID_MAX, Broker, OrderType
from .messages.contracts import IbContract, WebullInstrument
from .subjects import ACCOUNT_RE
from .symbols import AssetClass, SymbolError, normalize


class ConfigError(ValueError):
    """A configuration that cannot be used. ``key`` is the dotted path of the culprit."""

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"config error at {key or '<root>'}: {reason}")


class _Base(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class IbConnection(_Base, frozen=True, kw_only=True):
    host: str = "127.0.0.1"
    port: int = 7497
    client_id: int = 1
    account: str | None = None  # the IB account number; None = the only managed account
    connect_timeout_s: float = 10.0


class WebullConnection(_Base, frozen=True, kw_only=True):
    app_key: str
    app_secret: str
    account_id: str | None = None
    region: str = "us"
    host: str = "api.webull.com"
    port: int | None = None
    grpc_host: str | None = None
    grpc_port: int | None = None
    tls: bool = True
    poll_interval_s: float = 2.0


Positive = Annotated[float, msgspec.Meta(gt=0)]
Count = Annotated[int, msgspec.Meta(ge=1)]


class RiskConfig(_Base, frozen=True, kw_only=True):
    """Pre-trade limits (the router's risk checks). A top-level ``risk:`` block is every
    account's default; an account's own ``risk:`` overrides any of its keys."""

    max_order_qty: Positive = 10_000.0  # shares / contracts per order
    max_order_notional: Positive = 1_000_000.0  # qty x price x multiplier, account currency
    max_position: Positive = 50_000.0  # |position| per symbol the order may reach, working orders counted
    price_band_pct: Positive = 10.0  # limit/stop price at most this far from the reference price
    max_orders_per_minute: Count = 1_200  # routed orders per account per rolling 60 s
    max_open_orders: Count = 500  # working orders per account
    require_reference_price: bool = True  # false: checks that need a price are skipped without one
    reference_max_age_s: Positive = 60.0  # a reference price older than this is no price
    reference_wait_s: Annotated[float, msgspec.Meta(ge=0)] = 3.0  # how long to wait for a first price


class PaperSettings(_Base, frozen=True, kw_only=True):
    """The paper broker: an account Janus keeps itself, filled at IB market-data prices."""

    starting_cash: float = 1_000_000.0
    currency: str = "USD"
    # A market order needs a quote at most this old; older is refused, never filled blind.
    max_quote_age_s: float = 10.0


class AccountConfig(_Base, frozen=True, kw_only=True):
    broker: Broker
    allow_short: bool = False
    locate_required: bool = False
    # An order type this broker lacks is mapped to the type named here, or rejected if absent.
    order_type_fallback: dict[OrderType, OrderType] = {}
    # The types this account may use, when narrower than its broker's (e.g. no stop-limit
    # permission on the account). None = whatever the broker takes.
    order_types: list[OrderType] | None = None
    ib: IbConnection | None = None
    webull: WebullConnection | None = None
    risk: RiskConfig = RiskConfig()  # the top-level risk block with this account's overrides
    paper: PaperSettings | None = None  # broker: paper (defaults when absent)


class SymbolMapping(_Base, frozen=True, kw_only=True):
    symbol: str
    asset_class: AssetClass = AssetClass.EQUITY
    exchange: str | None = None
    currency: str = "USD"
    ib: IbContract | None = None
    webull: WebullInstrument | None = None


class NatsConfig(_Base, frozen=True, kw_only=True):
    url: str = "nats://127.0.0.1:4222"
    replicas: int = 1
    # A folder of credentials named after their identity (``router.nk``, ``gateway-ib-1.creds``);
    # a process takes its own from it unless JANUS_NATS_CREDS names a file (janus_common.credentials).
    credentials_dir: str = ""


class ClientConfig(_Base, frozen=True, kw_only=True):
    """A client application's NATS identity: it may trade, and read, only these accounts."""

    accounts: list[str]


class PostgresConfig(_Base, frozen=True, kw_only=True):
    dsn: str = "postgresql://postgres@127.0.0.1:5432/janus"


class RegistryConfig(_Base, frozen=True, kw_only=True):
    mappings: list[SymbolMapping] = []
    lookup_timeout_s: float = 10.0


class PricerConfig(_Base, frozen=True, kw_only=True):
    debounce_ms: int = 250
    stale_after_s: float = 60.0
    # A tick stamped later than now + this is refused: cached, it would win every later
    # (truthful) tick and freeze the symbol's price until the clock caught up.
    max_clock_skew_s: float = 2.0


class RouterConfig(_Base, frozen=True, kw_only=True):
    # An intent older than this when a router comes to decide it is refused STALE: an order a
    # client sent a minute ago, while no router ran, is not what it wants executed now.
    max_intent_age_s: float = 30.0


class RateWindow(_Base, frozen=True, kw_only=True):
    limit: Count  # calls per caller ...
    window_s: Positive = 60.0  # ... in any window this long


class RateLimitsConfig(_Base, frozen=True, kw_only=True):
    """Per-caller budgets of the RPCs that cost a broker or the database real work (see
    ``janus_common.ratelimit``); a caller over one is answered ``RATE_LIMITED``."""

    resolve_lookups: RateWindow = RateWindow(limit=60)  # registry resolves that need a broker look-up
    harmony: RateWindow = RateWindow(limit=6)  # registry harmony runs (each walks the whole table)
    # janus.rpc.lookup.<broker> at the gateways. Its usual caller is the registry, whose harmony
    # asks once per incomplete row: 50/s, the pace IB itself takes requests at.
    broker_lookups: RateWindow = RateWindow(limit=3_000)
    md_subscribe: RateWindow = RateWindow(limit=600)  # market-data subscribes (IB gateway, pricer)


class SimulatorsConfig(_Base, frozen=True, kw_only=True):
    """Where ``make run`` starts the simulators (ignored when pointing at real brokers)."""

    ib_port: int = 7497
    webull_port: int = 8089
    webull_grpc_port: int = 8090
    admin_port: int | None = None


Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]


class MetricsPorts(_Base, frozen=True, kw_only=True):
    """Where each process serves ``/metrics``; 0 (or absent) = that process serves none."""

    router: Port = 0
    registry: Port = 0
    pricer: Port = 0
    web: Port = 0  # janus-web, the console
    # The first gateway's port; the next account (in the order of ``accounts:``) gets +1, ...
    gateways: Port = 0
    # One account's own port, over the count above (0 = that gateway serves none).
    accounts: dict[str, Port] = {}


class MetricsConfig(_Base, frozen=True, kw_only=True):
    """Prometheus endpoints (README "Metrics"). ``host`` is what each endpoint binds;
    0.0.0.0 / :: bind every interface and advertise the machine's host name instead."""

    host: str = "127.0.0.1"
    ports: MetricsPorts = MetricsPorts()

    def port_of(self, identity: str, accounts: list[str]) -> int:
        """The port of the process with this NATS identity (``router``, ``gateway-<alias>``;
        janus_common.authz), 0 when it serves no metrics. ``accounts`` in config order."""
        if identity in ("router", "registry", "pricer", "web"):
            port: int = getattr(self.ports, identity)
            return port
        alias = identity.removeprefix("gateway-")
        if alias == identity or alias not in accounts:
            return 0
        if alias in self.ports.accounts:
            return self.ports.accounts[alias]
        return self.ports.gateways + accounts.index(alias) if self.ports.gateways else 0


class WebConfig(_Base, frozen=True, kw_only=True):
    """Where ``janus-web`` (the console) listens. It has no user authentication of its own:
    keep it on loopback, or put it behind an authenticating proxy (README "Web console")."""

    host: str = "127.0.0.1"
    port: Port = 8700


class JanusConfig(_Base, frozen=True, kw_only=True):
    nats: NatsConfig = NatsConfig()
    postgres: PostgresConfig = PostgresConfig()
    accounts: dict[str, AccountConfig]
    market_data_account: str | None = None
    registry: RegistryConfig = RegistryConfig()
    pricer: PricerConfig = PricerConfig()
    router: RouterConfig = RouterConfig()
    rate_limits: RateLimitsConfig = RateLimitsConfig()
    simulators: SimulatorsConfig = SimulatorsConfig()
    risk: RiskConfig = RiskConfig()
    clients: dict[str, ClientConfig] = {}
    metrics: MetricsConfig = MetricsConfig()
    web: WebConfig = WebConfig()

    def account(self, alias: str) -> AccountConfig:
        try:
            return self.accounts[alias]
        except KeyError:
            raise ConfigError(f"accounts.{alias}", "no such account in the configuration") from None

    def metrics_port(self, identity: str) -> int:
        """The ``/metrics`` port of the process with this NATS identity (0 = none)."""
        return self.metrics.port_of(identity, list(self.accounts))


_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _substitute(value: Any, path: str, env: dict[str, str]) -> Any:
    if isinstance(value, str):
        def repl(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ConfigError(path, f"environment variable {name} is not set")
        return _ENV_RE.sub(repl, value)
    if isinstance(value, dict):
        return {k: _substitute(v, f"{path}.{k}" if path else str(k), env) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, f"{path}[{i}]", env) for i, v in enumerate(value)]
    return value


_MSGSPEC_PATH = re.compile(r" - at (?:`key` in )?`\$(.*)`$")


def _dotted(msgspec_path: str) -> str:
    # msgspec says `$.accounts['ib-1'].ib.port`; people read accounts.ib-1.ib.port
    path = re.sub(r"\[['\"]?([^\]'\"]+)['\"]?\]", r".\1", msgspec_path)
    return path.lstrip(".")


def _convert(data: Any, type_: type[Any], prefix: str) -> Any:
    try:
        return msgspec.convert(data, type_, strict=True)
    except msgspec.ValidationError as exc:
        text = str(exc)
        m = _MSGSPEC_PATH.search(text)
        inner = _dotted(m.group(1)).replace(".[...]", "") if m else ""
        key = ".".join(part for part in (prefix, inner) if part)
        raise ConfigError(key, text[: m.start()] if m else text) from None


def from_dict(raw: Any, env: dict[str, str] | None = None) -> JanusConfig:
    if not isinstance(raw, dict):
        raise ConfigError("", "the configuration must be a mapping")
    data = _substitute(raw, "", dict(os.environ) if env is None else env)
    accounts_raw = data.get("accounts")
    if not isinstance(accounts_raw, dict) or not accounts_raw:
        raise ConfigError("accounts", "a mapping of account alias → account settings is required")
    risk_raw = data.get("risk", {})
    if not isinstance(risk_raw, dict):
        raise ConfigError("risk", "expected a mapping of limit → value")
    _check_risk(_convert(risk_raw, RiskConfig, "risk"), "risk")  # its own errors under its own key
    # Accounts one by one: msgspec cannot name a dict key in its error path, people need it.
    accounts = {str(alias): _convert(_inherit_risk(value, risk_raw, f"accounts.{alias}"), AccountConfig,
                                     f"accounts.{alias}")
                for alias, value in accounts_raw.items()}
    config = _convert({**data, "accounts": {}}, JanusConfig, "")
    config = msgspec.structs.replace(config, accounts=accounts)
    _check(config)
    return config


def _inherit_risk(account: Any, default: dict[str, Any], key: str) -> Any:
    """The account's settings with its ``risk:`` laid over the top-level one."""
    if not isinstance(account, dict):
        return account
    own = account.get("risk", {})
    if not isinstance(own, dict):
        raise ConfigError(f"{key}.risk", "expected a mapping of limit → value")
    return {**account, "risk": {**default, **own}}


def _check_risk(risk: RiskConfig, key: str) -> None:
    for name in risk.__struct_fields__:
        value = getattr(risk, name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{key}.{name}", f"must be a finite number, got {value}")


def _check(config: JanusConfig) -> None:
    _check_risk(config.risk, "risk")
    for alias, account in config.accounts.items():
        key = f"accounts.{alias}"
        _check_risk(account.risk, f"{key}.risk")
        if not ACCOUNT_RE.match(alias) or len(alias) > ID_MAX:
            raise ConfigError(key, f"an account alias is at most {ID_MAX} letters, digits, '_' or '-'")
        if account.broker is Broker.IB and account.ib is None:
            raise ConfigError(f"{key}.ib", "an IB account needs its connection fields (host, port, client_id)")
        if account.broker is Broker.WEBULL and account.webull is None:
            raise ConfigError(f"{key}.webull", "a Webull account needs app_key and app_secret")
        if account.broker is Broker.PAPER:
            _check_paper(config, key, account.paper or PaperSettings())
    if not config.router.max_intent_age_s > 0:
        raise ConfigError("router.max_intent_age_s", "must be a positive number of seconds")
    if not config.pricer.max_clock_skew_s >= 0:
        raise ConfigError("pricer.max_clock_skew_s", "must be zero or a positive number of seconds")
    md = config.market_data_account
    if md is not None:
        if md not in config.accounts:
            raise ConfigError("market_data_account", f"{md!r} is not a configured account")
        if config.accounts[md].broker is not Broker.IB:
            raise ConfigError("market_data_account", "the market-data account must be an IB account")
    _check_clients(config)
    _check_metrics(config)
    for i, mapping in enumerate(config.registry.mappings):
        try:
            normalize(mapping.symbol, mapping.asset_class)
        except SymbolError as exc:
            raise ConfigError(f"registry.mappings[{i}].symbol", str(exc)) from None


# Identities of the processes themselves (janus_common.authz): a client may not take one's name.
RESERVED_IDENTITIES = frozenset({"supervisor", "operator", "auditor", "router", "registry", "pricer", "web", "admin"})


def _check_clients(config: JanusConfig) -> None:
    for name, client in config.clients.items():
        key = f"clients.{name}"
        if not ACCOUNT_RE.match(name) or len(name) > ID_MAX:
            raise ConfigError(key, f"a client name is at most {ID_MAX} letters, digits, '_' or '-'")
        if name in RESERVED_IDENTITIES or name.startswith("gateway-"):
            raise ConfigError(key, "this name belongs to a Janus process; choose another")
        if not client.accounts:
            raise ConfigError(f"{key}.accounts", "a client trades at least one account")
        for account in client.accounts:
            if account not in config.accounts:
                raise ConfigError(f"{key}.accounts", f"{account!r} is not a configured account")


def _check_metrics(config: JanusConfig) -> None:
    """Every configured account named, and no two processes on one port (one machine's
    `make run` starts them all side by side: the second would find its port taken)."""
    for alias in config.metrics.ports.accounts:
        if alias not in config.accounts:
            raise ConfigError(f"metrics.ports.accounts.{alias}", f"{alias!r} is not a configured account")
    gateways = config.metrics.ports.gateways
    if gateways and gateways + len(config.accounts) - 1 > 65535:
        raise ConfigError("metrics.ports.gateways", "the last account's port would be above 65535")
    taken: dict[int, str] = {}
    for identity in ["router", "registry", "pricer"] + [f"gateway-{a}" for a in config.accounts]:
        port = config.metrics_port(identity)
        if not port:
            continue
        if port in taken:
            alias = identity.removeprefix("gateway-")
            key = f"metrics.ports.accounts.{alias}" if alias in config.metrics.ports.accounts else \
                "metrics.ports.gateways" if identity.startswith("gateway-") else f"metrics.ports.{identity}"
            raise ConfigError(key, f"port {port} is {taken[port]}'s already")
        taken[port] = identity


def _check_paper(config: JanusConfig, key: str, paper: PaperSettings) -> None:
    if config.market_data_account is None:
        raise ConfigError(f"{key}.broker", "a paper account trades at IB market-data prices: "
                                           "set market_data_account to an IB account")
    if not (paper.starting_cash >= 0 and paper.starting_cash < float("inf")):
        raise ConfigError(f"{key}.paper.starting_cash", "a finite amount, zero or more")
    if not paper.max_quote_age_s > 0:
        raise ConfigError(f"{key}.paper.max_quote_age_s", "a number of seconds above zero")


def load(path: str | Path, env: dict[str, str] | None = None) -> JanusConfig:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError("", f"configuration file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError("", f"{path} is not valid YAML: {exc}") from None
    return from_dict(raw, env)
