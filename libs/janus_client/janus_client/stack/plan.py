"""What ``make run`` starts, decided from the configuration and what is installed. Pure."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from janus_common.authz import SERVICE_NAMES, gateway_identity
from janus_common.config import JanusConfig
from janus_common.credentials import ENV_CREDS
from janus_common.metrics import url_of
from janus_common.messages import Broker


# A gateway's console script is also its NATS micro name: one table, janus_common.authz's.
GATEWAY_SCRIPTS = SERVICE_NAMES


@dataclass(frozen=True)
class ProcessSpec:
    name: str  # unique, used for the log file
    argv: list[str]
    kind: str  # simulator | service
    service_name: str | None = None  # NATS micro name, answered on $SRV.PING.<name>
    port: int | None = None  # a simulator is ready when this port accepts connections
    env: dict[str, str] = field(default_factory=dict)
    identity: str | None = None  # its NATS identity (janus_common.authz); simulators have none
    metrics: str | None = None  # the URL of its Prometheus endpoint (config ``metrics:``), if any


def plan(config: JanusConfig, config_path: str, installed: Callable[[str], str | None],
         state_dir: str | None = None) -> list[ProcessSpec]:
    """Simulators first (brokers), then the services; each only if its console script exists.
    With ``state_dir`` the simulators keep their books there across restarts, as brokers do."""
    specs: list[ProcessSpec] = []
    sims = config.simulators
    brokers = {a.broker for a in config.accounts.values()}

    ib_sim = installed("janus-ib-sim")
    if ib_sim and Broker.IB in brokers:
        ib_accounts = [a.ib.account for a in config.accounts.values() if a.ib and a.ib.account]
        argv = [ib_sim, "--host", "127.0.0.1", "--port", str(sims.ib_port)]
        for number in ib_accounts:
            argv += ["--account", number]
        if sims.admin_port:
            argv += ["--admin-port", str(sims.admin_port)]
        if state_dir:
            argv += ["--state", f"{state_dir}/ib-sim.state.json"]
        specs.append(ProcessSpec("ib-sim", argv, "simulator", port=sims.ib_port))

    wb_sim = installed("janus-webull-sim")
    wb = next((a.webull for a in config.accounts.values() if a.webull), None)
    if wb_sim and wb is not None:
        argv = [wb_sim, "--host", "127.0.0.1", "--port", str(sims.webull_port),
                "--grpc-port", str(sims.webull_grpc_port)]
        if state_dir:
            argv += ["--state", f"{state_dir}/webull-sim.state.json"]
        # The key goes on the command line; the secret only through the environment.
        specs.append(ProcessSpec("webull-sim", argv + ["--app-key", wb.app_key], "simulator",
                                 port=sims.webull_port, env={"JANUS_WEBULL_SIM_SECRET": wb.app_secret}))

    for script, name in (("janus-registry", "registry"), ("janus-router", "router"),
                         ("janus-pricer", "pricer")):
        path = installed(script)
        if path:
            specs.append(ProcessSpec(name, [path, "--config", config_path], "service",
                                     service_name=f"janus-{name}", identity=name, metrics=_metrics(config, name)))

    web = installed("janus-web")
    if web:
        # The console: NATS is all it talks to; its page is on config.web's host and port.
        specs.append(ProcessSpec("web", [web, "--config", config_path], "service",
                                 service_name="janus-web", identity="web", metrics=_metrics(config, "web")))

    for alias, account in config.accounts.items():
        script = GATEWAY_SCRIPTS[account.broker]
        path = installed(script)
        if path:
            identity = gateway_identity(alias)
            specs.append(ProcessSpec(f"gateway-{alias}", [path, "--config", config_path, "--account", alias],
                                     "service", service_name=script, identity=identity,
                                     metrics=_metrics(config, identity)))
    return specs


def _metrics(config: JanusConfig, identity: str) -> str | None:
    port = config.metrics_port(identity)
    return url_of(config.metrics.host, port) if port else None


REGISTRY_SERVICE = "janus-registry"
# What a child that must not see a secret finds in the variable instead: the variable stays
# set, so a config that names it without a default still loads there.
WITHHELD = "withheld-by-janus-run"


def child_env(spec: ProcessSpec, base: Mapping[str, str], config: JanusConfig, *, pg_dsn: str,
              state_dir: str | None = None, creds: str | None = None) -> dict[str, str]:
    """The whole environment of one child: ``base`` (janus-run's own) with each secret only
    where it is used. The Postgres DSN (it carries the registry's password) goes to the
    registry alone. The Webull app secrets reach the Webull gateways, which read them through
    the config's ``${NAME}``; every other child finds ``WITHHELD`` in any variable holding one.
    Webull gateways keep their tokens in a private folder under ``state_dir``. ``creds``: the
    path of the child's own NATS credentials (janus_common.authz identity); a simulator gets none."""
    env = {k: v for k, v in base.items() if k != "JANUS_PG_DSN"}
    if spec.identity is None:
        env.pop(ENV_CREDS, None)
    elif creds is not None:
        env[ENV_CREDS] = creds  # the path, never the seed
    if spec.service_name == REGISTRY_SERVICE:
        env["JANUS_PG_DSN"] = pg_dsn
    if spec.service_name == GATEWAY_SCRIPTS[Broker.WEBULL]:
        if state_dir:
            env["JANUS_WEBULL_TOKEN_DIR"] = f"{state_dir}/webull-tokens"
    else:
        secrets = {a.webull.app_secret for a in config.accounts.values() if a.webull and a.webull.app_secret}
        env = {k: WITHHELD if v in secrets else v for k, v in env.items()}
    return {**env, **spec.env}
