"""Who may do what on the bus: ONE pure function from the configuration to every identity's
NATS permissions, and from those to the server's ``authorization`` block.

The embedded server of ``make run``, the test servers and compose all render their
authorization from :func:`authorization`, so they enforce the same rules; the README's table is
:func:`permission_table` (a test checks the two agree). The server enforces the permissions;
the code of a service never has to trust that a peer behaved.

Identities: one per process role (``router``, ``registry``, ``pricer``, ``web``, ``gateway-<alias>``),
``supervisor`` (creates the streams at start), ``operator`` (the ``janus`` CLI), ``auditor``
(read-only) and one per client of ``clients:`` in the configuration. Every identity receives its
replies on its own inbox prefix ``_INBOX.<identity>`` (see :func:`inbox_prefix`), so nobody can
read another's replies, and a responder can tell who asked (``janus_common.ratelimit.caller_of``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import subjects as s
from .config import JanusConfig
from .messages import Broker
from .streams import (
    DEADLETTER_STREAM,
    EVENTS_STREAM,
    INTENTS_STREAM,
    KV_PRICES,
    KV_VALUATIONS,
    MARKET_STREAM,
    OBJ_SNAPSHOTS,
    ROUTES_STREAM,
)

SUPERVISOR = "supervisor"
OPERATOR = "operator"
AUDITOR = "auditor"
ROUTER = "router"
REGISTRY = "registry"
PRICER = "pricer"
WEB = "web"
# Not part of any deployment: the test suite's own identity, which may do anything (it resets
# streams between tests). Only given to a server when asked for by name.
ADMIN = "admin"

INBOX = "_INBOX"

# The NATS micro names the services register under ($SRV.PING.<name>), by role.
SERVICE_NAMES: dict[Broker, str] = {
    Broker.IB: "janus-ib-gateway",
    Broker.WEBULL: "janus-webull-gateway",
    Broker.PAPER: "janus-paper-gateway",
}


@dataclass(frozen=True)
class Permissions:
    """What one identity may publish and subscribe to. ``responds``: it may answer requests
    (publish to the reply subject of a message it received, and nowhere else in ``_INBOX``)."""

    role: str
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    responds: bool = False
    accounts: tuple[str, ...] = field(default=())  # for clients: the accounts they trade


def manages_streams(identity: str) -> bool:
    """Whether this identity creates and updates the streams (everyone else waits for them)."""
    return identity in (SUPERVISOR, ADMIN)


def inbox_prefix(identity: str) -> str:
    return f"{INBOX}.{identity}"


# --- the JetStream API, in the pieces roles are given ------------------------------------

JS = "$JS.API"


def _reads(stream: str) -> tuple[str, ...]:
    """Read a stream through ephemeral (ordered) consumers and single-message gets."""
    return (f"{JS}.STREAM.INFO.{stream}", f"{JS}.CONSUMER.CREATE.{stream}", f"{JS}.CONSUMER.CREATE.{stream}.>",
            f"{JS}.CONSUMER.INFO.{stream}.*", f"{JS}.CONSUMER.DELETE.{stream}.*",
            f"{JS}.STREAM.MSG.GET.{stream}", f"{JS}.DIRECT.GET.{stream}", f"{JS}.DIRECT.GET.{stream}.>",
            f"$JS.FC.{stream}.>")


def _durable(stream: str, durable: str, filter_subject: str | None = None) -> tuple[str, ...]:
    """Own one durable pull consumer (create or update it, fetch, ack). With a filter the create
    subject names it, so the server holds the consumer to that filter."""
    create = f"{JS}.CONSUMER.CREATE.{stream}.{durable}" + (f".{filter_subject}" if filter_subject else "")
    return (f"{JS}.STREAM.INFO.{stream}", create, f"{JS}.CONSUMER.INFO.{stream}.{durable}",
            f"{JS}.CONSUMER.MSG.NEXT.{stream}.{durable}", f"$JS.ACK.{stream}.{durable}.>")


def _kv_read(bucket: str) -> tuple[str, ...]:
    return _reads(f"KV_{bucket}")


def _kv_write(bucket: str) -> tuple[str, ...]:
    return (*_kv_read(bucket), f"$KV.{bucket}.>")


def _objects_write(bucket: str) -> tuple[str, ...]:
    """Read and replace objects of an object store (a put purges the replaced object's chunks;
    nats-py finds the stream of an object's chunks by asking for the stream names; an object is
    read in batches through an ephemeral pull consumer, janus_common.snapshots)."""
    return (*_reads(f"OBJ_{bucket}"), f"$O.{bucket}.>", f"{JS}.STREAM.PURGE.OBJ_{bucket}", f"{JS}.STREAM.NAMES",
            f"{JS}.CONSUMER.MSG.NEXT.OBJ_{bucket}.*")


_STREAM_INFO = (f"{JS}.INFO", f"{JS}.STREAM.NAMES", f"{JS}.STREAM.LIST")
# A service process: micro discovery ($SRV.PING/INFO/STATS), its health endpoint, dead letters.
_SERVICE_SUB = ("$SRV.>",)


def _service(role: str, name: str, publish: Iterable[str], subscribe: Iterable[str]) -> Permissions:
    return Permissions(role=role, responds=True,
                       publish=_unique((*publish, f"{JS}.INFO", f"{JS}.STREAM.INFO.*", s.ALL_DLQ)),
                       subscribe=_unique((*subscribe, *_SERVICE_SUB, f"janus.health.{name}")))


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _router(config: JanusConfig) -> Permissions:
    return _service(ROUTER, "janus-router", (
        s.ALL_ROUTES, s.ALL_ORDER_EVENTS, s.ALL_CONTROL_EVENTS,
        f"{JS}.STREAM.INFO.{INTENTS_STREAM}", f"{JS}.CONSUMER.CREATE.{INTENTS_STREAM}.>",
        f"{JS}.CONSUMER.INFO.{INTENTS_STREAM}.*", f"{JS}.CONSUMER.MSG.NEXT.{INTENTS_STREAM}.*",
        f"$JS.ACK.{INTENTS_STREAM}.>",
        *_reads(EVENTS_STREAM), *_reads(ROUTES_STREAM)[:1], *_kv_read(KV_PRICES),
        *_objects_write(OBJ_SNAPSHOTS),
        s.RPC_RESOLVE, s.RPC_PRICER_SUBSCRIBE,
    ), (s.ALL_RPC_CAPABILITIES,))


def _registry(config: JanusConfig) -> Permissions:
    return _service(REGISTRY, "janus-registry", (
        s.EVT_REGISTRY, *_reads(EVENTS_STREAM),
        f"{JS}.CONSUMER.CREATE.{EVENTS_STREAM}.>", f"{JS}.CONSUMER.MSG.NEXT.{EVENTS_STREAM}.*",
        f"$JS.ACK.{EVENTS_STREAM}.>",
        "janus.rpc.lookup.*", *(f"$SRV.PING.{name}" for name in SERVICE_NAMES.values()),
    ), (s.RPC_RESOLVE, s.RPC_HARMONY))


def _pricer(config: JanusConfig) -> Permissions:
    return _service(PRICER, "janus-pricer", (
        s.ALL_VALUATIONS, *_reads(EVENTS_STREAM),
        f"{JS}.CONSUMER.CREATE.{EVENTS_STREAM}.>", f"{JS}.CONSUMER.MSG.NEXT.{EVENTS_STREAM}.*",
        f"$JS.ACK.{EVENTS_STREAM}.>",
        *_reads(MARKET_STREAM), *_kv_write(KV_PRICES), *_kv_write(KV_VALUATIONS),
        s.RPC_MD_SUBSCRIBE,
    ), (s.ALL_MARKET_DATA, s.RPC_PRICER_SUBSCRIBE))


def gateway_identity(alias: str) -> str:
    return f"gateway-{alias}"


def _gateway(config: JanusConfig, alias: str) -> Permissions:
    broker = str(config.accounts[alias].broker)
    durable = f"{broker}-gateway-{alias}"
    publish: list[str] = [
        s.evt_order(alias), s.evt_position(alias), s.evt_account(alias),
        *_durable(ROUTES_STREAM, durable, s.route(broker, alias)),
        *_reads(EVENTS_STREAM),
    ]
    subscribe: list[str] = [s.rpc_sync(alias), s.rpc_lookup(broker)]
    if alias == config.market_data_account:
        publish.append(s.ALL_MARKET_DATA)
        subscribe.append(s.RPC_MD_SUBSCRIBE)
    if config.accounts[alias].broker is Broker.PAPER:
        # Paper fills at the market-data quotes: live ticks, and the last one kept per symbol.
        subscribe.append(s.ALL_TICKS)
        publish.extend(_reads(MARKET_STREAM))
    return _service(f"gateway ({broker})", SERVICE_NAMES[config.accounts[alias].broker], publish, subscribe)


def _supervisor() -> Permissions:
    # Creates and updates streams, KV buckets and nothing else of the data: it starts the others.
    return Permissions(role=SUPERVISOR, responds=True,
                       publish=(f"{JS}.>", "$SRV.>", "janus.health.>"), subscribe=("$SRV.>",))


def _operator() -> Permissions:
    reads = [*_reads(EVENTS_STREAM), *_reads(DEADLETTER_STREAM), *_reads(MARKET_STREAM),
             *_reads(INTENTS_STREAM), *_reads(ROUTES_STREAM)[:1],
             *_kv_read(KV_PRICES), *_kv_read(KV_VALUATIONS)]
    return Permissions(role=OPERATOR, publish=_unique((
        "janus.intent.*", "janus.control.*", "janus.rpc.>", "$SRV.>", "janus.health.>",
        *_STREAM_INFO, *reads)), subscribe=("janus.>",))


def _auditor() -> Permissions:
    # INTENTS too: the audit checks that every stored intent was answered.
    reads = [*_reads(EVENTS_STREAM), *_reads(INTENTS_STREAM), *_kv_read(KV_PRICES), *_kv_read(KV_VALUATIONS)]
    return Permissions(role=AUDITOR, publish=_unique((*_STREAM_INFO, *reads)), subscribe=())


def _client(accounts: Iterable[str]) -> Permissions:
    accounts = tuple(accounts)
    publish: list[str] = []
    subscribe: list[str] = []
    for account in accounts:
        publish += [s.intent(account), s.rpc_capabilities(account),
                    # The last stored event of a kind (positions, say): a get that names the subject.
                    f"{JS}.DIRECT.GET.{EVENTS_STREAM}.janus.evt.*.{account}"]
        subscribe += [f"janus.evt.*.{account}", s.val(account)]
    publish.append(s.RPC_RESOLVE)
    return Permissions(role="client", publish=tuple(publish), subscribe=tuple(subscribe), accounts=accounts)


def _web(config: JanusConfig) -> Permissions:
    """The console (janus-web): reads what it shows and sends what its buttons do, nothing else.
    Reads: the account events (live, and their history through ordered consumers and direct
    gets), the valuations (live and the latest in KV), service discovery. Sends: intents (its
    Cancel button; the subject cannot tell a cancel from an order, so the console's own code
    only ever builds CancelIntent) and account commands (Halt / Resume), as the operator may.
    No route, market data, RPC, registry, DLQ, INTENTS or KV write."""
    return _service(WEB, "janus-web", (
        s.ALL_INTENTS, s.ALL_CONTROL, "$SRV.PING", "$SRV.INFO", "$SRV.STATS",
        *_reads(EVENTS_STREAM), *_kv_read(KV_VALUATIONS),
    ), ("janus.evt.*.*", s.ALL_VALUATIONS))


def _admin() -> Permissions:
    return Permissions(role=ADMIN, publish=(">",), subscribe=(">",), responds=True)


def identities(config: JanusConfig, *, admin: bool = False) -> dict[str, Permissions]:
    """Every identity of this configuration and its permissions (``admin``: add the test suite's
    all-powerful identity). Every identity may also subscribe to its own inbox (added by
    :func:`user_entry`)."""
    found: dict[str, Permissions] = {
        SUPERVISOR: _supervisor(), OPERATOR: _operator(), AUDITOR: _auditor(),
        ROUTER: _router(config), REGISTRY: _registry(config), PRICER: _pricer(config),
        WEB: _web(config),
    }
    for alias in config.accounts:
        found[gateway_identity(alias)] = _gateway(config, alias)
    for name, client in config.clients.items():
        found[name] = _client(client.accounts)
    if admin:
        found[ADMIN] = _admin()
    return found


def user_entry(identity: str, perms: Permissions, nkey: str) -> dict[str, Any]:
    """One user of the server's authorization block: an nkey public key and its permissions."""
    subscribe = [*perms.subscribe, f"{inbox_prefix(identity)}.>"]
    if identity == ADMIN:
        subscribe = [">"]
    entry: dict[str, Any] = {
        "nkey": nkey,
        "permissions": {
            "publish": {"allow": list(perms.publish)},
            "subscribe": {"allow": subscribe},
        },
    }
    if perms.responds:
        entry["permissions"]["allow_responses"] = True
    return entry


def authorization(perms: Mapping[str, Permissions], public_keys: Mapping[str, str]) -> dict[str, Any]:
    """The server's ``authorization`` block: one nkey user per identity that has a key. An
    identity without a key cannot connect, and a connection without credentials is refused."""
    users = [user_entry(identity, p, public_keys[identity])
             for identity, p in sorted(perms.items()) if identity in public_keys]
    return {"authorization": {"users": users}}


def render_conf(block: Mapping[str, Any]) -> str:
    """A NATS server configuration fragment. The server reads JSON; quoted strings keep ``$JS``
    and ``$SRV`` literal (unquoted, ``$`` starts a variable)."""
    return json.dumps(block, indent=2) + "\n"


def permission_table(config: JanusConfig) -> str:
    """The README's security table, from the same function the server's rules come from."""
    rows = ["| identity | may publish | may subscribe |", "|---|---|---|"]
    for identity, p in identities(config).items():
        pub = ", ".join(f"`{x}`" for x in p.publish if not x.startswith(("$JS", "$KV", "$O.")))
        js = _js_summary(p.publish)
        sub = ", ".join(f"`{x}`" for x in p.subscribe)
        extra = []
        if js:
            extra.append(js)
        if p.responds:
            extra.append("replies to requests it serves")
        cell = "; ".join(x for x in (pub, *extra) if x)
        rows.append(f"| `{identity}` | {cell or '—'} | {sub + ('; ' if sub else '')}own inbox `{inbox_prefix(identity)}.>` |")
    return "\n".join(rows) + "\n"


def _js_summary(publish: Iterable[str]) -> str:
    publish = list(publish)
    if f"{JS}.>" in publish:
        return "JetStream API: all (streams, KV buckets, object stores)"
    streams = sorted({p.split(".")[4] for p in publish if p.startswith(f"{JS}.CONSUMER.CREATE.")
                      and len(p.split(".")) > 4})
    kv = sorted({p.split(".")[1] for p in publish if p.startswith("$KV.")})
    objects = sorted({p.split(".")[1] for p in publish if p.startswith("$O.")})
    direct = [p for p in publish if p.startswith(f"{JS}.DIRECT.GET.") and p.count(".") > 4]
    parts = []
    if streams:
        parts.append("JetStream consumers on " + ", ".join(streams))
    if kv:
        parts.append("KV writes to " + ", ".join(kv))
    if objects:
        parts.append("object writes to " + ", ".join(objects))
    if direct and not streams:
        parts.append("direct gets of `" + "`, `".join(p.split(".", 4)[4] for p in direct) + "`")
    return "; ".join(parts)


def main(argv: list[str] | None = None) -> int:
    """``python -m janus_common.authz [config.yaml]``: print the README's permission table."""
    import sys

    from .config import load

    args = sys.argv[1:] if argv is None else argv
    print(permission_table(load(args[0] if args else "config.yaml.example", env={})), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
