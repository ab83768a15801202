"""Per-caller budgets for the expensive RPCs (registry look-ups, harmony, market-data
subscriptions): a rolling window, pure, and the thin edge that applies it.

The caller is read from the request's reply subject. Under the bus permissions every connection
uses the inbox prefix ``_INBOX.<identity>`` and may subscribe only below it, so a request it wants
an answer to carries ``_INBOX.<identity>.…``. nats-py's requests answer on
``<prefix>.<nuid>.<token>``: with the default prefix that is ``_INBOX.<nuid>.<token>`` (three
tokens), with ``_INBOX.<identity>`` it is ``_INBOX.<identity>.<nuid>.<token>`` (four). So four
tokens or more name a caller; anything shorter (the default prefix, nats-py's old-style
``_INBOX.<identity>.<nuid>`` too, which three tokens cannot tell apart from the default) is
``anonymous``, and every anonymous caller shares one budget: a connection that could pick a new
name per request must not get a new budget per request.

The window is a log of the admitted calls of the last ``window_s`` seconds (at most ``limit`` of
them), not a token bucket: "at most N in any W seconds" is what the refusal says, and it is
exactly that, with nothing to tune about bursts.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import structlog

from .authz import INBOX, identities
from .bus import rpc_handler
from .config import JanusConfig, RateLimitsConfig, RateWindow
from .messages import ID_MAX, Codec, RejectReason, RpcError

__all__ = ["ANONYMOUS", "Log", "RateLimiter", "Window", "admit", "caller_of", "caller_rpc", "limited", "limiter",
           "rate_limits", "retry_after"]

log = structlog.get_logger()

ANONYMOUS = "anonymous"
# Past this many callers with a live window, new ones share one budget: random names in reply
# subjects must not grow the table without bound.
MAX_CALLERS = 10_000
OVERFLOW = "overflow"

Log = tuple[float, ...]  # the admitted calls' times inside the window, oldest first


@dataclass(frozen=True)
class Window:
    limit: int  # calls admitted per caller ...
    window_s: float  # ... in any window this long


def admit(calls: Log, now: float, w: Window) -> tuple[bool, Log]:
    """Whether one more call at ``now`` fits, and the log after it. Times never go back (a
    monotonic clock); one that does is taken as the latest time seen."""
    if calls and now < calls[-1]:
        now = calls[-1]
    recent = calls[bisect_right(calls, now - w.window_s):]
    if len(recent) >= w.limit:
        return False, recent
    return True, (*recent, now)


def retry_after(calls: Log, now: float, w: Window) -> float:
    """Seconds until a refused caller's oldest call leaves the window."""
    return max(0.0, calls[0] + w.window_s - now) if calls else 0.0


def idle(calls: Log, now: float, w: Window) -> bool:
    """Nothing in the window: the caller has its whole budget, its log can go."""
    return not calls or calls[-1] <= now - w.window_s


def caller_of(reply: str | None) -> str:
    """The identity in a reply subject ``_INBOX.<identity>.<nuid>.<token>``, else ``anonymous``."""
    tokens = (reply or "").split(".")
    if len(tokens) >= 4 and tokens[0] == INBOX and tokens[1]:
        return tokens[1][:ID_MAX]  # a bounded Word in the refusal
    return ANONYMOUS


class RateLimiter:
    """The budgets of one RPC, per caller (the imperative shell around :func:`admit`)."""

    def __init__(self, rpc: str, window: Window, *, clock: Callable[[], float] = time.monotonic,
                 max_callers: int = MAX_CALLERS, known: frozenset[str] | None = None) -> None:
        self.rpc = rpc
        # The identities the bus admits (janus_common.authz): a name in a reply subject that is
        # none of them is made up (the server does not check reply subjects), so it gets no
        # budget of its own and shares the anonymous one.
        self.known = known
        self.window = window
        self.clock = clock
        self.max_callers = max_callers
        self._calls: dict[str, Log] = {}

    def charge(self, caller: str) -> RpcError | None:
        """Count one call of ``caller``; the refusal to answer when it is over its budget."""
        now = self.clock()
        if self.known is not None and caller not in self.known:
            caller = ANONYMOUS
        key = self._key(caller, now)
        ok, calls = admit(self._calls.get(key, ()), now, self.window)
        self._calls[key] = calls
        if ok:
            return None
        w = self.window
        log.warning("rpc_rate_limited", rpc=self.rpc, caller=caller, limit=w.limit, window_s=w.window_s)
        return RpcError(reason=RejectReason.RATE_LIMITED, limit=w.limit, window_s=w.window_s, caller=caller,
                        message=f"{self.rpc}: {caller} made {w.limit} calls in the last {w.window_s:g} s, "
                                f"the most allowed; retry in {retry_after(calls, now, w):.1f} s")

    def _key(self, caller: str, now: float) -> str:
        if caller in self._calls or len(self._calls) < self.max_callers:
            return caller
        for name in [n for n, calls in self._calls.items() if idle(calls, now, self.window)]:
            del self._calls[name]
        return caller if len(self._calls) < self.max_callers else OVERFLOW


def reply_of(request: Any) -> str | None:
    """The reply subject of a NATS micro request (nats-py keeps it on the wrapped message)."""
    msg = getattr(request, "_msg", request)
    reply = getattr(msg, "reply", None)
    return reply if isinstance(reply, str) else None


def caller_rpc(codec: Codec[Any], handler: Callable[[Any, str], Awaitable[msgspec.Struct]]
               ) -> Callable[[Any], Awaitable[None]]:
    """:func:`janus_common.bus.rpc_handler`, with the caller (:func:`caller_of` the reply
    subject) handed to the typed handler beside the request."""

    async def endpoint(request: Any) -> None:
        caller = caller_of(reply_of(request))

        async def typed(message: Any) -> msgspec.Struct:
            return await handler(message, caller)

        await rpc_handler(codec, typed)(request)

    return endpoint


def limited(limiter: RateLimiter, handler: Callable[[Any], Awaitable[msgspec.Struct]],
            charged: Callable[[Any], bool] = lambda _: True) -> Callable[[Any, str], Awaitable[msgspec.Struct]]:
    """``handler`` behind ``limiter``: each request ``charged`` counts against its caller."""

    async def handle(message: Any, caller: str) -> msgspec.Struct:
        if charged(message):
            refused = limiter.charge(caller)
            if refused is not None:
                return refused
        return await handler(message)

    return handle


def limiter(rpc: str, window: RateWindow, config: JanusConfig | None = None) -> RateLimiter:
    """A limiter with a budget from ``config.yaml`` (``rate_limits:``); with the configuration,
    only its identities get budgets of their own."""
    known = frozenset(identities(config)) if config is not None else None
    return RateLimiter(rpc, Window(limit=window.limit, window_s=window.window_s), known=known)


def rate_limits(config: JanusConfig | None) -> RateLimitsConfig:
    return config.rate_limits if config is not None else RateLimitsConfig()
