"""Modifications of working orders (``ModifyOrder`` route messages), the route desk's part:
each runs on its own like a cancel (never behind the account's places), waits for a place of
the same order that is under way, and is answered exactly once per modify id — ``OrderModified``
when the broker took it (or, for an order the desk still holds back, when the held order was
changed), ``ModifyRejected`` with the reason (and the broker's code) otherwise. A redelivered
modification already answered is acked and not sent again."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import structlog
from nats.aio.msg import Msg

from janus_common.messages import (
    ID_MAX,
    Broker,
    GatewayOrderEvent,
    ModifyOrder,
    ModifyRejected,
    OrderModified,
    RejectReason,
    clip,
)

from .adapter import BrokerUnavailable, ModifyRefused
from .emit import Emitter

if TYPE_CHECKING:
    from .routes import OrderDesk, RouteSettings

__all__ = ["ModifyDesk"]

log = structlog.get_logger()


class ModifyDesk:
    """Mixed into :class:`janus_gateway.routes.RouteDesk`, whose state it uses (declared here)."""

    desk: "OrderDesk"
    emitter: Emitter
    broker: Broker
    settings: "RouteSettings"
    _placing: dict[str, asyncio.Event]

    async def _connected(self) -> bool:
        raise NotImplementedError

    async def _settle(self, msg: Msg, how: str, delay: float | None = None) -> None:
        raise NotImplementedError

    async def _say(self, local_id: str, event: GatewayOrderEvent) -> None:
        raise NotImplementedError

    async def _modify(self, command: ModifyOrder, msg: Msg) -> None:
        try:
            if not await self._connected():
                await self._settle(msg, "nak")
                return
            if await self._modify_leg(command):
                await self._settle(msg, "ack")
            else:
                await self._settle(msg, "nak")  # not at the broker yet: tried again shortly
        except BrokerUnavailable as exc:
            log.warning("route_modify_unavailable", order_key=command.order_key, detail=exc.detail)
            await self._settle(msg, "nak")
        except Exception:
            log.exception("route_modify_failed", order_key=command.order_key)
            await self._settle(msg, "nak")

    async def _modify_leg(self, command: ModifyOrder) -> bool:
        """True once the modification is answered (taken or refused); False to try it later."""
        key = command.order_key
        if self.desk.modified(key, command.modify_id):
            log.info("modify_already_answered", order_key=key, modify_id=command.modify_id)
            return True  # redelivered: never applied twice
        placing = self._placing.get(key)
        if placing is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(placing.wait(), self.settings.ready_wait_s * 2)
        state = self.desk.leg_state(key)
        if not state.known or state.finished:
            why = "is already finished" if state.finished else "is not known to this gateway"
            await self._refuse_modify(command, RejectReason.ORDER_FINISHED if state.finished
                                      else RejectReason.UNKNOWN_INTENT, f"the order {key} {why}")
            return True
        if state.waiting and self.desk.amend_waiting(command):
            await self._modified(command)  # held here, not at the broker: changed before it is placed
            return True
        if not (state.submitted or await self.desk.has_order(key)):
            return False
        try:
            await self.desk.modify(command)
        except ModifyRefused as exc:
            await self._refuse_modify(command, RejectReason.BROKER_REFUSED, exc.detail, code=exc.code)
            return True
        await self._modified(command)
        return True

    async def _modified(self, command: ModifyOrder) -> None:
        log.info("order_modified", order_key=command.order_key, modify_id=command.modify_id, qty=command.qty,
                 limit=command.limit_price, stop=command.stop_price)
        await self._say(f"mod:{command.order_key}:{command.modify_id}", OrderModified(
            account=self.emitter.alias, intent_id=command.intent_id, broker=self.broker, leg=command.leg,
            modify_id=command.modify_id, qty=command.qty, limit_price=command.limit_price,
            stop_price=command.stop_price, trail_amount=command.trail_amount))

    async def _refuse_modify(self, command: ModifyOrder, reason: RejectReason, text: str, *,
                             code: str | None = None) -> None:
        log.info("modify_refused", order_key=command.order_key, reason=str(reason), code=code, detail=text)
        event = ModifyRejected(account=self.emitter.alias, intent_id=command.intent_id, modify_id=command.modify_id,
                               leg=command.leg, reason=reason, message=clip(text),
                               code=clip(code, ID_MAX) if code else None)
        await self.emitter.emit(f"modrej:{command.order_key}:{command.modify_id}", event)
        self.desk.note(event)
