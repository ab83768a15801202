from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from janus_common.config import ConfigError, from_dict, load
from janus_common.messages import Broker, OrderType

EXAMPLE = Path(__file__).resolve().parents[2] / "config.yaml.example"


def _raw() -> dict:
    return yaml.safe_load(EXAMPLE.read_text())


def test_the_shipped_example_loads():
    config = load(EXAMPLE, env={})
    assert set(config.accounts) == {"ib-1", "ib-2", "wb-1", "paper-1"}
    assert config.accounts["paper-1"].broker is Broker.PAPER
    assert config.accounts["paper-1"].paper.starting_cash == 1_000_000
    assert config.accounts["ib-1"].broker is Broker.IB and config.accounts["ib-1"].allow_short
    assert config.accounts["wb-1"].webull.app_secret == "sim-app-secret"
    assert config.market_data_account == "ib-1"
    assert 200 <= config.pricer.debounce_ms <= 500


def test_env_substitution_for_secrets():
    config = load(EXAMPLE, env={"WEBULL_APP_SECRET": "s3cret", "JANUS_NATS_URL": "nats://h:1"})
    assert config.accounts["wb-1"].webull.app_secret == "s3cret"
    assert config.nats.url == "nats://h:1"


def test_missing_env_names_the_key():
    raw = _raw()
    raw["accounts"]["wb-1"]["webull"]["app_secret"] = "${NOT_SET_ANYWHERE}"
    with pytest.raises(ConfigError) as info:
        from_dict(raw, env={})
    assert info.value.key == "accounts.wb-1.webull.app_secret"
    assert "NOT_SET_ANYWHERE" in info.value.reason


@pytest.mark.parametrize(
    ("mutate", "key", "fragment"),
    [
        (lambda r: r["accounts"]["ib-1"].update(allow_short="yes"), "accounts.ib-1.allow_short", "bool"),
        (lambda r: r["accounts"]["ib-1"]["ib"].update(port="x"), "accounts.ib-1.ib.port", "int"),
        (lambda r: r["accounts"]["ib-1"].update(broker="etrade"), "accounts.ib-1.broker", "Invalid"),
        (lambda r: r["accounts"]["ib-1"].update(colour="red"), "accounts.ib-1", "colour"),
        (lambda r: r["accounts"]["ib-2"].pop("ib"), "accounts.ib-2.ib", "connection"),
        (lambda r: r["accounts"].update({"bad alias": r["accounts"]["ib-2"]}), "accounts.bad alias", "alias"),
        (lambda r: r.update(market_data_account="wb-1"), "market_data_account", "IB account"),
        (lambda r: r.update(market_data_account="nope"), "market_data_account", "not a configured"),
        (lambda r: r["registry"]["mappings"][0].update(symbol="brk..b"), "registry.mappings[0].symbol", "bad symbol"),
        (lambda r: r["accounts"]["ib-1"].update(order_type_fallback={"TRAIL": "STOP"}),
         "accounts.ib-1.order_type_fallback", "Invalid"),
        (lambda r: r.pop("market_data_account"), "accounts.paper-1.broker", "market_data_account"),
        (lambda r: r["accounts"]["paper-1"]["paper"].update(starting_cash=-1), "accounts.paper-1.paper.starting_cash",
         "zero or more"),
        (lambda r: r["accounts"]["paper-1"]["paper"].update(max_quote_age_s=0),
         "accounts.paper-1.paper.max_quote_age_s", "above zero"),
        (lambda r: r["accounts"]["paper-1"]["paper"].update(cash=5), "accounts.paper-1.paper", "cash"),
    ],
)
def test_errors_name_the_bad_key(mutate, key, fragment):
    raw = _raw()
    mutate(raw)
    with pytest.raises(ConfigError) as info:
        from_dict(raw, env={})
    assert info.value.key.startswith(key), info.value
    assert fragment in str(info.value)


def test_fallback_parsed_as_order_types():
    raw = _raw()
    raw["accounts"]["ib-1"]["order_type_fallback"] = {"STOP_LIMIT": "STOP"}
    config = from_dict(raw, env={})
    assert config.accounts["ib-1"].order_type_fallback == {OrderType.STOP_LIMIT: OrderType.STOP}


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("accounts: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load(bad)
