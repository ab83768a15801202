"""``janus-webull-sim``: run the simulator until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

import structlog
from janus_common.logging import configure

from janus_webull_sim import state
from janus_webull_sim.config import SimConfig
from janus_webull_sim.engine import Engine
from janus_webull_sim.simulator import WebullSimulator

log = structlog.get_logger("webull-sim")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="janus-webull-sim", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8090, help="HTTP API (and /_sim admin) port; 0 picks one")
    p.add_argument("--grpc-port", type=int, default=8091, help="trade-event gRPC port; 0 picks one")
    p.add_argument("--app-key")
    # The secret may come from the environment so it never shows in a process list.
    p.add_argument("--app-secret", default=os.environ.get("JANUS_WEBULL_SIM_SECRET"))
    p.add_argument("--config", help="TOML file overriding SimConfig fields")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--tick-interval", type=float)
    p.add_argument("--ping-interval", type=float)
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--state", type=Path, metavar="FILE",
                   help="restore the book from FILE at start; save it there on a clean stop")
    args = p.parse_args(argv)
    # Found out now rather than at the stop, when the state could no longer be saved anywhere.
    if args.state is not None and not args.state.parent.is_dir():
        p.error(f"--state: no directory {args.state.parent}")
    return args


def load_state(engine: Engine, path: Path) -> None:
    """Take over a saved state; an unreadable file goes aside as FILE.bad: the run starts fresh."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        log.info("sim_state_absent", path=str(path))
        return
    except OSError as exc:
        _set_aside(path, f"cannot read: {exc.strerror or exc}")
        return
    try:
        restored = state.restore(engine, data)
    except state.StateUnreadable as exc:
        _set_aside(path, exc.reason)
        return
    log.info("sim_state_restored", path=str(path), accounts=list(restored.accounts),
             orders=restored.orders)
    if restored.skipped_anything:
        # Not written back at the next save: the file then holds only what this run could use.
        log.warning("sim_state_skipped", path=str(path), accounts=list(restored.skipped_accounts),
                    orders=list(restored.skipped_orders), symbols=list(restored.skipped_symbols))


def _set_aside(path: Path, reason: str) -> None:
    bad = path.with_name(path.name + ".bad")
    log.warning("sim_state_unreadable", path=str(path), reason=reason, moved_to=str(bad))
    try:
        os.replace(path, bad)
    except OSError as exc:
        log.warning("sim_state_set_aside_failed", path=str(path), error=str(exc))


def save_state(engine: Engine, path: Path) -> None:
    """Write FILE.tmp and rename it over FILE, so a crash mid-write leaves the old state whole."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(state.snapshot(engine))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    log.info("sim_state_saved", path=str(path), orders=len(engine.orders))


async def run(args: argparse.Namespace) -> int:
    config = SimConfig.from_file(args.config) if args.config else SimConfig()
    overrides = {k: v for k, v in {
        "app_key": args.app_key, "app_secret": args.app_secret,
        "tick_interval": args.tick_interval, "ping_interval": args.ping_interval,
    }.items() if v is not None}
    config = config.with_overrides(**overrides)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sim = WebullSimulator(config, seed=args.seed, host=args.host, http_port=args.port,
                          grpc_port=args.grpc_port)
    if args.state is not None:
        load_state(sim.engine, args.state)
    async with sim:
        # One line a supervisor (or a person) can read the bound ports from.
        log.info("listening", http_port=sim.http_port, grpc_port=sim.grpc_port, app_key=sim.app_key,
                 account_id=sim.account_id)
        await stop.wait()
    # Saved once the servers are closed and the ticks stopped: nothing can change it any more.
    if args.state is not None:
        try:
            save_state(sim.engine, args.state)
        except OSError as exc:
            log.error("sim_state_save_failed", path=str(args.state), error=str(exc))
            return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure("webull-sim", level=args.log_level)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
