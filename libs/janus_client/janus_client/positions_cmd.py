"""`janus positions` (the latest valuations) and `janus watch` (the same, live)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from janus_common.messages import AccountValuation

from . import positions_view, valuations
from .client import JanusClient
from .connect import connect_or_explain

from .exits import EXIT_NOTHING, EXIT_OK, EXIT_UNREACHABLE
CLEAR = "\x1b[H\x1b[2J"


async def positions_command(args: argparse.Namespace, nats_url: str) -> int:
    nc = await connect_or_explain(nats_url)
    if nc is None:
        return EXIT_UNREACHABLE
    try:
        found = await valuations.latest(nc.jetstream(), args.account)
    finally:
        await nc.close()
    if args.json:
        print(positions_view.render_json(found))
    elif found:
        print(positions_view.render_table(found))
    else:
        print("no valuations yet (is janus-pricer running, and does the account hold anything?)", file=sys.stderr)
    return EXIT_OK if found else EXIT_NOTHING


async def watch_command(args: argparse.Namespace, nats_url: str) -> int:
    nc = await connect_or_explain(nats_url)
    if nc is None:
        return EXIT_UNREACHABLE
    interactive = sys.stdout.isatty() and not args.json
    # Subscribed (and flushed) before KV is read: nothing published in between is missed.
    live = await JanusClient(nc).follow_valuations(args.account)
    shown = {v.account: v for v in await valuations.latest(nc.jetstream(), args.account)}

    def show(changed: list[AccountValuation]) -> None:
        if args.json:
            for v in changed:
                print(positions_view.render_json([v]), flush=True)
            return
        table = positions_view.render_table(sorted(shown.values(), key=lambda v: v.account))
        head = (CLEAR if interactive else "") + time.strftime("%H:%M:%S") + "  (Ctrl-C to stop)\n"
        print(head + table, flush=True)

    try:
        show(list(shown.values()))
        async for valuation in live:
            shown[valuation.account] = valuation
            show([valuation])
    finally:
        await live.close()
        await nc.close()
    return EXIT_OK  # the feed ended (main() also answers Ctrl-C with EXIT_OK)


def add(sub: argparse._SubParsersAction[argparse.ArgumentParser],
        nats_url: Callable[[argparse.Namespace], str]) -> None:
    positions = sub.add_parser("positions", help="positions with their valuations and price provenance")
    positions.add_argument("--account", default=None)
    positions.set_defaults(run=lambda a: positions_command(a, nats_url(a)))
    watch = sub.add_parser("watch", help="the positions table, refreshed as valuations arrive (Ctrl-C stops)")
    watch.add_argument("--account", default=None)
    watch.set_defaults(run=lambda a: watch_command(a, nats_url(a)))
