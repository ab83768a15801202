"""janus-router: consumes INTENTS, decides, and routes — N replicas share the work.

Scale-out: every account has its own durable pull consumer (``router-<account>``) shared by
all replicas with ``max_ack_pending=1``, so exactly one replica holds an account's next intent
at any moment and per-account order is kept; different accounts proceed in parallel on
different replicas. If a replica dies holding an intent, JetStream redelivers it to another
replica after ``ack_wait``; that replica's ledger (the EVENTS projection, caught up before each
decision) already shows any outcome the dead one published, so nothing is decided twice.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable

import structlog

from janus_common import bus, capabilities, subjects
from janus_common.messages import (
    CAPABILITIES_REQUEST,
    INTENTS,
    CapabilitiesReply,
    CapabilitiesRequest,
    RejectReason,
    RpcError,
)
from janus_common.service import ServiceContext, run
from janus_common.snapshots import SNAPSHOT_EVERY_EVENTS, SNAPSHOT_EVERY_S
from janus_common.subjects import SubjectError

from .follower import EventFollower
from .resolver import SymbolResolver
from .router import Router
from .rules import AccountRules

log = structlog.get_logger()
VERSION = "0.1.0"


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ack-wait", type=float, default=10.0,
                        help="seconds before an intent held by a dead replica goes to another one")
    parser.add_argument("--resolve-timeout", type=float, default=4.0)
    parser.add_argument("--snapshot-every-events", type=int, default=SNAPSHOT_EVERY_EVENTS,
                        help="save the ledger's snapshot after at least this many new events ...")
    parser.add_argument("--snapshot-every-s", type=float, default=SNAPSHOT_EVERY_S,
                        help="... and at least this many seconds since the last one")


async def setup(ctx: ServiceContext) -> None:
    assert ctx.config is not None
    rules = {alias: AccountRules.from_config(alias, acc) for alias, acc in ctx.config.accounts.items()}
    follower = EventFollower(ctx.js, snapshot_every_events=ctx.args.snapshot_every_events,
                             snapshot_every_s=ctx.args.snapshot_every_s)
    await follower.start()
    ctx.on_stop(follower.stop)

    def resume() -> None:
        ctx.spawn(follower.resume(), "follower-resume")

    ctx.on_reconnect(resume)
    await follower.replay()
    log.info("ledger_rebuilt", events=follower.ledger.applied, orders=len(follower.ledger.orders))
    resolver = SymbolResolver(ctx.nc, timeout=min(ctx.args.resolve_timeout, ctx.args.ack_wait / 2))
    follower.on_registry = resolver.written
    router = Router(ctx.nc, ctx.js, rules, follower, resolver, max_intent_age_s=ctx.config.router.max_intent_age_s)
    await router.prices.start()
    ctx.spawn(router.prices.follow(), "reference-prices")
    ctx.on_stop(router.prices.stop)

    for alias in rules:
        await ctx.add_consumer(bus.Consumer(
            ctx.js, stream="INTENTS", durable=f"router-{alias}",
            filter_subject=[subjects.intent(alias), subjects.control(alias)],
            codec=INTENTS, handler=router.handle, on_decode_error=router.on_decode_error,
            on_dead_letter=router.on_dead_letter, max_ack_pending=1, ack_wait=ctx.args.ack_wait, batch=1,
            # The bus away for a moment (a NATS restart, an election) is waited out: an outage
            # must not turn good intents into dead letters.
            transient=bus.is_transient))

    for alias, account_rules in rules.items():
        await ctx.add_rpc(f"capabilities-{alias}", subjects.rpc_capabilities(alias), CAPABILITIES_REQUEST,
                          _capabilities(account_rules))

    known = set(rules)

    def unknown_account(subject: str) -> bool:
        try:
            return subjects.account_of(subject) not in known
        except SubjectError:
            return True

    # Intents for accounts this Janus does not have would otherwise wait forever unread.
    await ctx.add_consumer(bus.Consumer(
        ctx.js, stream="INTENTS", durable="router-unknown-accounts",
        filter_subject=[subjects.ALL_INTENTS, subjects.ALL_CONTROL],
        codec=INTENTS, handler=router.handle, on_decode_error=router.on_decode_error,
        on_dead_letter=router.on_dead_letter, transient=bus.is_transient, accepts=unknown_account,
        ack_wait=ctx.args.ack_wait))


def _capabilities(rules: AccountRules) -> Callable[[CapabilitiesRequest], Awaitable[CapabilitiesReply]]:
    """The account's capability table, as the router decides from it (one endpoint per account,
    on the account's own subject: a client allowed one account cannot ask about another)."""
    async def answer(request: CapabilitiesRequest) -> CapabilitiesReply:
        if request.account != rules.account:
            return RpcError(reason=RejectReason.ACCOUNT_MISMATCH,
                            message=f"asked about {request.account!r} on the subject of {rules.account!r}")
        return capabilities.answer(rules.account, rules.broker, rules.caps(), allow_short=rules.allow_short,
                                   fallback=rules.fallback)
    return answer


def main(argv: list[str] | None = None) -> int:
    return run("janus-router", VERSION, setup, description="Janus order router", argv=argv,
               add_arguments=_arguments)


if __name__ == "__main__":
    sys.exit(main())
