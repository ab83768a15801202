"""The router's shell: takes one decoded intent, asks the pure core what to do, and publishes
the outcome (event first, then the broker orders), so a crash anywhere leaves a state that a
redelivery completes without doubling anything."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar

import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from janus_common import bus, msgids, projections, subjects
from janus_common.messages import (
    AccountCommand,
    BrokerSide,
    ID_MAX,
    ID_PATTERN,
    INTENTS,
    CancelIntent,
    CancelOrder,
    CancelRouted,
    MessageDecodeError,
    ModifyIntent,
    ModifyRejected,
    ModifyRouted,
    OrderIntent,
    OrderRejected,
    OrderRouted,
    PlaceOrder,
    RejectReason,
    Side,
    clip,
    content_type_of,
)
from janus_common.subjects import SubjectError
from janus_common.symbols import SymbolError, infer_asset_class, normalize

from . import metrics, risk
from .control import AccountControl
from .decide import Rejection, Route, plan_route, validate
from .modify import ModifyPlan, plan_modify
from .follower import EventFollower
from .prices import ReferencePrices
from .freshness import check_fresh
from .resolver import SymbolResolver
from .rules import AccountRules

log = structlog.get_logger()
ID_RE = re.compile(ID_PATTERN)

_FIELD_REASONS = {"$.tif": RejectReason.UNKNOWN_TIF, "$.qty": RejectReason.INVALID_QTY,
                  "$.limit_price": RejectReason.INVALID_PRICE, "$.stop_price": RejectReason.INVALID_PRICE}


def reason_for_decode_error(exc: MessageDecodeError) -> RejectReason:
    """A schema failure on a known field gets that field's reason; anything else is MALFORMED."""
    for path, reason in _FIELD_REASONS.items():
        if exc.reason.endswith(f"`{path}`"):
            return reason
    return RejectReason.MALFORMED


CONTROL_PREFIX = subjects.control("x")[:-1]

# When the intent being handled reached the router (perf_counter), for the decision latency; the
# consumer runs one handler per task, so the handler's own context carries it to the outcome.
_received: ContextVar[float | None] = ContextVar("janus_router_received", default=None)
_COUNTERS = {"order": metrics.INTENTS, "cancel": metrics.CANCELS, "modify": metrics.MODIFIES}


class Router:
    def __init__(self, nc: NATS, js: JetStreamContext, rules: dict[str, AccountRules],
                 follower: EventFollower, resolver: SymbolResolver, *, max_intent_age_s: float = 30.0,
                 clock: Callable[[], int] = time.time_ns) -> None:
        self.nc = nc
        self.js = js
        self.rules = rules
        self.follower = follower
        self.resolver = resolver
        self.prices = ReferencePrices(nc, js)
        self.control = AccountControl(js, rules, follower, self._cancel)
        self.max_intent_age_s = max_intent_age_s
        self.clock = clock
        for account in rules:  # every account's series from the start: a rate needs its zero
            for counter in _COUNTERS.values():
                counter.labels(account, "routed", "")

    # --- intents -------------------------------------------------------------------------

    async def handle(self, intent: OrderIntent | CancelIntent | ModifyIntent | AccountCommand, msg: Msg) -> None:
        _received.set(time.perf_counter())
        on_control = msg.subject.startswith(CONTROL_PREFIX)
        if not isinstance(intent, (OrderIntent, CancelIntent, ModifyIntent)):
            await self.control.handle(intent, msg, permitted=on_control)
            return
        if on_control:
            # Orders come on janus.intent.<account>; the control subject carries commands only.
            await self._reject(intent, RejectReason.WRONG_SUBJECT,
                               f"an order or cancel is sent on {subjects.intent(intent.account)!r}, not {msg.subject!r}",
                               account=subjects.account_of(msg.subject))
            return
        account = subjects.account_of(msg.subject)
        with structlog.contextvars.bound_contextvars(account=account, intent_id=intent.intent_id):
            if intent.account != account:
                await self._reject(intent, RejectReason.ACCOUNT_MISMATCH,
                                   f"intent names account {intent.account!r} but was sent to {account!r}",
                                   account=account)
                return
            rules = self.rules.get(account)
            if rules is None:
                await self._reject(intent, RejectReason.UNKNOWN_ACCOUNT,
                                   f"account {account!r} is not configured in this Janus")
                return
            await self.follower.caught_up()
            if isinstance(intent, CancelIntent):
                await self._cancel(intent, rules)
            elif isinstance(intent, ModifyIntent):
                await self._modify(intent, rules)
            else:
                await self._route(intent, rules, _stored_ns(msg))

    async def _route(self, intent: OrderIntent, rules: AccountRules, stored_ns: int | None = None) -> None:
        ledger = self.follower.ledger
        seen = projections.order(ledger, intent.account, intent.intent_id)
        if seen is not None:
            await self._duplicate(intent, seen)
            return
        stale = check_fresh(intent, stored_ns, self.clock(), self.max_intent_age_s)
        if stale is not None:
            await self._reject(intent, stale.reason, stale.message)
            return
        rejection = risk.trading_gate(intent.account, risk.account_facts(ledger, intent.account, "", 0)) \
            or validate(intent, self.clock())
        if rejection is not None:
            await self._reject(intent, rejection.reason, rejection.message)
            return
        try:
            symbol = normalize(intent.symbol, intent.asset_class)
        except SymbolError as exc:
            await self._reject(intent, RejectReason.INVALID_SYMBOL, str(exc))
            return
        fraction = risk.whole_contracts(symbol, intent.asset_class or infer_asset_class(symbol), intent.qty)
        if fraction is not None:
            await self._reject(intent, fraction.reason, fraction.message)
            return
        record = await self.resolver.resolve(symbol, intent.asset_class, rules.broker)
        if isinstance(record, Rejection):
            await self._reject(intent, record.reason, record.message)
            return
        buys, sells = projections.in_flight(ledger, intent.account, record.symbol)
        planned = plan_route(intent, record, rules, rules.caps(),
                             broker_position=projections.broker_position(ledger, intent.account, record.symbol),
                             in_flight_buys=buys, in_flight_sells=sells)
        if isinstance(planned, Rejection):
            await self._reject(intent, planned.reason, planned.message)
            return
        quote = await self.prices.quote(record.symbol, rules.risk)
        now = time.time_ns()
        refusal = risk.assess(risk.order_facts(intent, record, rules.broker, planned.orders[0]),
                              risk.account_facts(ledger, intent.account, record.symbol, now),
                              quote, rules.risk, now) or risk.exits(planned.orders, record, quote, rules.risk, now)
        if refusal is not None:
            await self._reject(intent, refusal.reason, refusal.message)
            return
        await self._publish_route(intent, rules, planned)

    async def _publish_route(self, intent: OrderIntent, rules: AccountRules, route: Route) -> None:
        event = OrderRouted(account=intent.account, intent_id=intent.intent_id, intent=intent,
                            broker=rules.broker, decision=route.decision, orders=list(route.orders))
        await bus.publish(self.js, subjects.evt_order(intent.account), event, msg_id=msgids.outcome(intent.account, intent.intent_id))
        self._count("order", intent.account, "routed")
        await self._send_orders(intent.account, rules, route.orders)
        log.info("intent_routed", broker=str(rules.broker), effect=str(route.decision.effect),
                 legs=len(route.orders))

    async def _send_orders(self, account: str, rules: AccountRules, orders: Iterable[PlaceOrder]) -> None:
        for order in orders:
            await bus.publish(self.js, subjects.route(rules.broker, account), order,
                              msg_id=msgids.route(account, order.order_key))

    async def _duplicate(self, intent: OrderIntent, seen: projections.OrderView) -> None:
        """An intent id that already has its outcome: never a second broker order."""
        same = (seen.side, seen.qty) == (intent.side, intent.qty) and seen.symbol in (
            intent.symbol, _normalized(intent))
        if not same and seen.rejected is None:
            await bus.publish(self.js, subjects.evt_order(intent.account), OrderRejected(
                account=intent.account, intent_id=intent.intent_id, reason=RejectReason.DUPLICATE_INTENT,
                message=f"intent id {intent.intent_id} was already used for a different order",
                intent=intent), msg_id=msgids.duplicate(intent.account, intent.intent_id, intent.ts))
            self._count("order", intent.account, "rejected", RejectReason.DUPLICATE_INTENT)
            return
        log.info("intent_already_decided", rejected=str(seen.rejected) if seen.rejected else None)
        self._count("order", intent.account, "already_decided")
        if seen.routed:
            # A replica may have died between the event and the orders: send them again; ROUTES
            # drops what it already holds (same Nats-Msg-Id) and the gateway checks orderRef.
            await self._send_orders(intent.account, self.rules[intent.account], seen.routed)

    async def _reject(self, intent: OrderIntent | CancelIntent | ModifyIntent, reason: RejectReason, message: str,
                      *, account: str | None = None) -> None:
        account = account or intent.account
        message = clip(message)
        if isinstance(intent, ModifyIntent):
            event: OrderRejected | ModifyRejected = ModifyRejected(
                account=account, intent_id=intent.intent_id, modify_id=intent.modify_id, reason=reason,
                message=message)
            msg_id = msgids.modify_outcome(account, intent.modify_id)
        elif isinstance(intent, CancelIntent):
            event = OrderRejected(account=account, intent_id=intent.intent_id, cancel_id=intent.cancel_id,
                                  reason=reason, message=message)
            msg_id = msgids.cancel_outcome(account, intent.cancel_id)
        else:
            event = OrderRejected(account=account, intent_id=intent.intent_id, reason=reason, message=message,
                                  intent=intent)
            msg_id = msgids.outcome(account, intent.intent_id)
        try:
            subject = subjects.evt_order(account)
        except SubjectError:
            log.warning("rejection_without_account", reason=str(reason))
            return
        await bus.publish(self.js, subject, event, msg_id=msg_id)
        self._count(_kind(intent), account, "rejected", reason)
        log.info("intent_rejected", reason=str(reason), detail=message)

    def _count(self, kind: str, account: str, outcome: str, reason: RejectReason | None = None) -> None:
        """One outcome published: counted, and timed when it answers an intent handled here."""
        label = account if account in self.rules else metrics.OTHER
        _COUNTERS[kind].labels(label, outcome, str(reason) if reason else "").inc()
        received = _received.get()
        if received is not None:
            metrics.DECISION_SECONDS.labels(kind, outcome).observe(time.perf_counter() - received)

    # --- cancels -------------------------------------------------------------------------

    async def _cancel(self, cancel: CancelIntent, rules: AccountRules) -> None:
        view = projections.order(self.follower.ledger, cancel.account, cancel.intent_id)
        if view is None or view.account != cancel.account:
            await self._reject(cancel, RejectReason.UNKNOWN_INTENT,
                               f"no order for intent {cancel.intent_id} on account {cancel.account}")
            return
        if view.terminal:
            await self._reject(cancel, RejectReason.ORDER_FINISHED,
                               f"the order for intent {cancel.intent_id} is already {view.status}")
            return
        await bus.publish(self.js, subjects.evt_order(cancel.account),
                          CancelRouted(account=cancel.account, intent_id=cancel.intent_id,
                                       cancel_id=cancel.cancel_id, broker=rules.broker),
                          msg_id=msgids.cancel_outcome(cancel.account, cancel.cancel_id))
        self._count("cancel", cancel.account, "routed")
        await bus.publish(self.js, subjects.route(rules.broker, cancel.account),
                          CancelOrder(intent_id=cancel.intent_id, account=cancel.account, broker=rules.broker,
                                      cancel_id=cancel.cancel_id),
                          msg_id=msgids.cancel_route(cancel.account, cancel.cancel_id))
        log.info("cancel_routed", cancel_id=cancel.cancel_id)

    # --- modifications ---------------------------------------------------------------------

    async def _modify(self, modify: ModifyIntent, rules: AccountRules) -> None:
        ledger = self.follower.ledger
        view = projections.order(ledger, modify.account, modify.intent_id)
        if view is not None and modify.modify_id in view.modifies:
            log.info("modify_already_answered", modify_id=modify.modify_id)
            return  # its outcome (and route message, deduplicated by ROUTES) is out already
        rejection = risk.trading_gate(modify.account, risk.account_facts(ledger, modify.account, "", 0))
        plan = rejection or plan_modify(modify, view, rules.caps())
        if isinstance(plan, Rejection):
            await self._reject(modify, plan.reason, plan.message)
            return
        assert view is not None  # plan_modify refuses an unknown intent
        refusal = await self._modify_risk(modify, view, plan, rules)
        if refusal is not None:
            await self._reject(modify, refusal.reason, refusal.message)
            return
        await bus.publish(self.js, subjects.evt_order(modify.account), ModifyRouted(
            account=modify.account, intent_id=modify.intent_id, modify_id=modify.modify_id, broker=rules.broker,
            orders=list(plan.orders)), msg_id=msgids.modify_outcome(modify.account, modify.modify_id))
        self._count("modify", modify.account, "routed")
        for order in plan.orders:
            await bus.publish(self.js, subjects.route(rules.broker, modify.account), order,
                              msg_id=msgids.modify_route(modify.account, modify.modify_id, order.order_key))
        log.info("modify_routed", modify_id=modify.modify_id, legs=len(plan.orders))

    async def _modify_risk(self, modify: ModifyIntent, view: projections.OrderView, plan: ModifyPlan,
                           rules: AccountRules) -> Rejection | None:
        """The new figures pass the same pre-trade checks as a new order would; the order itself
        is taken out of the account's figures first (it is replaced, not added)."""
        record = await self.resolver.resolve(view.symbol, None, rules.broker)
        if isinstance(record, Rejection):
            return record
        quote = await self.prices.quote(record.symbol, rules.risk)
        now = time.time_ns()
        facts = risk.without_order(risk.account_facts(self.follower.ledger, modify.account, record.symbol, now), view)
        for after in plan.after:
            side = Side.BUY if after.side is BrokerSide.BUY else Side.SELL
            intent = OrderIntent(account=modify.account, symbol=view.symbol, side=side,
                                 order_type=after.order_type, qty=after.qty, limit_price=after.limit_price,
                                 stop_price=after.stop_price)
            found = risk.assess(risk.order_facts(intent, record, rules.broker, after), facts, quote, rules.risk, now)
            if found is not None:
                return found
        return None

    # --- intents the router could not process ---------------------------------------------

    async def on_dead_letter(self, intent: OrderIntent | CancelIntent | ModifyIntent | AccountCommand, msg: Msg,
                             exc: Exception) -> None:
        """An intent whose handling failed every delivery is about to be dead-lettered: it still
        gets its one outcome, so the client is not left waiting and the audit sees an answer.
        An outcome already stored (published before the failure) is kept (same msg id)."""
        if not isinstance(intent, (OrderIntent, CancelIntent, ModifyIntent)):
            return  # an account command's answer is its control event; the dead letter says why
        try:
            account = subjects.account_of(msg.subject)
        except SubjectError:
            return
        if isinstance(intent, OrderIntent):
            seen = projections.order(self.follower.ledger, account, intent.intent_id)
            if seen is not None and seen.outcomes:
                return
        delivered = msg.metadata.num_delivered if msg.metadata else 1
        await self._reject(intent, RejectReason.UNPROCESSABLE,
                           f"the router could not process it in {delivered} attempts "
                           f"({type(exc).__name__}: {exc}); it is kept in the dead letters", account=account)

    # --- undecodable intents -------------------------------------------------------------

    async def on_decode_error(self, msg: Msg, exc: MessageDecodeError) -> None:
        """Reject what cannot be read, when its account can be: the client learns why."""
        _received.set(time.perf_counter())  # not the previous intent's
        try:
            account = subjects.account_of(msg.subject)
        except SubjectError:
            return
        # Read as what it was sent as (a JSON intent's ids are in its JSON).
        raw = INTENTS.decode_loose(msg.data, content_type_of(msg.headers))
        intent_id = _readable_id(raw, "intent_id")
        seq = msg.metadata.sequence.stream if msg.metadata else 0
        reason, text = reason_for_decode_error(exc), clip(f"the intent could not be read: {exc.reason}")
        # A cancel or a modification that cannot be read names an order that has its outcome
        # already: its refusal must not read as a second outcome of that order.
        modify_id, cancel_id = _readable_id(raw, "modify_id"), _readable_id(raw, "cancel_id")
        event: OrderRejected | ModifyRejected
        if modify_id:
            event = ModifyRejected(account=account, intent_id=intent_id, modify_id=modify_id, reason=reason,
                                   message=text)
            msg_id = msgids.modify_outcome(account, modify_id)
        elif cancel_id:
            event = OrderRejected(account=account, intent_id=intent_id, cancel_id=cancel_id, reason=reason,
                                  message=text)
            msg_id = msgids.cancel_outcome(account, cancel_id)
        else:
            event = OrderRejected(account=account, intent_id=intent_id, reason=reason, message=text)
            msg_id = msgids.outcome(account, intent_id) if intent_id else msgids.malformed(account, seq)
        await bus.publish(self.js, subjects.evt_order(account), event, msg_id=msg_id)
        self._count("modify" if modify_id else "cancel" if cancel_id else "order", account, "rejected", reason)


def _kind(intent: OrderIntent | CancelIntent | ModifyIntent) -> str:
    return "modify" if isinstance(intent, ModifyIntent) else "cancel" if isinstance(intent, CancelIntent) else "order"


def _stored_ns(msg: Msg) -> int | None:
    """When the stream stored the message (None outside JetStream)."""
    try:
        return int(msg.metadata.timestamp.timestamp() * 1_000_000_000)
    except Exception:  # noqa: BLE001 - a core NATS message has no JetStream metadata
        return None


def _normalized(intent: OrderIntent) -> str | None:
    try:
        return normalize(intent.symbol, intent.asset_class)
    except SymbolError:
        return None


def _readable_id(raw: object, name: str) -> str | None:
    value = raw.get(name) if isinstance(raw, dict) else None
    return value if isinstance(value, str) and ID_RE.match(value) and len(value) <= ID_MAX else None
