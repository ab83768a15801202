"""`janus positions` (the broker's positions, valued where the pricer has caught up) and
`janus watch` (the same, live). Both show :func:`positions_view.merge` of the latest broker
snapshot, the fills since and the latest valuation, so a position is listed the moment its
fill is recorded, before any valuation prices it."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from janus_common import messages as m
from janus_common import subjects

from . import holdings, positions_view, valuations
from .client import Feed
from .connect import connect_or_explain

from .exits import EXIT_NOTHING, EXIT_OK, EXIT_UNREACHABLE
CLEAR = "\x1b[H\x1b[2J"
# What `janus watch` listens to: valuations, position snapshots, order events (fills).
_WATCHED: m.Codec[Any] = m.Codec("watch", m.AccountValuation | m.PositionEvent | m.OrderLifeEvent)


async def positions_command(args: argparse.Namespace, nats_url: str) -> int:
    nc = await connect_or_explain(nats_url)
    if nc is None:
        return EXIT_UNREACHABLE
    try:
        js = nc.jetstream()
        found = valuations.latest(js, args.account)
        broker = await holdings.read(js, args.account)
        views = positions_view.merge(broker.snapshots, broker.fills, await found)
    finally:
        await nc.close()
    views = [v for v in views if v.positions or v.valuation_ts is not None]
    if args.json:
        print(positions_view.render_json(views))
    elif views:
        print(positions_view.render_table(views))
    else:
        print("no positions yet (does the account hold anything?)", file=sys.stderr)
    return EXIT_OK if views else EXIT_NOTHING


class _Live:
    """What `janus watch` shows, kept current from the live subjects."""

    def __init__(self, broker: holdings.BrokerPositions, vals: list[m.AccountValuation]) -> None:
        self.broker = broker
        self.valuations = {v.account: v for v in vals}

    def apply(self, message: Any) -> str | None:
        """Fold one message in; the account it changed (None: nothing shown changed)."""
        if isinstance(message, m.AccountValuation):
            self.valuations[message.account] = message
        elif isinstance(message, m.PositionSnapshot):
            self.broker.snapshots[message.account] = message
            self.broker.fills.pop(message.account, None)  # the snapshot reports them now
        elif isinstance(message, m.OrderFilled):
            self.broker.fills.setdefault(message.account, []).append(message)
        else:
            return None
        return message.account

    def views(self) -> list[positions_view.AccountView]:
        return positions_view.merge(self.broker.snapshots, self.broker.fills, self.valuations.values())


async def watch_command(args: argparse.Namespace, nats_url: str) -> int:
    nc = await connect_or_explain(nats_url)
    if nc is None:
        return EXIT_UNREACHABLE
    interactive = sys.stdout.isatty() and not args.json
    # Subscribed (and flushed) before anything is read: nothing published in between is missed
    # (a fill seen twice, live and in the read, is harmless: the next snapshot replaces both).
    account = args.account
    feed = Feed(_WATCHED)
    subs = [await nc.subscribe(subject, cb=feed.on_msg) for subject in (
        subjects.val(account) if account else subjects.ALL_VALUATIONS,
        subjects.evt_position(account) if account else subjects.ALL_POSITION_EVENTS,
        subjects.evt_order(account) if account else subjects.ALL_ORDER_EVENTS)]
    await nc.flush()
    js = nc.jetstream()
    live = _Live(await holdings.read(js, account), await valuations.latest(js, account))

    def show(changed: str | None) -> None:
        views = live.views()
        if args.json:
            for v in views if changed is None else [v for v in views if v.account == changed]:
                print(positions_view.render_json([v]), flush=True)
            return
        head = (CLEAR if interactive else "") + time.strftime("%H:%M:%S") + "  (Ctrl-C to stop)\n"
        print(head + positions_view.render_table(views), flush=True)

    try:
        show(None)
        async for message in feed:
            changed = live.apply(message)
            if changed is not None:
                show(changed)
    finally:
        for sub in subs:
            await sub.unsubscribe()
        await nc.close()
    return EXIT_OK  # the feed ended (main() also answers Ctrl-C with EXIT_OK)


def add(sub: argparse._SubParsersAction[argparse.ArgumentParser],
        nats_url: Callable[[argparse.Namespace], str]) -> None:
    positions = sub.add_parser("positions", help="positions (the broker's, at once) with their valuations "
                                                 "and price provenance")
    positions.add_argument("--account", default=None)
    positions.set_defaults(run=lambda a: positions_command(a, nats_url(a)))
    watch = sub.add_parser("watch", help="the positions table, refreshed as fills and valuations arrive (Ctrl-C stops)")
    watch.add_argument("--account", default=None)
    watch.set_defaults(run=lambda a: watch_command(a, nats_url(a)))
