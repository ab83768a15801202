"""The ``janus`` command. Every command takes ``--json``; exit codes: 0 ok, 1 failure,
2 usage or configuration error, 3 Janus (NATS) unreachable."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

from typing import Any

import msgspec

from janus_common import logging as janus_logging
from janus_common import messages as m

from .client import JanusClient, JanusTimeout
from . import audit_cmd, control_cmd, events_cmd, positions_cmd, rpc_commands, schema_cmd, surface_cmd
from janus_common import credentials
from janus_common.authz import OPERATOR

from .connect import connect_or_explain
from .discovery import ServiceInstance, discover

from .exits import EXIT_FAIL, EXIT_OK, EXIT_REJECTED, EXIT_TIMEOUT, EXIT_UNREACHABLE, EXIT_USAGE


def nats_url(args: argparse.Namespace) -> str:
    """--nats-url, else $JANUS_NATS_URL, else the URL ``make run`` recorded, else the default."""
    if args.nats_url:
        return args.nats_url
    if os.environ.get("JANUS_NATS_URL"):
        return os.environ["JANUS_NATS_URL"]
    stack = Path(args.data_dir) / "stack.json"
    if stack.exists():
        return json.loads(stack.read_text())["nats"]
    return "nats://127.0.0.1:14222"


def operator_creds(args: argparse.Namespace) -> Path | None:
    """--creds, else $JANUS_NATS_CREDS, else the operator's of the stack ``make run`` started."""
    if args.creds:
        return Path(args.creds)
    if os.environ.get(credentials.ENV_CREDS):
        return Path(os.environ[credentials.ENV_CREDS])
    folder = Path(args.data_dir) / "nats"
    stack = Path(args.data_dir) / "stack.json"
    if stack.exists():
        folder = Path(json.loads(stack.read_text()).get("credentials") or folder)
    return credentials.find(folder, OPERATOR)


def _emit(args: argparse.Namespace, event: Any, text: str) -> None:
    if args.json:
        print(msgspec.json.encode(event).decode())
    else:
        print(text)


async def _client(args: argparse.Namespace) -> JanusClient | None:
    nc = await connect_or_explain(nats_url(args))
    return JanusClient(nc) if nc is not None else None


def _exit_words(order: m.PlaceOrder) -> str:
    """`` take-profit @195`` for a bracket's exit, nothing for the order itself."""
    if order.role is m.LegRole.ENTRY:
        return ""
    price = order.limit_price if order.role is m.LegRole.TAKE_PROFIT else order.stop_price
    return f" {order.role.lower().replace('_', '-')} @{price:g}"


def _describe(event: Any) -> str:
    if isinstance(event, m.OrderRouted):
        legs = ", ".join(f"{o.side} {o.qty:g}" + _exit_words(o) for o in event.orders)
        d = event.decision
        return (f"routed {event.intent_id} to {event.broker} ({d.effect}; {legs}; "
                f"position {d.broker_position + 0.0:g}, working {d.in_flight + 0.0:g})")
    if isinstance(event, m.OrderRejected):
        return f"rejected {event.intent_id or ''} [{event.reason}] {event.message}"
    if isinstance(event, m.CancelRouted):
        return f"cancel sent for {event.intent_id} ({event.cancel_id})"
    if isinstance(event, m.OrderStatusChanged):
        avg = f"{event.avg_fill_price:.6g}" if event.avg_fill_price is not None else "-"
        return f"{event.intent_id} {event.status} filled {event.filled:g} avg {avg}"
    if isinstance(event, m.OrderCancelled):
        return f"{event.intent_id} CANCELLED (filled {event.filled:g})"
    if isinstance(event, m.OrderBrokerRejected):
        return f"{event.intent_id} rejected by {event.broker}: [{event.code}] {event.text}"
    if isinstance(event, m.OrderGatewayRefused):
        return f"{event.intent_id} refused by the {event.broker} gateway: [{event.reason}] {event.text}"
    if isinstance(event, m.ModifyRouted):
        legs = ", ".join(f"leg {o.leg}: qty {o.qty:g}" + (f" limit {o.limit_price:g}" if o.limit_price else "")
                         + (f" stop {o.stop_price:g}" if o.stop_price else "") for o in event.orders)
        return f"modification {event.modify_id} of {event.intent_id} sent to {event.broker} ({legs})"
    if isinstance(event, m.ModifyRejected):
        code = f" ({event.code})" if event.code else ""
        return f"modification {event.modify_id} of {event.intent_id} refused [{event.reason}]{code} {event.message}"
    if isinstance(event, m.OrderModified):
        figures = f"qty {event.qty:g}" + (f" limit {event.limit_price:g}" if event.limit_price else "") + \
            (f" stop {event.stop_price:g}" if event.stop_price else "") + \
            (f" trail {event.trail_amount:g}" if event.trail_amount else "")
        return f"{event.intent_id} leg {event.leg} modified at {event.broker}: {figures}"
    if isinstance(event, m.RouteRefused):
        return f"route for {event.named_broker}/{event.named_account} {event.named_intent_id} refused: " \
               f"[{event.reason}] {event.text}"
    return repr(event)


def order_words(words: list[str], account: str | None) -> tuple[str, str, float, str]:
    """(account, side, qty, symbol) from `[ACCOUNT] SIDE SYMBOL QTY` (symbol and qty either way)."""
    if account is None:
        if len(words) != 4:
            raise ValueError("expected ACCOUNT SIDE SYMBOL QTY (or --account ACCOUNT SIDE SYMBOL QTY)")
        account, words = words[0], words[1:]
    if len(words) != 3:
        raise ValueError("expected SIDE SYMBOL QTY after --account")
    side, a, b = words
    if side.upper() not in ("BUY", "SELL"):
        raise ValueError(f"side must be BUY or SELL, not {side!r}")

    def number(text: str) -> float | None:
        try:
            return float(text)
        except ValueError:
            return None

    qty_a, qty_b = number(a), number(b)
    if qty_a is None and qty_b is not None:
        return account, side.upper(), qty_b, a
    if qty_b is None and qty_a is not None:
        return account, side.upper(), qty_a, b
    raise ValueError(f"expected one symbol and one quantity, got {a!r} and {b!r}")


async def _order(args: argparse.Namespace) -> int:
    try:
        account, side, qty, symbol = order_words(args.words, args.account)
    except ValueError as exc:
        print(f"janus order: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        expire_at = surface_cmd.parse_expiry(args.expire, time.time_ns()) if args.expire else None
    except ValueError as exc:
        print(f"janus order: {exc}", file=sys.stderr)
        return EXIT_USAGE
    tif = m.Tif(args.tif.upper()) if args.tif else (m.Tif.GTD if expire_at is not None else m.Tif.DAY)
    intent = m.OrderIntent(account=account, symbol=symbol, side=m.Side(side),
                           order_type=m.OrderType(args.type.upper()), qty=qty,
                           limit_price=args.limit, stop_price=args.stop, tif=tif,
                           locate_ref=args.locate, trail_amount=args.trail, trail_percent=args.trail_pct,
                           limit_offset=args.limit_offset, expire_at=expire_at, outside_rth=args.outside_rth,
                           take_profit=args.take_profit, stop_loss=args.stop_loss,
                           **({"intent_id": args.intent_id} if args.intent_id else {}))
    client = await _client(args)
    if client is None:
        return EXIT_UNREACHABLE
    async with client:
        try:
            outcome = await client.submit(intent, timeout=args.timeout)
            _emit(args, outcome, _describe(outcome))
            if isinstance(outcome, m.OrderRejected):
                return EXIT_REJECTED
            if args.wait:
                if not args.json:
                    print(f"waiting for {intent.intent_id} to finish…", file=sys.stderr)
                final = await client.wait_terminal(intent.account, intent.intent_id, timeout=args.timeout)
                _emit(args, final, _describe(final))
                filled = isinstance(final, m.OrderStatusChanged) and final.status is m.OrderState.FILLED
                return EXIT_OK if filled else EXIT_REJECTED
        except JanusTimeout as exc:
            print(f"janus: {exc}", file=sys.stderr)
            return EXIT_TIMEOUT
    return EXIT_OK


async def _cancel(args: argparse.Namespace) -> int:
    client = await _client(args)
    if client is None:
        return EXIT_UNREACHABLE
    async with client:
        try:
            outcome = await client.cancel(args.account, args.intent_id, timeout=args.timeout)
        except JanusTimeout as exc:
            print(f"janus: {exc}", file=sys.stderr)
            return EXIT_TIMEOUT
    _emit(args, outcome, _describe(outcome))
    return EXIT_REJECTED if isinstance(outcome, m.OrderRejected) else EXIT_OK


async def _status(args: argparse.Namespace) -> int:
    nc = await connect_or_explain(nats_url(args))
    if nc is None:
        return EXIT_UNREACHABLE
    try:
        # STATS, not INFO: it carries each instance's health (consumers alive, connection).
        services = await discover(nc, window=args.window, verb="STATS")
    finally:
        await nc.close()
    if args.json:
        print(msgspec.json.encode(services).decode())
    else:
        if not services:
            print("no Janus service answered")
        for s in services:
            extra = " ".join(f"{k}={v}" for k, v in sorted(s.metadata.items()))
            print(f"{s.name:<24} {s.version:<8} {s.id}  {_health_line(s)}  {extra}".rstrip())
    unhealthy = any(s.dead_consumers for s in services)
    return EXIT_OK if services and not unhealthy else EXIT_FAIL


def _health_line(s: ServiceInstance) -> str:
    consumers = (s.health or {}).get("consumers") or {}
    if s.health is None:
        return "-"
    if s.dead_consumers:
        return "DEAD " + ",".join(s.dead_consumers)
    return f"ok consumers={len(consumers)}"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="janus", description="Talk to a running Janus.")
    p.add_argument("--nats-url", default=None)
    p.add_argument("--data-dir", default=".janus", help="where `make run` keeps stack.json")
    p.add_argument("--creds", default=None,
                   help="NATS credentials (<identity>.nk or .creds); default $JANUS_NATS_CREDS, else "
                        "the operator's of `make run` (DATA_DIR/nats/operator.nk)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    sub = p.add_subparsers(dest="command", required=True)
    status = sub.add_parser("status", help="list the services answering $SRV.STATS and whether their consumers run")
    status.add_argument("--window", type=float, default=0.5, help="seconds to collect answers")
    status.set_defaults(run=_status)

    order = sub.add_parser("order", help="send an order intent and print its outcome",
                           description="exit codes: 0 routed (with --wait: filled), 5 rejected or not "
                                       "filled, 4 timed out, 3 Janus unreachable")
    order.add_argument("words", nargs="+", metavar="SIDE SYMBOL QTY",
                       help="BUY|SELL, a canonical symbol (AAPL, BRK.B, NQ.2603) and the quantity, "
                            "symbol and quantity in either order; the account first if --account is not given")
    order.add_argument("--account", default=None)
    order.add_argument("--type", default="MARKET", choices=[t.value for t in m.OrderType] + [t.value.lower() for t in m.OrderType])
    order.add_argument("--limit", type=float, default=None, help="limit price")
    order.add_argument("--stop", type=float, default=None, help="stop price")
    order.add_argument("--tif", default=None, choices=[t.value for t in m.Tif] + [t.value.lower() for t in m.Tif],
                       help="time in force (default DAY; GTD when --expire is given)")
    order.add_argument("--trail", type=float, default=None, help="trailing stops: trail by this amount")
    order.add_argument("--trail-pct", type=float, default=None, help="trailing stops: trail by this percentage")
    order.add_argument("--limit-offset", type=float, default=None,
                       help="TRAILING_STOP_LIMIT: how far beyond the stop the limit sits")
    order.add_argument("--expire", default=None,
                       help="GTD expiry: an ISO time (2026-12-03T21:00:00Z) or from now (+30s, +5m, +2h)")
    order.add_argument("--outside-rth", action="store_true", help="may trigger and fill outside regular hours")
    order.add_argument("--take-profit", type=float, default=None,
                       help="a bracket: the limit price of the exit that takes the profit")
    order.add_argument("--stop-loss", type=float, default=None,
                       help="a bracket: the stop price of the exit that cuts the loss")
    order.add_argument("--locate", default=None, help="short-locate reference")
    order.add_argument("--intent-id", default=None, help="your own id (resubmitting it never orders twice)")
    order.add_argument("--wait", action="store_true", help="wait until the order is finished")
    order.add_argument("--timeout", type=float, default=30.0)
    order.set_defaults(run=_order)

    cancel = sub.add_parser("cancel", help="cancel the order an intent created")
    cancel.add_argument("account")
    cancel.add_argument("intent_id")
    cancel.add_argument("--timeout", type=float, default=10.0)
    cancel.set_defaults(run=_cancel)

    rpc_commands.add(sub, nats_url)
    control_cmd.add(sub, nats_url)
    audit_cmd.add(sub, nats_url)
    surface_cmd.add(sub, nats_url)
    positions_cmd.add(sub, nats_url)
    events_cmd.add(sub, nats_url)
    schema_cmd.add(sub, nats_url)
    return p


def _json_on_every_command(p: argparse.ArgumentParser) -> None:
    """`--json` is accepted after the command too (`janus positions --json`)."""
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                child.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                                   help="machine-readable output")
                _json_on_every_command(child)


def main(argv: list[str] | None = None) -> int:
    p = parser()
    _json_on_every_command(p)
    args = p.parse_args(argv)
    janus_logging.configure("janus-cli", level=os.environ.get("JANUS_LOG_LEVEL", "ERROR"))
    creds = operator_creds(args)
    if creds:
        os.environ[credentials.ENV_CREDS] = str(creds)  # bus.connect's default, for every command
    try:
        return asyncio.run(args.run(args))
    except KeyboardInterrupt:  # `janus watch` ends this way
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
