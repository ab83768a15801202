"""``janus-pricer --config config.yaml``: the price cache and the debounced valuations.

Wiring only: the runner (flags, config, NATS, micro registration as ``janus-pricer``,
graceful stop) comes from ``janus_common.service``; the pricer's state and handlers from
``pricer``, its pure logic from ``quotes``, ``valuation``, ``debounce``, ``holdings`` and
``subscriptions``.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence

import nats.js.errors
from nats.js.api import DeliverPolicy

from janus_common import ratelimit, service, subjects
from janus_common.bus import Consumer
from janus_common.config import ConfigError
from janus_common.messages import (
    MD_REQUEST,
    POSITION_EVENTS,
    MarketDataSubscribe,
    MarketDataSubscribed,
    MarketDataUnsubscribe,
)
from janus_common.symbols import SymbolError, normalize

from . import __version__
from .mdsub import MarketDataSubscriptions
from .pricer import Pricer

NAME = "janus-pricer"
POSITIONS_DURABLE = "pricer-positions"


async def setup(ctx: service.ServiceContext) -> None:
    config = ctx.config
    if config is None:
        raise ConfigError("", "the pricer needs a configuration (--config)")
    settings = config.pricer
    if not 200 <= settings.debounce_ms <= 500:
        raise ConfigError("pricer.debounce_ms", "must be between 200 and 500")
    if settings.stale_after_s <= 0:
        raise ConfigError("pricer.stale_after_s", "must be positive")

    md = MarketDataSubscriptions(ctx.nc, requester=NAME)
    pricer = Pricer(ctx.nc, ctx.js, debounce_ms=settings.debounce_ms,
                    stale_after_s=settings.stale_after_s, max_clock_skew_s=settings.max_clock_skew_s,
                    accounts=config.accounts, md=md)
    ctx.pricer = pricer  # type: ignore[attr-defined]  # for in-process tests and benchmarks
    await pricer.start()
    ctx.on_stop(pricer.stop)

    # Positions live in memory only, so every start must see the latest snapshot of every
    # account: the durable is made anew from the last message per subject.
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await ctx.js.delete_consumer("EVENTS", POSITIONS_DURABLE)
    positions = await ctx.add_consumer(Consumer(
        ctx.js, stream="EVENTS", durable=POSITIONS_DURABLE,
        filter_subject=subjects.ALL_POSITION_EVENTS, codec=POSITION_EVENTS,
        handler=pricer.on_position, deliver_policy=DeliverPolicy.LAST_PER_SUBJECT))

    async def release_positions() -> None:
        # bus.Consumer.stop leaves its pull subscription open; a fetch's late status message
        # then sits in it and the final drain waits 30 s for nobody to read it
        if positions._sub is not None:
            with contextlib.suppress(Exception):
                await positions._sub.unsubscribe()

    ctx.on_stop(release_positions)

    async def client_subscribe(request: MarketDataSubscribe | MarketDataUnsubscribe
                               ) -> MarketDataSubscribed:
        good, failed = [], {}
        for symbol in request.symbols:
            try:
                good.append(normalize(symbol))
            except SymbolError as exc:
                failed[symbol] = f"INVALID_SYMBOL: {exc}"
        current = pricer.requested.get(request.requester, frozenset())
        if isinstance(request, MarketDataSubscribe):
            pricer.request_symbols(request.requester, current | frozenset(good))
        else:
            pricer.request_symbols(request.requester, current - frozenset(good))
        return MarketDataSubscribed(subscribed=good, failed=failed)

    # Clients (the CLI, a UI, the router's price checks) ask the pricer — not the gateway — for
    # prices they want: the pricer aggregates everyone's interest into one subscription set.
    await ctx.add_rpc("subscribe", subjects.RPC_PRICER_SUBSCRIBE, MD_REQUEST, client_subscribe,
                      limit=ratelimit.limiter("pricer-subscribe", ratelimit.rate_limits(ctx.config).md_subscribe, ctx.config),
                      charged=lambda request: isinstance(request, MarketDataSubscribe))
    ctx.spawn(md.run(), "md-subscriptions")
    ctx.on_stop(md.stop)


def main(argv: Sequence[str] | None = None) -> int:
    return service.run(NAME, __version__, setup,
                       description="Janus pricer: price cache, valuations, debounced snapshots",
                       argv=argv)


if __name__ == "__main__":
    sys.exit(main())
