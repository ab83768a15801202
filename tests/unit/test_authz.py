"""The permission function (janus_common.authz), checked against an independent model of NATS
subject matching over generated configurations, and the README's table against its output."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from janus_common import authz, config as config_module
from janus_common.config import from_dict, load

ROOT = Path(__file__).resolve().parents[2]


def matches(pattern: str, subject: str) -> bool:
    """NATS wildcard matching, written from the protocol's definition: ``*`` is one token,
    ``>`` one or more trailing tokens."""
    p, s = pattern.split("."), subject.split(".")
    for i, token in enumerate(p):
        if token == ">":
            return len(s) > i
        if i >= len(s) or (token != "*" and token != s[i]):
            return False
    return len(p) == len(s)


def may_publish(perms: authz.Permissions, subject: str) -> bool:
    return any(matches(p, subject) for p in perms.publish)


def may_subscribe(perms: authz.Permissions, subject: str) -> bool:
    return any(matches(p, subject) for p in perms.subscribe)


alias = st.from_regex(r"\A[a-z][a-z0-9-]{0,8}\Z")


@st.composite
def configs(draw):
    names = draw(st.lists(alias, min_size=1, max_size=5, unique=True))
    brokers = {n: draw(st.sampled_from(["ib", "webull"])) for n in names}
    accounts = {}
    for n, b in brokers.items():
        accounts[n] = {"broker": b, **({"ib": {"host": "h", "port": 1, "client_id": 1}} if b == "ib" else
                                        {"webull": {"app_key": "k", "app_secret": "s"}})}
    ib = [n for n, b in brokers.items() if b == "ib"]
    client_names = draw(st.lists(alias.filter(lambda c: c not in config_module.RESERVED_IDENTITIES
                                              and not c.startswith("gateway")),
                                 max_size=3, unique=True))
    clients = {c: {"accounts": draw(st.lists(st.sampled_from(names), min_size=1, unique=True))}
               for c in client_names}
    raw = {"accounts": accounts, "clients": clients}
    if ib:
        raw["market_data_account"] = draw(st.sampled_from(ib))
    return from_dict(raw, env={})


@settings(max_examples=300, deadline=None)
@given(configs(), alias)
def test_least_privilege_holds_for_any_configuration(config, stranger):
    perms = authz.identities(config)
    accounts = list(config.accounts)
    others = [a for a in [*accounts, stranger] if a]
    for identity, p in perms.items():
        for account in others:
            broker = str(config.accounts[account].broker) if account in config.accounts else "ib"
            # Only the router routes.
            assert may_publish(p, f"janus.route.{broker}.{account}") == (identity == authz.ROUTER)
            # A broker's events: its gateway's (and order outcomes, the router's).
            gateway = authz.gateway_identity(account)
            assert may_publish(p, f"janus.evt.position.{account}") == (identity == gateway)
            assert may_publish(p, f"janus.evt.order.{account}") == (identity in (gateway, authz.ROUTER))
            # Account commands: the operator's, and its console's (janus-web's Halt / Resume).
            assert may_publish(p, f"janus.control.{account}") == (identity in (authz.OPERATOR, authz.WEB))
            # Intents: the operator, the console (its Cancel), and the clients that list the account.
            client = config.clients.get(identity)
            trades = identity in (authz.OPERATOR, authz.WEB) or (client is not None and account in client.accounts)
            assert may_publish(p, f"janus.intent.{account}") == trades
            if client is not None:
                assert may_subscribe(p, f"janus.evt.order.{account}") == (account in client.accounts)
                assert may_subscribe(p, f"janus.val.{account}") == (account in client.accounts)
        # Streams are created, changed, purged and deleted by the supervisor only.
        for verb in ("CREATE", "UPDATE", "PURGE", "DELETE"):
            for stream in ("EVENTS", "INTENTS", "ROUTES"):
                assert may_publish(p, f"$JS.API.STREAM.{verb}.{stream}") == (identity == authz.SUPERVISOR)
        assert not may_publish(p, "$JS.API.STREAM.MSG.DELETE.EVENTS") or identity == authz.SUPERVISOR
        # Nobody reads another identity's replies.
        for other in perms:
            if other != identity:
                assert not may_subscribe(p, f"_INBOX.{other}.abc")
        if identity in config.clients:
            assert not any(x.startswith("$JS.API.CONSUMER") for x in p.publish)  # no consumers for clients
            assert not p.responds


def test_the_authorization_block_gives_each_key_its_identity_and_own_inbox():
    config = load(ROOT / "config.yaml.example", env={})
    perms = authz.identities(config)
    keys = {identity: f"U{identity.upper()}" for identity in perms}
    users = {u["nkey"]: u for u in authz.authorization(perms, keys)["authorization"]["users"]}
    assert len(users) == len(perms)
    for identity, p in perms.items():
        entry = users[keys[identity]]
        assert entry["permissions"]["publish"]["allow"] == list(p.publish)
        assert f"_INBOX.{identity}.>" in entry["permissions"]["subscribe"]["allow"]
    # An identity without a key is simply not a user: it cannot connect.
    del keys["auditor"]
    assert len(authz.authorization(perms, keys)["authorization"]["users"]) == len(perms) - 1
    assert "admin" not in perms and "admin" in authz.identities(config, admin=True)


def test_the_reserved_names_are_the_identities_of_the_processes():
    assert config_module.RESERVED_IDENTITIES == {authz.SUPERVISOR, authz.OPERATOR, authz.AUDITOR, authz.ROUTER,
                                                 authz.REGISTRY, authz.PRICER, authz.WEB, authz.ADMIN}


def test_the_console_reads_what_it_shows_and_writes_nothing_but_cancels_and_commands():
    p = authz.identities(load(ROOT / "config.yaml.example", env={}))[authz.WEB]
    for subject in ("janus.evt.order.ib-1", "janus.evt.position.wb-1", "janus.evt.control.ib-2", "janus.val.ib-1"):
        assert may_subscribe(p, subject)
    for subject in ("janus.intent.ib-1", "janus.md.tick.AAPL", "janus.route.ib.ib-1", "janus.rpc.registry.resolve"):
        assert not may_subscribe(p, subject)
    assert may_publish(p, "$SRV.STATS") and may_publish(p, "$JS.API.CONSUMER.CREATE.EVENTS.x.janus.evt.>")
    for subject in ("janus.evt.order.ib-1", "janus.val.ib-1", "janus.md.tick.AAPL", "janus.rpc.registry.resolve",
                    "janus.rpc.sync.ib-1", "$KV.janus_valuations.ib-1", "$KV.janus_prices.AAPL",
                    "$JS.API.CONSUMER.CREATE.INTENTS.x", "$JS.API.CONSUMER.CREATE.ROUTES.x",
                    "$JS.API.STREAM.MSG.DELETE.EVENTS", "janus.health.janus-router"):
        assert not may_publish(p, subject), subject


def test_the_readme_table_is_the_functions_output():
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"<!-- permission-table:begin[^>]*-->\n(.*?)<!-- permission-table:end -->", readme, re.S)
    assert found, "README has no permission table"
    expected = authz.permission_table(load(ROOT / "config.yaml.example", env={}))
    assert found.group(1) == expected, "README's table is stale: run `python -m janus_common.authz`"


def test_a_client_may_not_take_a_process_identity_or_an_unknown_account():
    base = {"accounts": {"ib-1": {"broker": "ib", "ib": {"host": "h", "port": 1, "client_id": 1}}}}
    for name, accounts, key in (("router", ["ib-1"], "clients.router"),
                                ("gateway-x", ["ib-1"], "clients.gateway-x"),
                                ("desk", ["nope"], "clients.desk.accounts"),
                                ("desk", [], "clients.desk.accounts")):
        try:
            from_dict({**base, "clients": {name: {"accounts": accounts}}}, env={})
        except config_module.ConfigError as exc:
            assert exc.key == key
        else:
            raise AssertionError(f"{name} {accounts} accepted")
