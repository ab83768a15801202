"""Order mechanics beyond one order against the touch: staging and brackets, OCA groups,
trailing stops, the session clock (auctions at the open and close, DAY and GTD expiry), FOK,
IOC and whatIf. A mixin of ``IBSimulator``: the pure rules live in hours.py, trailing.py,
groups.py, rules.py and whatif.py; this applies them to the simulator's orders and reports
each change to the clients the way TWS does (openOrder + orderStatus)."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import structlog

from . import book, groups, hours, margin, rules, trailing, whatif
from . import outgoing as out
from .book import OrderError, SimOrder
from .catalogue import Spec
from .orderwire import OrderRequest

if TYPE_CHECKING:
    from .session import Session

log = structlog.get_logger()

EXPIRED = "expired"


class OrderFlow:
    # Provided by IBSimulator.
    orders: dict[int, SimOrder]
    by_client: dict[tuple[int, int], int]
    sessions: dict[int, Any]
    quotes: dict[int, Any]
    specs: dict[int, Spec]
    accounts: dict[str, Any]
    hours: hours.Hours
    staged: dict[tuple[int, int], groups.Staged]

    if TYPE_CHECKING:  # IBSimulator's own order handling, which this extends
        def _place(self, client_id: int, order_id: int, spec: Spec, req: OrderRequest) -> SimOrder: ...
        def _fill(self, order: SimOrder, qty: float, price: float) -> None: ...
        def _cancel(self, order: SimOrder, reason: str = "") -> None: ...
        def _order_update(self, order: SimOrder) -> None: ...
        def _to_owner(self, order: SimOrder, fields: list[object]) -> None: ...
        def _account_for(self, requested: str) -> Any: ...
        def _check_margin(self, acct: Any, spec: Spec, action: str, qty: float, order_type: str,
                          lmt: float | None, aux: float | None, exclude: int | None = None) -> None: ...
        def match_all(self) -> None: ...

    # --- placement ------------------------------------------------------------------------

    def submit(self, client_id: int, order_id: int, spec: Spec, req: OrderRequest) -> SimOrder | None:
        """A placeOrder that is not whatIf: a modify, a staged (untransmitted) order, or a
        transmission that sends its whole group, parent first."""
        key = (client_id, order_id)
        if key in self.by_client:
            return self._place(client_id, order_id, spec, req)
        rules.check(spec, req, time.time())  # a staged order is refused at once, as TWS does
        if not req.transmit:
            self.staged[key] = groups.Staged(client_id, order_id, spec, req)
            log.info("ib_sim_order_staged", client_id=client_id, order_id=order_id, parent_id=req.parent_id)
            return None
        if req.parent_id and (client_id, req.parent_id) not in self.staged \
                and (client_id, req.parent_id) not in self.by_client:
            raise OrderError(135, f"Can't find order with id = {req.parent_id}")
        group = groups.batch(self.staged.values(), client_id, order_id, req.parent_id)
        failed: set[int] = set()
        for item in group:
            self.staged.pop((client_id, item.order_id), None)
            if item.request.parent_id in failed:
                failed.add(item.order_id)
                self._to_client(client_id, out.error(item.order_id, 201, "Order rejected - reason:Parent order "
                                                                         "is being cancelled."))
                continue
            try:
                self._place(client_id, item.order_id, item.spec, item.request)
            except OrderError as exc:
                failed.add(item.order_id)
                self._to_client(client_id, out.error(item.order_id, exc.code, exc.text))
        if req.parent_id in failed:
            raise OrderError(201, "Order rejected - reason:Parent order is being cancelled.")
        return self._place(client_id, order_id, spec, req)

    def _to_client(self, client_id: int, fields: list[object]) -> None:
        session = self.sessions.get(client_id)
        if session is not None:
            session.send(fields)

    def order_fields(self, spec: Spec, req: OrderRequest, checked: rules.Checked,
                     prior: SimOrder | None) -> dict[str, Any]:
        """The SimOrder fields of the new types, tifs and groups, for a new order or a modify."""
        trail: float | None = None
        kept: dict[str, Any] = {}
        if req.order_type in trailing.TRAILING:
            same = (prior is not None and prior.order_type == req.order_type and prior.aux == req.aux
                    and prior.trailing_pct == req.trailing_pct and prior.trail_given == req.trail_stop
                    and prior.lmt_offset == req.lmt_offset)
            if same and prior is not None:  # size or tif changed: the trail goes on where it is
                trail = prior.trail_stop
                kept = {"triggered": prior.triggered, "lmt": prior.lmt}
            else:  # a new amount, percent or trailStopPrice: the stop starts again from the market
                given = req.trail_stop if prior is None or req.trail_stop != prior.trail_given else None
                trail = trailing.initial(req.action, self.quotes[spec.con_id].last, req.aux, req.trailing_pct,
                                         given, spec.min_tick)
        return {
            "oca_group": req.oca_group if prior is None else prior.oca_group,
            "oca_type": req.oca_type if prior is None else prior.oca_type,
            "parent_id": req.parent_id if prior is None else prior.parent_id,
            "outside_rth": checked.outside_rth,
            "good_till": req.good_till if req.tif == "GTD" else "",
            "expires_at": checked.expires_at,
            "trail_stop": trail,
            "trail_given": req.trail_stop if trail is not None else None,
            "trailing_pct": req.trailing_pct if trail is not None else None,
            "lmt_offset": req.lmt_offset if req.order_type == "TRAIL LIMIT" else None,
            "triggered": False if trail is not None else (prior.triggered if prior else False),
            **kept,
        }

    def status_of(self, order: SimOrder) -> str:
        """PreSubmitted while the order cannot work (a child before its parent fills, outside
        the session without outsideRth, an opening order before the open, an untriggered stop)."""
        if order.why_held:
            return order.status
        if self.waiting(order) or not hours.may_trade(self.hours, order.outside_rth):
            return "PreSubmitted"
        if order.tif == "OPG" and not order.auctioned:
            return "PreSubmitted"
        if order.is_stop and not order.triggered:
            return "PreSubmitted"
        return "Submitted"

    def waiting(self, order: SimOrder) -> bool:
        if not order.parent_id:
            return False
        perm = self.by_client.get((order.client_id, order.parent_id))
        return groups.waiting(order, self.orders.get(perm) if perm else None)

    def after_placed(self, order: SimOrder, checked: rules.Checked) -> None:
        """Warnings, the order's report, FOK and IOC: what follows an accepted order. Warnings
        go first: ib_async marks a trade ValidationError on a warning, and the status after it
        puts the trade right."""
        warnings = list(checked.warnings)
        if not hours.may_trade(self.hours, order.outside_rth):
            warnings.append((399, "Order Message:\nWarning: your order will not be placed at the exchange "
                                  f"until {hours.iso(self.hours.until)}"))
        for code, text in warnings:
            self._to_owner(order, out.error(order.order_id, code, text))
        self._order_update(order)
        if order.tif == "FOK" and not self._fills_entirely(order):
            self._cancel(order, "FOK order could not be filled entirely")
            return
        self.match_all()
        live = self.orders[order.perm_id]
        if live.tif in ("IOC", "FOK") and not live.done:
            self._cancel(live, f"{live.tif} order: unfilled quantity cancelled")

    def _fills_entirely(self, order: SimOrder) -> bool:
        if self.waiting(order) or not hours.may_trade(self.hours, order.outside_rth):
            return False
        trade = book.executable(order, self.quotes[order.spec.con_id])
        return trade is not None and trade[0] >= order.remaining - 1e-9

    # --- whatIf ---------------------------------------------------------------------------

    def what_if(self, session: Session, order_id: int, spec: Spec, req: OrderRequest) -> None:
        """The margin and commission the order would cost: one openOrder with whatIf set and
        the figures in its OrderState. Refused exactly as a real placement; nothing is kept."""
        assert session.client_id is not None
        rules.check(spec, req, time.time())
        lmt, aux = book.used_prices(req.order_type, req.lmt, req.aux)
        acct = self._account_for(req.account)
        prior = self.by_client.get((session.client_id, order_id))
        self._check_margin(acct, spec, req.action, req.qty, req.order_type, lmt, aux,
                           exclude=prior)
        held = acct.holdings.get(spec.con_id)
        if req.action == "SELL" and (held.qty if held else 0.0) - req.qty < 0 and not spec.shortable:
            raise OrderError(201, "Order rejected - reason:The contract is not available for short sale.")
        quote = self.quotes[spec.con_id]
        price = margin.order_price(req.action, req.order_type, lmt, aux, quote)
        marks = {c: q.last for c, q in self.quotes.items()}
        figures = whatif.figures(acct.cash, acct.quantities, marks, self.specs, spec, req.action, req.qty, price,
                                 book.commission(spec, req.qty, price=price))
        o = SimOrder(order_id, session.client_id, 0, acct.number, spec, req.action, req.qty, req.order_type, lmt, aux,
                     req.tif, req.order_ref, status="PreSubmitted")
        session.send(out.open_order(o, what_if=figures))

    # --- fills and cancels of groups -------------------------------------------------------

    def after_fill(self, order: SimOrder, qty: float) -> None:
        if order.status == "Filled":
            for child in groups.children(order, self.orders.values()):
                if child.order_type in trailing.TRAILING and child.trail_given is None:
                    # An attached trailing stop starts trailing when it becomes active, from there.
                    child = replace(child, trail_stop=trailing.initial(
                        child.action, self.quotes[child.spec.con_id].last, child.aux, child.trailing_pct, None,
                        child.spec.min_tick))
                    self.orders[child.perm_id] = child
                self._restatus(child)
        for member, new_qty in groups.after_fill(order, qty, groups.oca_members(order, self.orders.values())):
            member = self.orders[member.perm_id]
            if member.done:
                continue
            if new_qty is None:
                self._cancel(member, "OCA group member filled")
            else:
                self.orders[member.perm_id] = replace(member, qty=new_qty)
                self._order_update(self.orders[member.perm_id])

    def cancel_children(self, parent: SimOrder) -> None:
        for child in groups.children(parent, self.orders.values()):
            self._cancel(self.orders[child.perm_id], "parent order cancelled")

    def cancel_staged(self, client_id: int, order_id: int) -> bool:
        """Cancelling an order that was never transmitted discards it (and its staged children)."""
        item = self.staged.pop((client_id, order_id), None)
        if item is None:
            return False
        for key in [k for k, s in self.staged.items() if s.client_id == client_id and s.request.parent_id == order_id]:
            del self.staged[key]
        self._to_client(client_id, [3, order_id, "Cancelled", 0, item.request.qty, 0, 0, 0, 0, client_id, "", 0])
        return True

    def _restatus(self, order: SimOrder) -> None:
        status = self.status_of(order)
        if status != order.status:
            order = replace(order, status=status)
            self.orders[order.perm_id] = order
            self._order_update(order)

    # --- trailing -------------------------------------------------------------------------

    def trail(self, order: SimOrder) -> SimOrder:
        """Move a trailing stop with the last trade; the client hears each move (openOrder with
        the new trailStopPrice), and a hit turns it into a market or limit order."""
        if order.order_type not in trailing.TRAILING or order.triggered or order.trail_stop is None:
            return order
        last, tick = self.quotes[order.spec.con_id].last, order.spec.min_tick
        stop = trailing.follow(order.action, order.trail_stop, last, order.aux, order.trailing_pct, tick)
        changed = stop != order.trail_stop
        order = replace(order, trail_stop=stop)
        if trailing.hit(order.action, stop, last):
            lmt = (trailing.limit_at(order.action, stop, order.lmt_offset or 0.0, tick)
                   if order.order_type == "TRAIL LIMIT" else None)
            order = replace(order, triggered=True, status="Submitted", lmt=lmt)
            changed = True
        if changed:
            self.orders[order.perm_id] = order
            self._order_update(order)
        return order

    # --- the session clock ----------------------------------------------------------------

    def clock_tick(self, now: float) -> None:
        """Every market tick: the session ends (or the next begins) on time; GTD orders expire
        when the wall clock passes their goodTillDate."""
        if hours.due(self.hours, now):
            if self.hours.is_open:
                self.close_session()
            else:
                self.open_session()
        for order in [o for o in self.orders.values() if not o.done and o.expires_at is not None]:
            if order.expires_at is not None and now >= order.expires_at:
                log.info("ib_sim_gtd_expired", perm_id=order.perm_id, good_till=order.good_till)
                self._cancel(order, EXPIRED)

    def close_session(self) -> None:
        """The close: MOC and LOC execute at the closing price (LOC only within its limit),
        DAY orders and opening orders left from the open expire, GTC and GTD stay."""
        if not self.hours.is_open:
            return
        self.hours = hours.close(self.hours, time.time())
        for con_id, q in list(self.quotes.items()):  # the closing price is the day's close
            self.quotes[con_id] = replace(q, close=q.last)
        for perm in list(self.orders):
            order = self.orders[perm]
            if order.done or order.why_held or self.waiting(order) or order.order_type not in ("MOC", "LOC"):
                continue
            price = self.quotes[order.spec.con_id].last
            if order.order_type == "MOC" or _within(order, price):
                self._fill(order, order.remaining, price)
        for perm in list(self.orders):
            order = self.orders[perm]
            if not order.done and (order.tif in ("DAY", "") or order.order_type in ("MOC", "LOC")
                                   or (order.tif == "OPG" and order.auctioned)):
                self._cancel(order, EXPIRED)
        self._restatus_all()
        log.info("ib_sim_session_closed", next_open=hours.iso(self.hours.until))

    def open_session(self) -> None:
        """The open: opening (OPG) orders execute at the opening price, LMT only within its
        limit; then continuous trading resumes."""
        if self.hours.is_open:
            return
        self.hours = hours.open_(self.hours, time.time())
        for con_id, q in list(self.quotes.items()):  # a new day's open, high and low
            self.quotes[con_id] = replace(q, open=q.last, high=q.last, low=q.last)
        for perm in list(self.orders):
            order = self.orders[perm]
            if order.done or order.why_held or self.waiting(order) or order.tif != "OPG" or order.auctioned:
                continue
            order = replace(order, auctioned=True)
            self.orders[perm] = order
            price = self.quotes[order.spec.con_id].last
            if order.order_type == "MKT" or _within(order, price):
                self._fill(order, order.remaining, price)
        self._restatus_all()
        self.match_all()
        log.info("ib_sim_session_opened", closes=hours.iso(self.hours.until))

    def _restatus_all(self) -> None:
        for perm in list(self.orders):
            if not self.orders[perm].done:
                self._restatus(self.orders[perm])


def _within(order: SimOrder, price: float) -> bool:
    if order.lmt is None:
        return False
    return price <= order.lmt if order.action == "BUY" else price >= order.lmt
