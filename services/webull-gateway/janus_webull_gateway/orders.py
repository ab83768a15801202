"""The order side of the gateway: places each broker order at most once, and turns what the
trade-event stream and REST polling say into Janus events exactly once.

At most once: before placing, the track (rebuilt from EVENTS) and then Webull itself (order
detail by client_order_id) are asked whether the order exists. An ambiguous failure (429, 5xx,
a dropped connection) is never retried blind: the order detail decides whether it was placed.

Exactly once: every observation, whichever way it came, goes through the kernel's tracker core under
the order book's one lock, so two sources saying the same thing publish it once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from janus_common.backoff import Backoff
import msgspec

from janus_common.messages import (
    Broker,
    ModifyOrder,
    OrderEvent,
    OrderFilled,
    OrderState,
    PlaceOrder,
    RejectReason,
    order_key,
)
from janus_gateway.adapter import BrokerUnavailable, ModifyRefused, OrderRefused
from janus_gateway.book import OrderBook
from janus_gateway.emit import Emitter

from . import exits, tracker
from .mapping import Observation, RouteError, client_order_id, from_event, from_group, new_order, replace_order
from janus_gateway.tracker import Track
from .webull_api import WebullApi, WebullError

log = structlog.get_logger()


def _at_least(exc: WebullError) -> float:
    # A 429 asks for a second (Webull's Retry-After): hammering sooner only extends the limit.
    return 1.0 if exc.http_status == 429 else 0.0


def _answers(answer: Any) -> list[dict[str, Any]]:
    """Every member's ``{client_order_id, order_id}`` of a group's place answer."""
    if isinstance(answer, dict):
        listed = answer.get("orders")
        return [a for a in listed if isinstance(a, dict)] if isinstance(listed, list) else [answer]
    return [a for a in answer if isinstance(a, dict)] if isinstance(answer, list) else []


class OrderDesk(OrderBook):
    """The Webull side of the kernel's route desk, on the kernel's order book."""

    def __init__(self, api: WebullApi, emitter: Emitter, alias: str, *,
                 retries: int = 6, backoff: float = 0.2, max_backoff: float = 5.0) -> None:
        super().__init__(emitter, alias, Broker.WEBULL)
        self.api = api
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.on_fill: Callable[[], None] = lambda: None
        # How a refusal of a deferred leg is published (the kernel's route desk, bound at setup).
        self.refuse: Callable[[PlaceOrder, RejectReason, str], Awaitable[None]] | None = None
        # Keys whose place call is under way: Webull's own answer (400 + error code) is what a
        # refusal is published with, not the FAILED event that may overtake it on the stream.
        self._placing: set[str] = set()
        # A SELL crossing zero arrives as leg 0 SELL + leg 1 SHORT. Webull refuses a SHORT while
        # the account is still long, so a later leg waits here (keyed by the leg it waits for)
        # until that leg has filled; so do a bracket's exits (Webull has no native brackets:
        # Janus places them once the entry filled). Routed legs are rebuilt from EVENTS, so a
        # restart loses none.
        self.deferred: dict[str, dict[str, PlaceOrder]] = {}

    def client_order_id(self, key: str) -> str:
        return client_order_id(key)

    def defer_unplaced(self) -> None:
        """After the rebuild: later legs routed but not placed wait for their prior leg again."""
        for key, order in self.routed.items():
            track = self.tracks.get(key)
            if order.leg > 0 and track is not None and not (track.submitted or track.finished):
                self._defer(order)

    def _defer(self, order: PlaceOrder) -> None:
        self.deferred.setdefault(exits.prior_key(order), {})[order.order_key] = order

    async def release_deferred(self) -> None:
        """Once connected: place the later legs whose earlier leg filled while we were away."""
        for prior_key in list(self.deferred):
            prior = self.tracks.get(prior_key)
            if prior is not None and prior.finished:
                for order in self.deferred.pop(prior_key, {}).values():
                    await self._place_later(order)

    def waiting(self, key: str) -> bool:
        return any(key in held for held in self.deferred.values())

    def amend_waiting(self, command: ModifyOrder) -> bool:
        """A held exit's new figures: it is placed with them when its entry fills."""
        for held in self.deferred.values():
            order = held.get(command.order_key)
            if order is not None:
                held[command.order_key] = msgspec.structs.replace(
                    order, qty=command.qty, limit_price=command.limit_price, stop_price=command.stop_price,
                    trail_amount=command.trail_amount)
                return True
        return False

    def refusal(self, order: PlaceOrder) -> OrderRefused | None:
        # Another account or broker is refused by the kernel's route desk before it gets here.
        try:
            new_order(order, client_order_id(order.order_key))
        except RouteError as exc:  # a field Webull cannot express
            return exc
        return None

    async def has_order(self, key: str) -> bool:
        track = self.tracks.get(key)
        coid = track.client_order_id if track is not None else client_order_id(key)
        group = await self._unavailable_if_failing(self.call(self.api.detail, coid))
        if group is None:
            return False
        await self.observe_group(group, placing=True)
        return True

    async def _unavailable_if_failing(self, call: Awaitable[Any]) -> Any:
        try:
            return await call
        except WebullError as exc:
            if exc.retryable:
                raise BrokerUnavailable(f"Webull unavailable ({exc.http_status} {exc.code})") from None
            raise

    # --- broker calls -----------------------------------------------------------------------

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """A blocking SDK call on a thread, retried with backoff while the failure is transient
        (429, 5xx, network). Only for calls that are safe to repeat: never ``place``."""
        pause = Backoff(initial=self.backoff, cap=self.max_backoff)
        for attempt in range(self.retries):
            try:
                return await asyncio.to_thread(fn, *args)
            except WebullError as exc:
                if not exc.retryable or attempt == self.retries - 1:
                    raise
                log.warning("webull_call_retry", call=getattr(fn, "__name__", "?"), status=exc.http_status,
                            code=exc.code, attempt=attempt + 1)
                await pause.sleep(at_least=_at_least(exc))
        raise AssertionError("unreachable")

    # --- route messages -------------------------------------------------------------------

    async def place(self, order: PlaceOrder) -> None:
        await self._unavailable_if_failing(self._place(order))

    async def _place(self, order: PlaceOrder) -> None:
        key = order.order_key
        track = self.track(key, symbol=order.symbol, side=order.side, qty=order.qty)
        self.routed.setdefault(key, order)
        if track.submitted or track.finished:
            log.info("order_already_placed", order_key=key, client_order_id=track.client_order_id)
            return  # redelivered, or placed before a restart: never twice
        if order.leg > 0:
            prior_key = exits.prior_key(order)
            prior = self.tracks.get(prior_key)
            if prior is None or not prior.finished:
                self._defer(order)
                log.info("leg_waits_for_prior_leg", order_key=key, prior=prior_key)
                return  # placed by after() when the prior leg ends
            if order.parent_leg is not None and 0 < prior.filled < order.qty:
                # The entry ended part filled: the exits protect what was bought, no more.
                order = msgspec.structs.replace(order, qty=prior.filled)
            elif prior.status is not OrderState.FILLED:
                what = "entry" if order.parent_leg is not None else "closing leg"
                raise OrderRefused(RejectReason.PRIOR_LEG_NOT_FILLED, f"the {what} {prior_key} ended "
                                   f"{prior.status or 'REJECTED'}; {key} is not placed")
        if order.oca_group is not None:
            await self._place_group(order)
            return
        body = new_order(order, track.client_order_id)  # RouteError: refused, never sent
        self._placing.add(key)
        try:
            await self._place_once(order, key, track, body)
        finally:
            self._placing.discard(key)

    async def _place_group(self, order: PlaceOrder) -> None:
        """A bracket's exits, placed together as one OCO group once every member's route
        message is here (the last to arrive places them all)."""
        waiting_for = exits.missing(self.routed.values(), order)
        if waiting_for:
            log.info("exit_waits_for_its_sibling", order_key=order.order_key, legs=sorted(waiting_for))
            return
        group = []
        for member in exits.members(self.routed.values(), order):
            t = self.track(member.order_key, symbol=member.symbol, side=member.side, qty=member.qty)
            if t.submitted or t.finished:
                return  # the group went out before (placed as one): never twice
            group.append(msgspec.structs.replace(member, qty=order.qty))  # sized to what the entry filled
        bodies = [new_order(o, self.tracks[o.order_key].client_order_id) for o in group]
        keys = [o.order_key for o in group]
        self._placing.update(keys)
        try:
            await self._place_group_once(group, bodies)
        finally:
            self._placing.difference_update(keys)

    async def _place_group_once(self, group: list[PlaceOrder], bodies: list[dict[str, Any]]) -> None:
        pause = Backoff(initial=self.backoff, cap=self.max_backoff)
        first = self.tracks[group[0].order_key].client_order_id
        for attempt in range(self.retries):
            found = await self.call(self.api.detail, first) if attempt else None
            if found is not None:  # placed behind an ambiguous failure: the group is at Webull
                for o in group:
                    detail = await self.call(self.api.detail, self.tracks[o.order_key].client_order_id)
                    if detail is not None:
                        await self.observe_group(detail, placing=True)
                return
            try:
                answer = await asyncio.to_thread(self.api.place_group, bodies)
            except WebullError as exc:
                if exc.retryable or exc.code == "DUPLICATE_CLIENT_ORDER_ID":
                    await pause.sleep(at_least=_at_least(exc))
                    continue
                log.info("exits_refused", intent_id=group[0].intent_id, status=exc.http_status, code=exc.code)
                for o in group:
                    await self.report(o.order_key, tracker.rejection(o.order_key, exc.code, exc.text))
                return
            ids = {str(a.get("client_order_id")): str(a.get("order_id") or "") for a in _answers(answer)}
            log.info("exits_placed", intent_id=group[0].intent_id, legs=[o.leg for o in group], combo="OCO")
            for o in group:
                coid = self.tracks[o.order_key].client_order_id
                await self.observe(Observation(client_order_id=coid, order_id=ids.get(coid, ""), status="SUBMITTED",
                                               qty=o.qty, source="place"), placing=True)
            return
        raise BrokerUnavailable(f"Webull kept failing while placing the exits of {group[0].intent_id}; retried later")

    async def _place_once(self, order: PlaceOrder, key: str, track: Track, body: dict[str, Any]) -> None:
        pause = Backoff(initial=self.backoff, cap=self.max_backoff)
        for attempt in range(self.retries):
            # Webull may already have it: behind an ambiguous failure (the route desk asked
            # before the first try).
            group = await self.call(self.api.detail, track.client_order_id) if attempt else None
            if group is not None:
                log.info("order_found_at_broker", order_key=key, client_order_id=track.client_order_id)
                await self.observe_group(group, placing=True)
                return
            try:
                answer = await asyncio.to_thread(self.api.place, body)
            except WebullError as exc:
                if exc.retryable:
                    log.warning("place_ambiguous", order_key=key, status=exc.http_status, code=exc.code)
                    await pause.sleep(at_least=_at_least(exc))
                    continue  # the detail check decides whether it was placed
                if exc.code == "DUPLICATE_CLIENT_ORDER_ID":
                    continue
                log.info("order_refused", order_key=key, status=exc.http_status, code=exc.code)
                await self.report(key, tracker.rejection(key, exc.code, exc.text))
                return
            order_id = str(answer.get("order_id") or "")
            log.info("order_placed", order_key=key, client_order_id=track.client_order_id, order_id=order_id,
                     side=body["side"], type=body["order_type"], qty=body["quantity"])
            await self.observe(Observation(client_order_id=track.client_order_id, order_id=order_id,
                                           status="SUBMITTED", qty=order.qty, source="place"), placing=True)
            return
        # Still unsure after every attempt: Webull is having trouble (not this order): the route
        # message goes back to JetStream (redelivered later, starting with the broker check).
        raise BrokerUnavailable(f"Webull kept failing while placing {key}; retried later")

    async def cancel(self, key: str) -> None:
        track = self.tracks.get(key)
        if track is None or track.finished:
            return
        try:
            await self._unavailable_if_failing(self.call(self.api.cancel, track.client_order_id))
            log.info("cancel_sent", order_key=track.order_key)
        except WebullError as exc:
            log.info("cancel_refused", order_key=track.order_key, code=exc.code)  # already done
        group = await self._unavailable_if_failing(self.call(self.api.detail, track.client_order_id))
        if group is not None:
            await self.observe_group(group)

    # --- observations ---------------------------------------------------------------------

    async def observe_group(self, group: dict[str, Any], *, placing: bool = False) -> None:
        for obs in from_group(group):
            await self.observe(obs, placing=placing)

    async def observe(self, obs: Observation, *, placing: bool = False) -> None:
        key = self.by_client_order_id.get(obs.client_order_id)
        if key is None:
            return  # not Janus's order (placed by another app on the account)
        if not placing and key in self._placing and obs.status == "FAILED":
            return
        report = tracker.report_of(key, obs)
        if report is not None:
            await self.report(key, report)

    def after(self, key: str, events: list[OrderEvent]) -> None:
        if any(isinstance(e, OrderFilled) for e in events):
            self.on_fill()
            self._cancel_siblings(key)
        if key in self.deferred and self.tracks[key].finished:
            groups: set[str] = set()
            for waiting in self.deferred.pop(key).values():
                if waiting.oca_group is not None:
                    if waiting.oca_group in groups:
                        continue  # one place call takes the whole group
                    groups.add(waiting.oca_group)
                asyncio.ensure_future(self._place_later(waiting))

    def _cancel_siblings(self, key: str) -> None:
        """One exit of a bracket traded: the others are cancelled at once. Webull's OCO group
        does that itself; this is the net under it (a cancel of an order already ended is no error)."""
        order = self.routed.get(key)
        if order is None or order.oca_group is None:
            return
        for other in exits.siblings(self.routed.values(), order):
            track = self.tracks.get(other.order_key)
            if track is not None and not track.finished:
                log.info("oca_sibling_cancelled", order_key=other.order_key, filled=key)
                asyncio.ensure_future(self._cancel_sibling(other.order_key))

    async def _cancel_sibling(self, key: str) -> None:
        try:
            await self.cancel(key)
        except Exception:  # the poll and the next fill retry it; never both exits filled
            log.exception("oca_cancel_failed", order_key=key)

    async def _place_later(self, order: PlaceOrder) -> None:
        try:
            await self._place(order)
        except OrderRefused as exc:
            if self.refuse is not None:
                group = exits.members(self.routed.values(), order) if order.oca_group is not None else [order]
                for member in group:
                    if not self.leg_state(member.order_key).finished:
                        await self.refuse(member, exc.reason, exc.detail)
        except Exception:
            # Not lost: it is in EVENTS (OrderRouted); the next start places it.
            log.exception("deferred_leg_failed", order_key=order.order_key)

    # --- modifications ---------------------------------------------------------------------

    async def modify(self, command: ModifyOrder) -> None:
        """Webull's replace: same client_order_id, the new figures. Webull's 4xx is a refusal;
        429/5xx/network are retried (a replace with the same figures is safe to repeat)."""
        track = self.tracks.get(command.order_key)
        if track is None:
            raise ModifyRefused("NOT_FOUND", f"no order {command.order_key} on this gateway")
        body = replace_order(command, track.client_order_id)
        try:
            await self._unavailable_if_failing(self.call(self.api.replace, body))
        except WebullError as exc:
            raise ModifyRefused(exc.code or str(exc.http_status), exc.text) from None
        log.info("order_replaced", order_key=command.order_key, client_order_id=track.client_order_id,
                 qty=body.get("quantity"), limit=body.get("limit_price"), stop=body.get("stop_price"))

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
