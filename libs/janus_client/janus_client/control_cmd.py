"""`janus halt`, `janus resume`, `janus cancel-all`: an account's trading state and its kill
switch. Each waits for the router's decision (and, when orders are cancelled, for every one of
them to end) and exits 0 when done, 5 when refused, 4 on a timeout, 3 when Janus is unreachable."""

from __future__ import annotations

import argparse
import getpass
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from janus_common import messages as m

from .client import CancelAllResult, JanusClient, JanusTimeout
from .connect import connect_or_explain

EXIT_OK, EXIT_UNREACHABLE, EXIT_TIMEOUT, EXIT_REFUSED = 0, 3, 4, 5


def who() -> str:
    """Who asked, as recorded in TradingStateChanged (user@host unless --by says otherwise)."""
    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    except Exception:  # no user name in this environment (a container without one)
        return f"unknown@{socket.gethostname()}"


def _print(args: argparse.Namespace, event: Any, text: str) -> None:
    print(msgspec.json.encode(event).decode() if args.json else text)


def _state_text(e: m.TradingStateChanged | m.ControlRejected) -> str:
    if isinstance(e, m.ControlRejected):
        return f"refused [{e.reason}] {e.message}"
    why = f" ({e.reason})" if e.reason else ""
    return f"{e.account}: {e.previous} -> {e.state}{why}, by {e.requested_by or '?'}"


def _cancel_text(result: CancelAllResult) -> list[str]:
    d = result.decision
    if isinstance(d, m.ControlRejected):
        return [f"refused [{d.reason}] {d.message}"]
    scope = f" in {d.symbol}" if d.symbol else ""
    lines = [f"{d.account}: {len(d.cancels)} working order(s){scope} to cancel"]
    for intent_id, event in sorted(result.outcomes.items()):
        kind = type(event).__name__
        detail = getattr(event, "status", None) or getattr(event, "reason", None) or ""
        lines.append(f"  {intent_id}: {kind} {detail}".rstrip())
    return lines


def _report(args: argparse.Namespace, result: CancelAllResult) -> int:
    if args.json:
        print(msgspec.json.encode({"decision": result.decision, "outcomes": result.outcomes}).decode())
    else:
        print("\n".join(_cancel_text(result)))
    return EXIT_REFUSED if isinstance(result.decision, m.ControlRejected) else EXIT_OK


async def _with_client(args: argparse.Namespace, nats_url: Callable[[argparse.Namespace], str],
                      work: Callable[[JanusClient], Awaitable[int]]) -> int:
    nc = await connect_or_explain(nats_url(args))
    if nc is None:
        return EXIT_UNREACHABLE
    async with JanusClient(nc) as client:
        try:
            return await work(client)
        except JanusTimeout as exc:
            print(f"janus: {exc}", file=sys.stderr)
            return EXIT_TIMEOUT


def add(sub: "argparse._SubParsersAction[argparse.ArgumentParser]", nats_url: Callable[[argparse.Namespace], str]) -> None:
    def common(p: argparse.ArgumentParser, timeout: float) -> None:
        p.add_argument("account")
        p.add_argument("--reason", default="", help="why, recorded in the event")
        p.add_argument("--by", default=None, help="who asks (default user@host)")
        p.add_argument("--timeout", type=float, default=timeout)

    halt = sub.add_parser("halt", help="stop an account taking new orders (cancels still pass)")
    common(halt, 30.0)
    halt.add_argument("--reduce-only", action="store_true",
                      help="REDUCING instead of HALTED: orders that reduce the position still pass")
    halt.add_argument("--cancel-working", action="store_true", help="also cancel every working order")

    async def run_halt(args: argparse.Namespace) -> int:
        async def work(client: JanusClient) -> int:
            state, cancelled = await client.halt(args.account, reduce_only=args.reduce_only,
                                                 cancel_working=args.cancel_working, reason=args.reason,
                                                 requested_by=args.by or who(), timeout=args.timeout)
            _print(args, state, _state_text(state))
            if isinstance(state, m.ControlRejected):
                return EXIT_REFUSED
            return _report(args, cancelled) if cancelled is not None else EXIT_OK
        return await _with_client(args, nats_url, work)

    halt.set_defaults(run=run_halt)

    resume = sub.add_parser("resume", help="let an account take new orders again (ACTIVE)")
    common(resume, 10.0)

    async def run_resume(args: argparse.Namespace) -> int:
        async def work(client: JanusClient) -> int:
            state = await client.resume(args.account, reason=args.reason, requested_by=args.by or who(),
                                        timeout=args.timeout)
            _print(args, state, _state_text(state))
            return EXIT_REFUSED if isinstance(state, m.ControlRejected) else EXIT_OK
        return await _with_client(args, nats_url, work)

    resume.set_defaults(run=run_resume)

    cancel_all = sub.add_parser("cancel-all", help="cancel every working order of an account (or of one "
                                                   "symbol) and wait until each has ended")
    common(cancel_all, 30.0)
    cancel_all.add_argument("symbol", nargs="?", default=None, help="only this canonical symbol")

    async def run_cancel_all(args: argparse.Namespace) -> int:
        async def work(client: JanusClient) -> int:
            result = await client.cancel_all(args.account, args.symbol, reason=args.reason,
                                             requested_by=args.by or who(), timeout=args.timeout)
            return _report(args, result)
        return await _with_client(args, nats_url, work)

    cancel_all.set_defaults(run=run_cancel_all)
