"""`janus events`: list the EVENTS stream (or follow it live) with filters."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from datetime import datetime, timezone

import msgspec
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy

from janus_common.messages import ANY_EVENT, MessageDecodeError
from janus_common.streams import EVENTS_STREAM

from .audit_cmd import READ_ERRORS, decode_all, events_subject, parse_since, read_events, read_failed
from .connect import connect_or_explain

from .exits import EXIT_UNREACHABLE, EXIT_USAGE


def matches(event: object, args: argparse.Namespace) -> bool:
    if args.kind and type(event).__name__ not in args.kind:
        return False
    if args.intent and getattr(event, "intent_id", None) != args.intent:
        return False
    return True


def line(event: msgspec.Struct) -> str:
    ts = getattr(event, "ts", 0) or 0
    when = datetime.fromtimestamp(ts / 1e9, tz=timezone.utc).strftime("%H:%M:%S.%f")[:-3] if ts else "-"
    account = getattr(event, "account", "") or ""
    intent = getattr(event, "intent_id", "") or ""
    detail = {k: v for k, v in msgspec.structs.asdict(event).items()
              if k not in ("event_id", "ts", "account", "intent_id", "intent", "orders", "prev_hash")}
    return f"{when} {account:<8} {type(event).__name__:<20} {intent} {msgspec.json.encode(detail).decode()}"


def show(event: msgspec.Struct, args: argparse.Namespace) -> None:
    print(msgspec.json.encode(event).decode() if args.json else line(event), flush=True)


async def events_command(args: argparse.Namespace, nats_url: str) -> int:
    try:
        since = parse_since(args.since)
        subject = events_subject(args.account)
    except ValueError as exc:
        print(f"janus events: {exc}", file=sys.stderr)
        return EXIT_USAGE
    nc = await connect_or_explain(nats_url, "janus-events")
    if nc is None:
        return EXIT_UNREACHABLE
    js = nc.jetstream()
    try:
        if not args.follow:
            events = decode_all(await read_events(js, account=args.account, since=since))
            found = [e for e in events if matches(e, args)]
            for event in found[-args.last:] if args.last else found:
                show(event, args)
            return 0
        queue: asyncio.Queue[msgspec.Struct] = asyncio.Queue()

        async def on_msg(msg: Msg) -> None:
            try:
                await queue.put(ANY_EVENT.decode(msg.data, subject=msg.subject))
            except MessageDecodeError as exc:
                print(f"(undecodable event on {exc.subject})", file=sys.stderr)

        sub = await js.subscribe(subject, stream=EVENTS_STREAM, ordered_consumer=True, cb=on_msg,
                                 deliver_policy=DeliverPolicy.NEW)
        await nc.flush()
        print(f"following {subject} (Ctrl-C stops)", file=sys.stderr, flush=True)
        try:
            while True:
                event = await queue.get()
                if matches(event, args):
                    show(event, args)
        finally:
            await sub.unsubscribe()
    except READ_ERRORS as exc:
        return read_failed("janus events", exc)
    finally:
        await nc.close()


def add(sub: argparse._SubParsersAction[argparse.ArgumentParser],
        nats_url: Callable[[argparse.Namespace], str]) -> None:
    events = sub.add_parser("events", help="list (or --follow) the event stream, with filters")
    events.add_argument("--account", default=None)
    events.add_argument("--kind", action="append", default=[], help="event class, e.g. OrderFilled (repeatable)")
    events.add_argument("--intent", default=None, help="only this intent's events")
    events.add_argument("--since", default=None, help="ISO time")
    events.add_argument("--last", type=int, default=0, help="only the last N matches")
    events.add_argument("--follow", action="store_true", help="print new events as they happen (Ctrl-C stops)")
    events.set_defaults(run=lambda a: events_command(a, nats_url(a)))
