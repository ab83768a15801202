"""Operators' account commands, turned into events by the router (the only writer of routing
decisions): a trading-state request becomes ``TradingStateChanged``; a cancel-all becomes
``CancelAllRouted`` and one ordinary cancel per working order.

They arrive on ``janus.intent.{account}`` with the intents, so the account's consumer
(one message at a time, in stream order, shared by every replica) applies a halt exactly
between two intents; the state itself is a projection of EVENTS, so every replica and every
restart honours it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from janus_common import bus, projections, subjects
from janus_common.messages import (
    AccountCommand,
    CancelAllRouted,
    CancelIntent,
    ControlRejected,
    RejectReason,
    TradingStateChanged,
    TradingStateRequest,
)
from janus_common.subjects import SubjectError
from janus_common.symbols import SymbolError, normalize

from .follower import EventFollower
from .rules import AccountRules

log = structlog.get_logger()

SendCancel = Callable[[CancelIntent, AccountRules], Awaitable[None]]


def cancel_id_for(request_id: str, intent_id: str) -> str:
    """The same cancel id on every redelivery of the request, so nothing is cancelled twice."""
    return hashlib.sha256(f"{request_id}\0{intent_id}".encode()).hexdigest()[:32]


class AccountControl:
    def __init__(self, js: JetStreamContext, rules: dict[str, AccountRules], follower: EventFollower,
                 send_cancel: SendCancel) -> None:
        self.js = js
        self.rules = rules
        self.follower = follower
        self.send_cancel = send_cancel

    async def handle(self, command: AccountCommand, msg: Msg, *, permitted: bool = True) -> None:
        """``permitted``: it came on the account's control subject (which only the operator may
        publish on); a command on the intents subject, which clients may use, is refused."""
        try:
            account = subjects.account_of(msg.subject)
        except SubjectError:
            return
        with structlog.contextvars.bound_contextvars(account=account, request_id=command.request_id):
            if not permitted:
                await self._refuse(account, command, RejectReason.WRONG_SUBJECT,
                                   f"account commands are accepted on {subjects.control(account)!r} only "
                                   f"(the operator's), not on {msg.subject!r}")
                return
            if command.account != account:
                await self._refuse(account, command, RejectReason.ACCOUNT_MISMATCH,
                                   f"request names account {command.account!r} but was sent to {account!r}")
                return
            rules = self.rules.get(account)
            if rules is None:
                await self._refuse(account, command, RejectReason.UNKNOWN_ACCOUNT,
                                   f"account {account!r} is not configured in this Janus")
                return
            await self.follower.caught_up()
            if isinstance(command, TradingStateRequest):
                await self._set_state(command)
                if command.cancel_working:
                    await self._cancel_all(rules, command.request_id, None, command.reason,
                                           command.requested_by)
                return
            symbol = command.symbol
            if symbol is not None:
                try:
                    symbol = normalize(symbol)
                except SymbolError as exc:
                    await self._refuse(account, command, RejectReason.INVALID_SYMBOL, str(exc))
                    return
            await self._cancel_all(rules, command.request_id, symbol, command.reason, command.requested_by)

    async def _set_state(self, request: TradingStateRequest) -> None:
        ledger = self.follower.ledger
        last = ledger.trading.get(request.account)
        if last is not None and last.request_id == request.request_id:
            return  # a redelivery of a request already applied
        event = TradingStateChanged(account=request.account, request_id=request.request_id,
                                    state=request.state, previous=projections.trading_state(ledger, request.account),
                                    reason=request.reason, requested_by=request.requested_by)
        await bus.publish(self.js, subjects.evt_control(request.account), event,
                          msg_id=f"control:{request.request_id}")
        log.info("trading_state_changed", state=str(event.state), previous=str(event.previous),
                 requested_by=request.requested_by, reason=request.reason)

    async def _cancel_all(self, rules: AccountRules, request_id: str, symbol: str | None, reason: str,
                          requested_by: str) -> None:
        account = rules.account
        working = projections.working_orders(self.follower.ledger, account, symbol)
        cancels = {intent_id: cancel_id_for(request_id, intent_id) for intent_id in working}
        await bus.publish(self.js, subjects.evt_control(account),
                          CancelAllRouted(account=account, request_id=request_id, symbol=symbol, cancels=cancels,
                                          reason=reason, requested_by=requested_by),
                          msg_id=f"cancel-all:{request_id}")
        for intent_id, cancel_id in cancels.items():
            await self.send_cancel(CancelIntent(cancel_id=cancel_id, intent_id=intent_id, account=account), rules)
        log.info("cancel_all_routed", symbol=symbol, orders=len(cancels), requested_by=requested_by)

    async def _refuse(self, account: str, command: AccountCommand, reason: RejectReason, message: str) -> None:
        await bus.publish(self.js, subjects.evt_control(account),
                          ControlRejected(account=account, request_id=command.request_id, reason=reason,
                                          message=message),
                          msg_id=f"control-refused:{command.request_id}")
        log.info("control_refused", reason=str(reason), detail=message)
