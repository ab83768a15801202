"""janus-ib-sim: a local TWS for Janus and for people rehearsing against IB.

    janus-ib-sim --host 127.0.0.1 --port 7497 [--config FILE] [--seed N] [--admin-port 7498]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from datetime import date
from pathlib import Path

import structlog
import yaml

from janus_common import logging as janus_logging

from . import state
from .admin import serve_admin
from .catalogue import from_config
from .simulator import IBSimulator

log = structlog.get_logger()


def build(args: argparse.Namespace) -> IBSimulator:
    raw = yaml.safe_load(Path(args.config).read_text()) if args.config else {}
    raw = raw or {}
    accounts = [(a["number"], float(a.get("cash", 1_000_000))) for a in raw.get("accounts", [])] or None
    if args.account:
        accounts = [(number, 1_000_000.0) for number in args.account]
    catalogue = from_config(raw["contracts"]) if raw.get("contracts") else None
    fixed = date.fromisoformat(args.today) if args.today else None
    return IBSimulator(accounts=accounts, catalogue=catalogue, seed=args.seed, host=args.host, port=args.port,
                       tick_interval=float(raw.get("tick_interval", args.tick_interval)),
                       bar_interval=float(raw.get("bar_interval", args.bar_interval)),
                       clock=(lambda: fixed) if fixed else None,
                       session_length=float(raw.get("session_hours", args.session_hours)) * 3600)


async def run(args: argparse.Namespace) -> int:
    sim = build(args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # The control interface binds first: once the API port answers (what `make run` waits for),
    # both do.
    state_file = Path(args.state) if args.state else None
    if state_file is not None:
        state.load(sim, state_file)
    admin = await serve_admin(sim, args.host, args.admin_port) if args.admin_port is not None else None
    try:
        async with sim:
            await stop.wait()
        if state_file is not None:
            state.save(sim, state_file)
    finally:
        if admin is not None:
            admin.close()
            with contextlib.suppress(Exception):
                await admin.wait_closed()
    log.info("ib_sim_stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="janus-ib-sim", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7497)
    p.add_argument("--config", default=None, help="YAML: accounts [{number, cash}], contracts, intervals")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--account", action="append", default=[],
                   help="a managed account number (repeat for several); default DU1000001, DU1000002")
    p.add_argument("--admin-port", type=int, default=None, help="HTTP control interface (off by default)")
    p.add_argument("--state", default=None,
                   help="keep accounts, orders, executions and prices in this file across restarts")
    p.add_argument("--today", default=None, metavar="YYYY-MM-DD",
                   help="list the contracts of this day instead of today's (UTC) — rehearse a roll")
    p.add_argument("--tick-interval", type=float, default=0.25)
    p.add_argument("--bar-interval", type=float, default=5.0)
    p.add_argument("--session-hours", type=float, default=6.5,
                   help="length of a trading session; the first opens at start (POST /session to drive it)")
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    janus_logging.configure("ib-sim", level=args.log_level)
    try:
        return asyncio.run(run(args))
    except (OSError, ValueError, KeyError) as exc:
        log.error("ib_sim_failed", error=type(exc).__name__, detail=str(exc))
        return 2


if __name__ == "__main__":
    sys.exit(main())
