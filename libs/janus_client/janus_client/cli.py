"""The ``janus`` command. Every command takes ``--json``; exit codes: 0 ok, 1 failure,
2 usage or configuration error, 3 Janus (NATS) unreachable."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

import msgspec

from janus_common import bus
from janus_common import logging as janus_logging

from .discovery import discover

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3


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


async def _status(args: argparse.Namespace) -> int:
    try:
        nc = await bus.connect(nats_url(args), "janus-cli", initial_attempts=2)
    except bus.BusError as exc:
        print(f"janus: cannot reach NATS: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    try:
        services = await discover(nc, window=args.window)
    finally:
        await nc.close()
    if args.json:
        print(msgspec.json.encode(services).decode())
    else:
        if not services:
            print("no Janus service answered")
        for s in services:
            extra = " ".join(f"{k}={v}" for k, v in sorted(s.metadata.items()))
            print(f"{s.name:<24} {s.version:<8} {s.id}  {extra}")
    return EXIT_OK if services else EXIT_FAIL


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="janus", description="Talk to a running Janus.")
    p.add_argument("--nats-url", default=None)
    p.add_argument("--data-dir", default=".janus", help="where `make run` keeps stack.json")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    sub = p.add_subparsers(dest="command", required=True)
    status = sub.add_parser("status", help="list the services answering $SRV.INFO")
    status.add_argument("--window", type=float, default=0.5, help="seconds to collect answers")
    status.set_defaults(run=_status)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    janus_logging.configure("janus-cli", level=os.environ.get("JANUS_LOG_LEVEL", "WARNING"))
    return asyncio.run(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
