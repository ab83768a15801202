"""`janus resolve`, `janus harmony`, `janus sync`: one request, one typed reply, printed."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

import msgspec

from janus_common import bus, subjects
from janus_common import messages as m
from janus_common.symbols import AssetClass

from .connect import connect_or_explain

from .exits import EXIT_FAIL, EXIT_OK, EXIT_REJECTED, EXIT_TIMEOUT, EXIT_UNREACHABLE


def _text(reply: Any) -> str:
    if isinstance(reply, m.RpcError):
        extra = "".join(f"\n  candidate: {c.symbol} {c.ib.primary_exchange if c.ib else ''}" for c in reply.candidates)
        return f"[{reply.reason}] {reply.message}{extra}"
    if isinstance(reply, m.Resolved):
        r = reply.record
        ib = f" ib conId={r.ib.con_id} {r.ib.sec_type} {r.ib.exchange}" if r.ib else ""
        wb = f" webull={r.webull.symbol}" if r.webull else ""
        return f"{r.symbol} {r.asset_class} {r.exchange} {r.currency}{ib}{wb} (from {reply.source})"
    if isinstance(reply, m.HarmonySummary):
        rows = [f"{broker:<8} checked {c.checked} filled {c.filled} ambiguous {c.ambiguous} "
                f"not found {c.not_found} failed {c.failed}" for broker, c in sorted(reply.per_broker.items())]
        head = "harmony ok" if reply.ok else f"harmony FAILED: {reply.error}"
        return "\n".join([head, *rows])
    if isinstance(reply, m.SyncDone):
        return f"{reply.account}: {reply.open_orders} open orders at the broker"
    return repr(reply)


async def call(args: argparse.Namespace, nats_url: str, subject: str, request: msgspec.Struct,
               codec: m.Codec[Any], timeout: float) -> int:
    nc = await connect_or_explain(nats_url)
    if nc is None:
        return EXIT_UNREACHABLE
    try:
        if not args.json:
            print(f"asking {subject} …", file=sys.stderr)
        reply = await bus.request(nc, subject, request, codec, timeout=timeout)
    except bus.RpcNoResponders:
        print(f"janus: no service answers {subject} (is it running?)", file=sys.stderr)
        return EXIT_UNREACHABLE
    except bus.RpcTimeout:
        print(f"janus: no answer on {subject} within {timeout:g}s", file=sys.stderr)
        return EXIT_TIMEOUT
    except m.MessageDecodeError as exc:
        print(f"janus: unreadable reply: {exc}", file=sys.stderr)
        return EXIT_FAIL
    finally:
        await nc.close()
    print(msgspec.json.encode(reply).decode() if args.json else _text(reply))
    if isinstance(reply, m.RpcError) or (isinstance(reply, m.HarmonySummary) and not reply.ok):
        return EXIT_REJECTED
    return EXIT_OK


def add(sub: argparse._SubParsersAction[argparse.ArgumentParser],
        nats_url: Callable[[argparse.Namespace], str]) -> None:
    resolve = sub.add_parser("resolve", help="look a symbol up in the registry (fills it from IB on a miss)")
    resolve.add_argument("symbol")
    resolve.add_argument("--asset-class", choices=[a.value for a in AssetClass], default=None)
    resolve.add_argument("--timeout", type=float, default=15.0)
    resolve.set_defaults(run=lambda a: call(a, nats_url(a), subjects.RPC_RESOLVE,
                                            m.ResolveRequest(symbol=a.symbol.upper(), asset_class=a.asset_class),
                                            m.RESOLVE_REPLY, a.timeout))

    harmony = sub.add_parser("harmony", help="fill missing registry fields from every connected broker type")
    harmony.add_argument("--timeout", type=float, default=300.0)
    harmony.set_defaults(run=lambda a: call(a, nats_url(a), subjects.RPC_HARMONY, m.HarmonyRequest(),
                                            m.HARMONY_REPLY, a.timeout))

    sync = sub.add_parser("sync", help="ask an account's gateway to load every open order (IB reqAllOpenOrders)")
    sync.add_argument("account")
    sync.add_argument("--timeout", type=float, default=15.0)
    sync.set_defaults(run=lambda a: call(a, nats_url(a), subjects.rpc_sync(a.account), m.SyncRequest(account=a.account),
                                         m.SYNC_REPLY, a.timeout))
