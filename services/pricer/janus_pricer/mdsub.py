"""Asking the market-data account to stream what the pricer needs. Adapter.

The IB gateway of the market-data account serves ``janus.rpc.md.subscribe``. It may be
absent, restarting or slow: then this logs, retries with backoff and the pricer keeps serving
with the prices it has. Everything is re-asked every ``refresh_s`` so a gateway that
restarted (and forgot) streams again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import nats.errors
import structlog
from nats.aio.client import Client as NATS

from janus_common import bus, subjects
from janus_common.messages import (
    MD_REPLY,
    MarketDataSubscribe,
    MarketDataSubscribed,
    MarketDataUnsubscribe,
    MessageDecodeError,
    RpcError,
)

from . import subscriptions
from .subscriptions import Plan

log = structlog.get_logger()


class MarketDataSubscriptions:
    def __init__(self, nc: NATS, *, requester: str = "janus-pricer", timeout: float = 2.0,
                 retry_min_s: float = 0.5, retry_max_s: float = 30.0,
                 refresh_s: float = 300.0) -> None:
        self.nc = nc
        self.requester = requester
        self.timeout = timeout
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self.refresh_s = refresh_s
        self.wanted: frozenset[str] = frozenset()
        self.active: frozenset[str] = frozenset()
        self.failures = 0
        self._wake = asyncio.Event()
        # set each time a round ends with everything wanted active (tests and operators wait on it)
        self.settled = asyncio.Event()
        self.unavailable = asyncio.Event()  # set when an ask failed (no gateway, refusal, …)
        self._stopped = False

    def want(self, symbols: frozenset[str]) -> None:
        if symbols != self.wanted:
            self.wanted = symbols
            self.settled.clear()
            self._wake.set()

    async def run(self) -> None:
        delay = self.retry_min_s
        refreshed = time.monotonic()
        while not self._stopped:
            if time.monotonic() - refreshed >= self.refresh_s:
                self.active, refreshed = frozenset(), time.monotonic()  # ask again for all
            plan = subscriptions.plan(self.wanted, self.active)
            ok = await self._apply(plan) if plan else True
            if ok:
                delay = self.retry_min_s
                if not subscriptions.plan(self.wanted, self.active):
                    self.settled.set()
                wait = self.refresh_s - (time.monotonic() - refreshed)
            else:
                wait, delay = delay, min(delay * 2, self.retry_max_s)
            self._wake.clear()
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(wait, 0.0)):
                    await self._wake.wait()

    async def stop(self) -> None:
        """Ends ``run`` at its next step. A flag as well as the task's cancellation: nats-py's
        request (asyncio.wait_for on 3.11) can swallow a cancel that races its reply."""
        self._stopped = True
        self._wake.set()

    async def _apply(self, plan: Plan) -> bool:
        ok = True
        if plan.subscribe:
            reply = await self._ask(MarketDataSubscribe(symbols=list(plan.subscribe),
                                                        requester=self.requester))
            if reply is None:
                ok = False
            else:
                self.active = subscriptions.after_subscribe(self.active, reply)
                if reply.failed:
                    log.warning("md_subscribe_partial", failed=reply.failed)
                    ok = False  # retried with backoff; the rest keeps streaming
                log.info("md_subscribed", symbols=reply.subscribed)
        if plan.unsubscribe:
            reply = await self._ask(MarketDataUnsubscribe(symbols=list(plan.unsubscribe),
                                                          requester=self.requester))
            if reply is None:
                ok = False
            else:
                self.active = subscriptions.after_unsubscribe(self.active, plan.unsubscribe)
                log.info("md_unsubscribed", symbols=list(plan.unsubscribe))
        return ok

    def _failed(self) -> None:
        self.failures += 1
        self.unavailable.set()

    async def _ask(self, request: MarketDataSubscribe | MarketDataUnsubscribe
                   ) -> MarketDataSubscribed | None:
        try:
            reply = await bus.request(self.nc, subjects.RPC_MD_SUBSCRIBE, request, MD_REPLY,
                                      timeout=self.timeout)
        except bus.BusError as exc:
            self._failed()
            log.warning("md_subscribe_unavailable", error=type(exc).__name__, reason=exc.reason,
                        request=type(request).__name__, symbols=len(request.symbols))
            return None
        except (nats.errors.Error, OSError) as exc:  # reconnecting, closing: same as absent
            self._failed()
            log.warning("md_subscribe_unavailable", error=type(exc).__name__, reason="NATS",
                        request=type(request).__name__, symbols=len(request.symbols))
            return None
        except MessageDecodeError as exc:
            self._failed()
            log.error("md_subscribe_bad_reply", error="MessageDecodeError", reason=exc.reason)
            return None
        if isinstance(reply, RpcError):
            self._failed()
            log.warning("md_subscribe_refused", reason=str(reply.reason), message=reply.message)
            return None
        return reply
