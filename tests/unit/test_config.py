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


def test_risk_defaults_are_inherited_and_overridden_per_key():
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["risk"] = {**raw.get("risk", {}), "price_band_pct": 5}
    raw["accounts"]["ib-1"]["risk"] = {"max_order_qty": 7}
    config = from_dict(raw, env={})
    ib1, wb1 = config.accounts["ib-1"].risk, config.accounts["wb-1"].risk
    assert (ib1.max_order_qty, ib1.price_band_pct, ib1.max_open_orders) == (7, 5, 500)
    assert (wb1.max_order_qty, wb1.price_band_pct, wb1.max_orders_per_minute) == (10_000, 5, 1_200)
    shipped = load(EXAMPLE, env={}).risk
    assert (shipped.max_order_qty, shipped.max_order_notional, shipped.price_band_pct,
            shipped.max_orders_per_minute, shipped.max_open_orders) == (10_000, 1_000_000, 10, 1_200, 500)


@pytest.mark.parametrize("where, value, key", [
    ("top", {"max_order_qty": -1}, "risk.max_order_qty"),
    ("top", {"price_band_pct": float("inf")}, "risk.price_band_pct"),
    ("account", {"max_order_notional": float("nan")}, "accounts.ib-1.risk.max_order_notional"),
    ("top", {"max_open_orders": 0}, "risk.max_open_orders"),
    ("top", {"no_such_limit": 1}, "risk"),
    ("account", {"max_orders_per_minute": 1.5}, "accounts.ib-1.risk.max_orders_per_minute"),
    ("account", {"reference_max_age_s": 0}, "accounts.ib-1.risk.reference_max_age_s"),
    ("account", "lots", "accounts.ib-1.risk"),
])
def test_bad_risk_values_name_the_key(where, value, key):
    raw = yaml.safe_load(EXAMPLE.read_text())
    if where == "top":
        raw["risk"] = value
    else:
        raw["accounts"]["ib-1"]["risk"] = value
    with pytest.raises(ConfigError) as err:
        from_dict(raw, env={})
    assert err.value.key == key
