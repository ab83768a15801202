"""config.yaml's ``metrics:`` block: which port each process serves /metrics on."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from janus_client.stack.plan import plan
from janus_common.config import ConfigError, from_dict, load

EXAMPLE = Path(__file__).resolve().parents[2] / "config.yaml.example"


def _raw(metrics: dict | None = None) -> dict:
    raw = yaml.safe_load(EXAMPLE.read_text())
    if metrics is None:
        raw.pop("metrics", None)
    else:
        raw["metrics"] = metrics
    return raw


def test_the_shipped_ports_count_gateways_up_in_account_order():
    config = load(EXAMPLE, env={})
    assert config.metrics.host == "127.0.0.1"
    assert {who: config.metrics_port(who) for who in ("router", "registry", "pricer")} == {
        "router": 19101, "registry": 19102, "pricer": 19103}
    assert [config.metrics_port(f"gateway-{a}") for a in config.accounts] == [19110, 19111, 19112, 19113]
    assert config.metrics_port("gateway-nope") == 0 and config.metrics_port("supervisor") == 0


def test_the_host_comes_from_the_environment_on_containers():
    assert load(EXAMPLE, env={"JANUS_METRICS_HOST": "0.0.0.0"}).metrics.host == "0.0.0.0"


def test_absent_or_zero_is_off():
    config = from_dict(_raw(None), env={})
    assert all(config.metrics_port(who) == 0 for who in ("router", "registry", "pricer", "gateway-ib-1"))
    config = from_dict(_raw({"ports": {"router": 0, "pricer": 9300, "gateways": 0}}), env={})
    assert (config.metrics_port("router"), config.metrics_port("pricer"), config.metrics_port("gateway-ib-1")) \
        == (0, 9300, 0)


def test_an_account_of_its_own_overrides_the_count_and_zero_turns_one_off():
    config = from_dict(_raw({"ports": {"gateways": 9110, "accounts": {"wb-1": 9200, "ib-2": 0}}}), env={})
    assert [config.metrics_port(f"gateway-{a}") for a in ("ib-1", "ib-2", "wb-1", "paper-1")] == [9110, 0, 9200, 9113]


@pytest.mark.parametrize(("metrics", "key"), [
    ({"ports": {"router": 9101, "pricer": 9101}}, "metrics.ports.pricer"),
    ({"ports": {"router": 9111, "gateways": 9110}}, "metrics.ports.gateways"),  # ib-2 counts up onto it
    ({"ports": {"gateways": 9110, "accounts": {"paper-1": 9110}}}, "metrics.ports.accounts.paper-1"),
    ({"ports": {"accounts": {"ib-9": 9120}}}, "metrics.ports.accounts.ib-9"),
    ({"ports": {"router": 70000}}, "metrics.ports.router"),
    ({"ports": {"gateways": 65534}}, "metrics.ports.gateways"),
    ({"ports": {"router": 9101, "grafana": 3000}}, "metrics.ports"),
])
def test_a_clash_or_a_bad_port_names_its_key(metrics, key):
    with pytest.raises(ConfigError) as info:
        from_dict(_raw(metrics), env={})
    assert info.value.key == key, info.value


def test_make_run_plans_each_service_with_its_metrics_url():
    specs = {s.name: s.metrics for s in plan(load(EXAMPLE, env={}), "config.yaml", lambda s: f"/venv/bin/{s}")}
    assert specs["router"] == "http://127.0.0.1:19101/metrics"
    assert specs["gateway-paper-1"] == "http://127.0.0.1:19113/metrics"
    assert specs["ib-sim"] is None  # a simulator is no Janus process
