"""The order side of the gateway: places each broker order at most once, and turns what the
trade-event stream and REST polling say into Janus events exactly once.

At most once: before placing, the track (rebuilt from EVENTS) and then Webull itself (order
detail by client_order_id) are asked whether the order exists. An ambiguous failure (429, 5xx,
a dropped connection) is never retried blind: the order detail decides whether it was placed.

Exactly once: every observation, whichever way it came, goes through the pure tracker under one
lock, so two sources saying the same thing publish it once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from nats.js import JetStreamContext

from janus_common import bus, subjects
from janus_common.messages import (
    ORDER_EVENTS,
    Broker,
    CancelOrder,
    OrderEvent,
    OrderRouted,
    OrderState,
    PlaceOrder,
    order_key,
)

from . import tracker
from .mapping import Observation, RouteError, client_order_id, from_event, from_group, new_order
from .tracker import OrderTrack
from .webull_api import WebullApi, WebullError

log = structlog.get_logger()


class NotReady(RuntimeError):
    """Webull is not reachable: the route message is retried later (the broker check first)."""


def _pause(exc: WebullError, delay: float) -> float:
    # A 429 asks for a second (Webull's Retry-After): hammering sooner only extends the limit.
    return max(delay, 1.0) if exc.http_status == 429 else delay


class OrderDesk:
    def __init__(self, api: WebullApi, js: JetStreamContext, alias: str, ready: asyncio.Event, *,
                 retries: int = 6, backoff: float = 0.2, max_backoff: float = 5.0) -> None:
        self.api = api
        self.js = js
        self.alias = alias
        self.ready = ready
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.tracks: dict[str, OrderTrack] = {}
        self.by_coid: dict[str, str] = {}  # client_order_id → order key (the reverse mapping)
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.on_fill: Callable[[], None] = lambda: None
        self._lock = asyncio.Lock()
        # Keys whose place call is under way: Webull's own answer (400 + error code) is what a
        # refusal is published with, not the FAILED event that may overtake it on the stream.
        self._placing: set[str] = set()
        # A SELL crossing zero arrives as leg 0 SELL + leg 1 SHORT. Webull refuses a SHORT while
        # the account is still long, so a later leg waits here (keyed by the leg before it) until
        # that leg has filled. Routed legs are rebuilt from EVENTS, so a restart loses none.
        self.deferred: dict[str, PlaceOrder] = {}
        self.routed: dict[str, PlaceOrder] = {}

    # --- state from EVENTS ----------------------------------------------------------------

    async def rebuild(self) -> None:
        for event in await bus.history(self.js, "EVENTS", subjects.evt_order(self.alias), ORDER_EVENTS):
            self._replay(event)
        log.info("order_state_rebuilt", orders=len(self.tracks))
        for key, order in self.routed.items():
            track = self.tracks.get(key)
            if order.leg > 0 and track is not None and not (track.submitted or track.finished):
                self.deferred[order_key(order.intent_id, order.leg - 1)] = order

    async def release_deferred(self) -> None:
        """Once connected: place the later legs whose earlier leg filled while we were away."""
        for prior_key, order in list(self.deferred.items()):
            prior = self.tracks.get(prior_key)
            if prior is not None and prior.finished:
                self.deferred.pop(prior_key, None)
                await self._place(order)

    def _track(self, key: str, **kw: Any) -> OrderTrack:
        track = self.tracks.get(key)
        if track is None:
            track = OrderTrack(key, self.alias, client_order_id(key), **kw)
            self.tracks[key] = track
            self.by_coid[track.client_order_id] = key
        return track

    def _replay(self, event: Any) -> None:
        if isinstance(event, OrderRouted):
            for o in event.orders:
                if o.broker is Broker.WEBULL:
                    self._track(o.order_key, symbol=o.symbol, side=o.side, qty=o.qty)
                    self.routed[o.order_key] = o
            return
        if (not isinstance(event, OrderEvent) or event.intent_id is None
                or getattr(event, "broker", None) is not Broker.WEBULL):
            return
        key = order_key(event.intent_id, getattr(event, "leg", 0))
        track = tracker.replay(self._track(key, symbol=getattr(event, "symbol", "") or ""), event)
        self.tracks[key] = track
        self.by_coid[track.client_order_id] = key

    # --- broker calls -----------------------------------------------------------------------

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """A blocking SDK call on a thread, retried with backoff while the failure is transient
        (429, 5xx, network). Only for calls that are safe to repeat: never ``place``."""
        delay = self.backoff
        for attempt in range(self.retries):
            try:
                return await asyncio.to_thread(fn, *args)
            except WebullError as exc:
                if not exc.retryable or attempt == self.retries - 1:
                    raise
                log.warning("webull_call_retry", call=getattr(fn, "__name__", "?"), status=exc.http_status,
                            code=exc.code, attempt=attempt + 1)
                await asyncio.sleep(_pause(exc, delay))
                delay = min(delay * 2, self.max_backoff)
        raise AssertionError("unreachable")

    # --- route messages -------------------------------------------------------------------

    async def handle_route(self, command: PlaceOrder | CancelOrder, _msg: Any) -> None:
        if not self.ready.is_set():
            try:
                await asyncio.wait_for(self.ready.wait(), 5)
            except asyncio.TimeoutError:
                raise NotReady(f"Webull not connected; {type(command).__name__} for {command.intent_id} "
                               "retried") from None
        try:
            if isinstance(command, CancelOrder):
                await self._cancel(command)
            else:
                await self._place(command)
        except WebullError as exc:
            if exc.retryable:
                raise NotReady(f"Webull unavailable ({exc.http_status} {exc.code}); retried") from None
            raise

    async def _place(self, order: PlaceOrder) -> None:
        key = order.order_key
        track = self._track(key, symbol=order.symbol, side=order.side, qty=order.qty)
        if order.account != self.alias or order.broker is not Broker.WEBULL:
            text = f"sent to the Webull gateway of {self.alias} but addressed to {order.broker}/{order.account}"
            await self._apply(key, lambda t: tracker.on_rejected(t, "ACCOUNT_MISMATCH", text))
            return
        if track.submitted or track.finished:
            log.info("order_already_placed", order_key=key, client_order_id=track.client_order_id)
            return  # redelivered, or placed before a restart: never twice
        if order.leg > 0:
            prior_key = order_key(order.intent_id, order.leg - 1)
            prior = self.tracks.get(prior_key)
            if prior is None or not prior.finished:
                self.deferred[prior_key] = order
                log.info("leg_waits_for_prior_leg", order_key=key, prior=prior_key)
                return  # placed by _apply when the prior leg ends
            if prior.status is not OrderState.FILLED:
                text = f"the closing leg {prior_key} ended {prior.status or 'REJECTED'}; the opening leg is not placed"
                await self._apply(key, lambda t: tracker.on_rejected(t, "PRIOR_LEG_NOT_FILLED", text))
                return
        try:
            body = new_order(order, track.client_order_id)
        except RouteError as exc:
            await self._apply(key, lambda t: tracker.on_rejected(t, exc.code, exc.text))
            return
        self._placing.add(key)
        try:
            await self._place_once(order, key, track, body)
        finally:
            self._placing.discard(key)

    async def _place_once(self, order: PlaceOrder, key: str, track: OrderTrack, body: dict[str, Any]) -> None:
        delay = self.backoff
        for _attempt in range(self.retries):
            # Webull may already have it: placed before a crash, or behind an ambiguous failure.
            group = await self.call(self.api.detail, track.client_order_id)
            if group is not None:
                log.info("order_found_at_broker", order_key=key, client_order_id=track.client_order_id)
                await self.observe_group(group, placing=True)
                return
            try:
                answer = await asyncio.to_thread(self.api.place, body)
            except WebullError as exc:
                if exc.retryable:
                    log.warning("place_ambiguous", order_key=key, status=exc.http_status, code=exc.code)
                    await asyncio.sleep(_pause(exc, delay))
                    delay = min(delay * 2, self.max_backoff)
                    continue  # the detail check decides whether it was placed
                if exc.code == "DUPLICATE_CLIENT_ORDER_ID":
                    continue
                log.info("order_refused", order_key=key, status=exc.http_status, code=exc.code)
                await self._apply(key, lambda t: tracker.on_rejected(t, exc.code, exc.text))
                return
            order_id = str(answer.get("order_id") or "")
            log.info("order_placed", order_key=key, client_order_id=track.client_order_id, order_id=order_id,
                     side=body["side"], type=body["order_type"], qty=body["quantity"])
            await self.observe(Observation(client_order_id=track.client_order_id, order_id=order_id,
                                           status="SUBMITTED", qty=order.qty, source="place"), placing=True)
            return
        # Still unsure after every attempt: the route message goes back to JetStream (redelivered
        # later, starting with the broker check) rather than holding shutdown hostage.
        raise NotReady(f"Webull kept failing while placing {key}; retried later")

    async def _cancel(self, command: CancelOrder) -> None:
        for leg in (0, 1):
            track = self.tracks.get(order_key(command.intent_id, leg))
            if track is None or track.finished:
                continue
            try:
                await self.call(self.api.cancel, track.client_order_id)
                log.info("cancel_sent", order_key=track.order_key)
            except WebullError as exc:
                if exc.retryable:
                    raise
                log.info("cancel_refused", order_key=track.order_key, code=exc.code)  # already done
            group = await self.call(self.api.detail, track.client_order_id)
            if group is not None:
                await self.observe_group(group)

    # --- observations ---------------------------------------------------------------------

    async def observe_group(self, group: dict[str, Any], *, placing: bool = False) -> None:
        for obs in from_group(group):
            await self.observe(obs, placing=placing)

    async def observe(self, obs: Observation, *, placing: bool = False) -> None:
        key = self.by_coid.get(obs.client_order_id)
        if key is None:
            return  # not Janus's order (placed by another app on the account)
        if not placing and key in self._placing and obs.status == "FAILED":
            return
        await self._apply(key, lambda t: tracker.observe(t, obs))

    async def _apply(self, key: str, step: Callable[[OrderTrack], tracker.Emitted]) -> None:
        async with self._lock:
            self.tracks[key], events = step(self.tracks[key])
            for msg_id, event in events:
                await bus.publish(self.js, subjects.evt_order(self.alias), event, msg_id=f"{self.alias}:{msg_id}")
                log.info("order_event", kind=type(event).__name__, intent_id=event.intent_id,
                         leg=getattr(event, "leg", 0))
                if type(event).__name__ == "OrderFilled":
                    self.on_fill()
        waiting = self.deferred.get(key)
        if waiting is not None and self.tracks[key].finished:
            del self.deferred[key]
            asyncio.ensure_future(self._place_later(waiting))

    async def _place_later(self, order: PlaceOrder) -> None:
        try:
            await self._place(order)
        except Exception:
            # Not lost: it is in EVENTS (OrderRouted); the next start places it.
            log.exception("deferred_leg_failed", order_key=order.order_key)

    def open_keys(self) -> list[str]:
        return [k for k, t in self.tracks.items() if t.submitted and not t.finished]

    # --- the event stream (fed by the SDK's thread) and polling ----------------------------

    async def work(self) -> None:
        while True:
            payload = await self.queue.get()
            try:
                obs = from_event(payload)
                if obs is not None:
                    await self.observe(obs)
            except Exception:  # one bad event must not stop the flow
                log.exception("order_event_failed")

    async def poll(self) -> int:
        """Open orders, then the detail of every order of ours that is no longer open: what the
        stream did not say (silent, dropped) is published now. Returns the open-order count."""
        if not self.open_keys():
            return 0
        groups = await self.call(self.api.open_orders)
        seen: set[str] = set()
        for group in groups:
            coid = group.get("client_order_id")
            if coid:
                seen.add(coid)
            await self.observe_group(group)
        for key in self.open_keys():
            coid = self.tracks[key].client_order_id
            if coid in seen:
                continue
            group = await self.call(self.api.detail, coid)
            if group is not None:
                await self.observe_group(group)
        return len(groups)

    async def poll_forever(self, interval: float, ready: asyncio.Event,
                           on_result: Callable[[bool], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(interval)
            if not ready.is_set():
                continue
            try:
                if self.open_keys():
                    await self.poll()
                    await on_result(True)
            except WebullError as exc:
                log.warning("poll_failed", status=exc.http_status, code=exc.code)
                await on_result(False)
            except Exception:
                log.exception("poll_failed")
