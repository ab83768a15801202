"""Credentials never reach people's eyes: URL/DSN redaction, the log processor's last line of
defence, pg_hba.conf's upgrade to passwords, and which child of `make run` sees which secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import pytest

from janus_client.stack.plan import WITHHELD, child_env, plan
from janus_common import logging as janus_logging
from janus_common import redact
from janus_common.config import load
from janus_common.pgauth import hba_trusts_tcp, hba_with_passwords, scram_verifier

EXAMPLE = Path(__file__).resolve().parents[2] / "config.yaml.example"
SEED = "SUAM" + "A" * 54  # the shape of a user nkey seed: S, U, then base32 to 58 characters


@pytest.mark.parametrize("given, shown", [
    ("postgresql://janus_registry:s3cr%40t@127.0.0.1:15432/janus",
     "postgresql://janus_registry:***@127.0.0.1:15432/janus"),
    ("postgresql://postgres@127.0.0.1:15432/janus", "postgresql://postgres@127.0.0.1:15432/janus"),
    ("postgresql://u:p@ss@h/db", "postgresql://u:***@h/db"),
    ("nats://tok3n@127.0.0.1:4222", "nats://***@127.0.0.1:4222"),
    ("nats://a:b@n1:4222,nats://c:d@n2:4222", "nats://a:***@n1:4222,nats://c:***@n2:4222"),
    ("nats://127.0.0.1:4222", "nats://127.0.0.1:4222"),
    ("connect failed: postgresql://x:y@h:1/d (refused)", "connect failed: postgresql://x:***@h:1/d (refused)"),
    ("host=h user=u password='a b' dbname=d", "host=h user=u password=*** dbname=d"),
    ("host=h password=abc", "host=h password=***"),
])
def test_urls_and_dsns_keep_everything_but_the_password(given, shown):
    assert redact.url(given) == shown


def test_free_text_loses_nkey_seeds_too():
    assert redact.text(f"seed {SEED} here") == "seed *** here"
    assert redact.text("UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4") != "***"  # a public key stays


def test_the_log_processor_masks_secret_keys_and_passwords_in_any_text():
    event = janus_logging._redact(None, "info", {
        "event": "x", "app_secret": "v1", "nkey_seed": "v2", "bearer_token": "v3", "dsn": "v4",
        "db_password": "v5", "seed": 7, "order_key": "k", "error": "at postgresql://u:pw@h/d",
        "exception": f"Traceback ... BusError: cannot connect to NATS at nats://u:pw@h:1 {SEED}"})
    assert {k: event[k] for k in ("app_secret", "nkey_seed", "bearer_token", "dsn", "db_password")} == \
        dict.fromkeys(("app_secret", "nkey_seed", "bearer_token", "dsn", "db_password"), "***")
    assert event["seed"] == 7 and event["order_key"] == "k"  # a simulator's random seed is no secret
    assert event["error"] == "at postgresql://u:***@h/d"
    assert "pw" not in event["exception"] and SEED not in event["exception"]


TRUST_HBA = """# TYPE  DATABASE  USER  ADDRESS  METHOD
local   all       all            trust
host    all       all   127.0.0.1/32   trust
host    all       all   ::1/128        trust  # loopback v6
hostssl replication all 10.0.0.0 255.0.0.0 trust
host    trust     trust 10.1.0.0/16    md5
local   replication all              trust
"""


def test_hba_upgrade_asks_tcp_clients_for_passwords_and_keeps_the_rest():
    assert hba_trusts_tcp(TRUST_HBA)
    upgraded = hba_with_passwords(TRUST_HBA)
    assert not hba_trusts_tcp(upgraded)
    lines = upgraded.splitlines()
    assert lines[0] == "# TYPE  DATABASE  USER  ADDRESS  METHOD"
    assert lines[1] == "local   all       all            trust"  # no socket is opened
    assert lines[2].split() == ["host", "all", "all", "127.0.0.1/32", "scram-sha-256"]
    assert lines[3].split() == ["host", "all", "all", "::1/128", "scram-sha-256", "#", "loopback", "v6"]
    assert lines[4].split() == ["hostssl", "replication", "all", "10.0.0.0", "255.0.0.0", "scram-sha-256"]
    assert lines[5] == "host    trust     trust 10.1.0.0/16    md5"  # a database named trust is a name
    assert hba_with_passwords(upgraded) == upgraded


def test_scram_verifier_is_rfc7677_for_a_known_salt():
    salt = bytes(range(16))
    verifier = scram_verifier("pencil", salt=salt, iterations=4096)
    method, rest = verifier.split("$", 1)
    params, keys = rest.split("$")
    iterations, salt64 = params.split(":")
    stored, server = (base64.b64decode(k) for k in keys.split(":"))
    salted = hashlib.pbkdf2_hmac("sha256", b"pencil", salt, 4096)
    assert (method, iterations, base64.b64decode(salt64)) == ("SCRAM-SHA-256", "4096", salt)
    assert stored == hashlib.sha256(hmac.digest(salted, b"Client Key", "sha256")).digest()
    assert server == hmac.digest(salted, b"Server Key", "sha256")
    assert scram_verifier("pencil") != scram_verifier("pencil")  # a fresh salt each time


def test_each_child_gets_only_the_secrets_it_uses():
    base = {"PATH": "/bin", "WEBULL_APP_SECRET": "wb-real-secret", "JANUS_PG_DSN": "postgresql://old",
            "JANUS_CONFIG": "c.yaml"}
    config = load(EXAMPLE, env=base)
    specs = {s.name: s for s in plan(config, "c.yaml", lambda script: f"/venv/bin/{script}", state_dir="/d")}
    envs = {name: child_env(spec, base, config, pg_dsn="postgresql://janus_registry:pw@h/janus", state_dir="/d")
            for name, spec in specs.items()}
    assert envs["registry"]["JANUS_PG_DSN"] == "postgresql://janus_registry:pw@h/janus"
    assert [n for n, env in envs.items() if "JANUS_PG_DSN" in env] == ["registry"]
    assert envs["gateway-wb-1"]["WEBULL_APP_SECRET"] == "wb-real-secret"
    assert envs["gateway-wb-1"]["JANUS_WEBULL_TOKEN_DIR"] == "/d/webull-tokens"
    assert envs["webull-sim"]["JANUS_WEBULL_SIM_SECRET"] == "wb-real-secret"
    for name in set(envs) - {"gateway-wb-1", "webull-sim"}:
        assert "wb-real-secret" not in envs[name].values(), name
        assert envs[name]["WEBULL_APP_SECRET"] == WITHHELD  # still set: the config loads there
        assert load(EXAMPLE, env=envs[name]).accounts["ib-1"].ib is not None
    assert envs["webull-sim"]["WEBULL_APP_SECRET"] == WITHHELD  # it takes its secret by name
