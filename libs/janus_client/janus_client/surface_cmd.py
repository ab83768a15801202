"""`janus modify` and `janus capabilities`: change a working order, and ask what an account can
send."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import msgspec

from janus_common import bus
from janus_common import messages as m

from .client import JanusClient, JanusTimeout
from .connect import connect_or_explain
from .exits import EXIT_OK, EXIT_REJECTED, EXIT_TIMEOUT, EXIT_UNREACHABLE, EXIT_USAGE

_RELATIVE = re.compile(r"^\+(\d+(?:\.\d+)?)([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_ROLES = {"entry": m.LegRole.ENTRY, "take-profit": m.LegRole.TAKE_PROFIT, "stop-loss": m.LegRole.STOP_LOSS}


def parse_expiry(text: str, now_ns: int) -> int:
    """A GTD expiry in ns since the epoch: ``+30s`` / ``+5m`` / ``+2h`` / ``+1d`` from now, or an
    ISO 8601 time (UTC when it names no zone)."""
    found = _RELATIVE.match(text.strip())
    if found:
        return now_ns + int(float(found.group(1)) * _UNIT_S[found.group(2)] * 1_000_000_000)
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--expire takes an ISO time or +N[s|m|h|d], not {text!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return int(when.timestamp() * 1_000_000_000)


def _print(args: argparse.Namespace, event: Any, describe: Callable[[Any], str]) -> None:
    print(msgspec.json.encode(event).decode() if args.json else describe(event))


async def _modify(args: argparse.Namespace, nats_url: str, describe: Callable[[Any], str]) -> int:
    if args.qty is None and args.limit is None and args.stop is None and args.trail is None:
        print("janus modify: give at least one of --qty, --limit, --stop, --trail", file=sys.stderr)
        return EXIT_USAGE
    modify = m.ModifyIntent(intent_id=args.intent_id, account=args.account, role=_ROLES[args.leg], qty=args.qty,
                            limit_price=args.limit, stop_price=args.stop, trail_amount=args.trail)
    nc = await connect_or_explain(nats_url)
    if nc is None:
        return EXIT_UNREACHABLE
    async with JanusClient(nc) as client:
        try:
            outcome, answer = await client.modify(modify, timeout=args.timeout, wait=args.wait)
        except JanusTimeout as exc:
            print(f"janus: {exc}", file=sys.stderr)
            return EXIT_TIMEOUT
    _print(args, outcome, describe)
    if answer is not None:
        _print(args, answer, describe)
    refused = isinstance(outcome, m.ModifyRejected) or isinstance(answer, m.ModifyRejected)
    return EXIT_REJECTED if refused else EXIT_OK


def capabilities_text(reply: m.CapabilitiesReply) -> str:
    if isinstance(reply, m.RpcError):
        return f"[{reply.reason}] {reply.message}"
    fallback = ", ".join(f"{a}->{b}" for a, b in sorted(reply.fallback.items())) or "none"
    return "\n".join([
        f"{reply.account} ({reply.broker})",
        f"  order types   {', '.join(reply.order_types)}",
        f"  time in force {', '.join(reply.tifs)}",
        f"  modify        {'yes' if reply.modify else 'no (cancel and send a new order)'}",
        f"  brackets      {reply.brackets}",
        f"  trail by %    {'yes' if reply.trail_percent else 'no (by amount only)'}",
        f"  outside RTH   {'yes' if reply.outside_rth else 'no'}",
        f"  short selling {'allowed' if reply.allow_short else 'not allowed'}"
        f"{' (explicit SHORT side)' if reply.explicit_short else ''}",
        f"  fallbacks     {fallback}",
    ])


async def _capabilities(args: argparse.Namespace, nats_url: str) -> int:
    nc = await connect_or_explain(nats_url)
    if nc is None:
        return EXIT_UNREACHABLE
    async with JanusClient(nc) as client:
        try:
            reply = await client.capabilities(args.account, timeout=args.timeout)
        except bus.RpcNoResponders:
            print(f"janus: no router answers for account {args.account!r} (unknown account, or no router running)",
                  file=sys.stderr)
            return EXIT_UNREACHABLE
        except bus.RpcTimeout:
            print(f"janus: no answer about {args.account!r} within {args.timeout:g}s", file=sys.stderr)
            return EXIT_TIMEOUT
    print(msgspec.json.encode(reply).decode() if args.json else capabilities_text(reply))
    return EXIT_REJECTED if isinstance(reply, m.RpcError) else EXIT_OK


def add(sub: Any, nats_url: Callable[[argparse.Namespace], str]) -> None:
    from .cli import _describe  # the one description of order events

    modify = sub.add_parser("modify", help="change a working order's quantity or prices",
                            description="exit codes: 0 sent (with --wait: taken by the broker), 5 refused, "
                                        "4 timed out, 3 Janus unreachable")
    modify.add_argument("account")
    modify.add_argument("intent_id")
    modify.add_argument("--qty", type=float, default=None)
    modify.add_argument("--limit", type=float, default=None, help="new limit price")
    modify.add_argument("--stop", type=float, default=None, help="new stop price")
    modify.add_argument("--trail", type=float, default=None, help="new trailing amount")
    modify.add_argument("--leg", choices=sorted(_ROLES), default="entry",
                        help="which order of a bracket (default: the entry)")
    modify.add_argument("--wait", action="store_true", help="wait for the broker's answer")
    modify.add_argument("--timeout", type=float, default=15.0)
    modify.set_defaults(run=lambda args: _modify(args, nats_url(args), _describe))

    caps = sub.add_parser("capabilities", help="what an account can send (order types, tifs, modify, brackets)")
    caps.add_argument("account")
    caps.add_argument("--timeout", type=float, default=5.0)
    caps.set_defaults(run=lambda args: _capabilities(args, nats_url(args)))
