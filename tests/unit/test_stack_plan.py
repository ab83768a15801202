"""What `make run` starts for a configuration: one gateway per account, with its broker's script."""

from __future__ import annotations

from pathlib import Path

from janus_client.stack.plan import plan
from janus_common.config import load

EXAMPLE = Path(__file__).resolve().parents[2] / "config.yaml.example"


def test_every_account_of_the_shipped_config_gets_its_brokers_gateway():
    specs = plan(load(EXAMPLE, env={}), "config.yaml", lambda script: f"/venv/bin/{script}")
    gateways = {s.name: s.argv for s in specs if s.name.startswith("gateway-")}
    assert gateways == {
        f"gateway-{alias}": [f"/venv/bin/{script}", "--config", "config.yaml", "--account", alias]
        for alias, script in (("ib-1", "janus-ib-gateway"), ("ib-2", "janus-ib-gateway"),
                              ("wb-1", "janus-webull-gateway"), ("paper-1", "janus-paper-gateway"))}
    # The paper account trades on IB's market data: the IB simulator runs for it.
    assert "ib-sim" in {s.name for s in specs}


def test_a_gateway_whose_script_is_not_installed_is_not_started():
    specs = plan(load(EXAMPLE, env={}), "config.yaml",
                 lambda script: None if script == "janus-paper-gateway" else f"/venv/bin/{script}")
    assert "gateway-paper-1" not in {s.name for s in specs} and "gateway-ib-1" in {s.name for s in specs}


def test_the_web_console_runs_as_its_own_identity_and_gets_no_secret():
    from janus_client.stack.plan import child_env

    config = load(EXAMPLE, env={})
    [web] = [s for s in plan(config, "config.yaml", lambda script: f"/venv/bin/{script}") if s.name == "web"]
    assert web.argv == ["/venv/bin/janus-web", "--config", "config.yaml"]
    assert (web.service_name, web.identity, web.kind) == ("janus-web", "web", "service")
    env = child_env(web, {"JANUS_PG_DSN": "postgresql://x:pw@h/db", "WEBULL_APP_SECRET": "sim-app-secret"},
                    config, pg_dsn="postgresql://x:pw@h/db", creds="/data/nats/web.nk")
    assert "JANUS_PG_DSN" not in env and env["JANUS_NATS_CREDS"] == "/data/nats/web.nk"
    assert env["WEBULL_APP_SECRET"] != "sim-app-secret"
