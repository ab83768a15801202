"""``janus-webull-sim``: run the simulator until interrupted."""

from __future__ import annotations

import argparse
import os
import asyncio
import signal

import structlog
from janus_common.logging import configure

from janus_webull_sim.config import SimConfig
from janus_webull_sim.simulator import WebullSimulator


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
    return p.parse_args(argv)


async def run(args: argparse.Namespace) -> None:
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
    async with WebullSimulator(config, seed=args.seed, host=args.host, http_port=args.port,
                               grpc_port=args.grpc_port) as sim:
        # One line a supervisor (or a person) can read the bound ports from.
        structlog.get_logger("webull-sim").info(
            "listening", http_port=sim.http_port, grpc_port=sim.grpc_port, app_key=sim.app_key,
            account_id=sim.account_id)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    configure("webull-sim", level=args.log_level)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
