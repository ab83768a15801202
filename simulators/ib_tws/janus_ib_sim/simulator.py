"""The simulated TWS: shared market, order book and accounts behind every client session, plus
the control API (set prices, orders from another client, IB's failure scenarios).

    async with IBSimulator(seed=1, tick_interval=0.05, bar_interval=0.2) as sim:
        ib = IB(); await ib.connectAsync("127.0.0.1", sim.port, clientId=1)
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone

import structlog

from . import book, groups, hours, margin, rules
from . import outgoing as out
from .book import Account, Holding, OrderError, SimOrder
from .catalogue import STATIC_CATALOGUE, Query, Spec, listed, match
from .market import Quote, first_quote, set_price, step
from .orderflow import OrderFlow
from .orderwire import OrderRequest
from .session import MarketSub, Session

log = structlog.get_logger()

LIVE_TICKS = {"bid": 1, "ask": 2, "last": 4, "high": 6, "low": 7, "close": 9, "open": 14,
              "bid_size": 0, "ask_size": 3, "last_size": 5, "volume": 8, "time": 45}
DELAYED_TICKS = {"bid": 66, "ask": 67, "last": 68, "high": 72, "low": 73, "close": 75, "open": 76,
                 "bid_size": 69, "ask_size": 70, "last_size": 71, "volume": 74, "time": 88}


@dataclass
class Scenario:
    """Conditions injected through the control interface."""

    connectivity_lost: bool = False
    farm_down: bool = False
    frozen: bool = False  # the socket stays open but nothing is answered (a hung TWS)
    no_subscription: set[int] = field(default_factory=set)  # conIds answering 354
    delayed_only: set[int] = field(default_factory=set)  # conIds answering 10167 + delayed data
    hold_for_locate: int = 0  # how many next short sales are held (404)
    withhold_commissions: int = 0  # how many next live fills come without their commission report
    # orderRefs whose placement kills the placing client's session, every time (a poison order)
    drop_on_place: set[str] = field(default_factory=set)


@dataclass
class Execution:
    exec_id: str
    order: SimOrder
    qty: float
    price: float
    cum: float
    avg: float
    ts: float
    commission: float
    realized: float | None


@dataclass
class BarWindow:
    start: float
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0
    count: int = 0
    notional: float = 0.0


class IBSimulator(OrderFlow):
    def __init__(self, *, accounts: list[tuple[str, float]] | None = None,
                 catalogue: tuple[Spec, ...] | None = None, seed: int = 1, host: str = "127.0.0.1",
                 port: int = 0, tick_interval: float = 0.25, bar_interval: float = 5.0,
                 pacing_limit: int | None = 50, clock: Callable[[], date] | None = None,
                 session_length: float = hours.DEFAULT_LENGTH, session_gap: float | None = None) -> None:
        self.host = host
        self.port = port
        # No catalogue: the stocks plus the futures/options calendar of the clock's day. A given
        # catalogue is listed as it is (minus what has expired).
        self._static = STATIC_CATALOGUE if catalogue is None else catalogue
        self._generate = catalogue is None
        self.clock = clock or (lambda: datetime.now(timezone.utc).date())
        self._listed_on: date | None = None
        self._listed: tuple[Spec, ...] = ()
        self.specs: dict[int, Spec] = {}  # every contract ever listed: holdings outlive expiry
        self.quotes: dict[int, Quote] = {}
        self.rng = random.Random(seed)
        self.accounts = {n: Account(n, cash) for n, cash in (accounts or [("DU1000001", 1_000_000.0),
                                                                           ("DU1000002", 1_000_000.0)])}
        self.tick_interval = tick_interval
        self.pacing_limit = pacing_limit  # messages/s per client before error 100, as real TWS; None = off
        self.bar_interval = bar_interval
        self.scenario = Scenario()
        self.sessions: dict[int, Session] = {}
        self.orders: dict[int, SimOrder] = {}  # by permId
        self.by_client: dict[tuple[int, int], int] = {}  # (clientId, orderId) -> permId
        self.staged: dict[tuple[int, int], groups.Staged] = {}  # transmit=False, not yet sent
        # The session opens with the simulator, whatever the wall clock says (see hours.py).
        self.hours = hours.start(time.time(), session_length,
                                 hours.DEFAULT_GAP if session_gap is None else session_gap)
        self.executions: list[Execution] = []
        self.bars: dict[int, BarWindow] = {}
        self._next_perm = 1_000_000 + seed * 1000
        self._next_exec = 1
        self._next_ids: dict[int, int] = {}
        self._server: asyncio.base_events.Server | None = None
        self._tasks: list[asyncio.Task] = []
        self._external_client = 999  # "another client" of the control interface
        self.stats = {"orders": 0, "fills": 0, "ticks_sent": 0}
        self._refresh_listing()

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> "IBSimulator":
        await self._listen()
        self._tasks = [asyncio.create_task(self._tick_loop(), name="ib-sim-ticks"),
                       asyncio.create_task(self._bar_loop(), name="ib-sim-bars")]
        log.info("ib_sim_listening", host=self.host, port=self.port, accounts=self.account_numbers)
        return self

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._close_server()

    async def _close_server(self) -> None:
        for session in list(self.sessions.values()):
            session.close()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    async def __aenter__(self) -> "IBSimulator":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session(self, reader, writer)
        try:
            await session.run()
        except asyncio.IncompleteReadError:
            session.close()

    # --- sessions -------------------------------------------------------------------------

    @property
    def account_numbers(self) -> list[str]:
        return list(self.accounts)

    def claim(self, client_id: int, session: Session) -> bool:
        if client_id in self.sessions:
            return False
        self.sessions[client_id] = session
        return True

    def forget(self, session: Session) -> None:
        if session.client_id is not None and self.sessions.get(session.client_id) is session:
            del self.sessions[session.client_id]

    def next_order_id(self, client_id: int) -> int:
        used = [oid for (cid, oid) in self.by_client if cid == client_id]
        return max([self._next_ids.get(client_id, 1), *(o + 1 for o in used)])

    @property
    def catalogue(self) -> tuple[Spec, ...]:
        """The contracts listed today (the day rolls: expired ones go, new ones come)."""
        self._refresh_listing()
        return self._listed

    def _refresh_listing(self) -> None:
        today = self.clock()
        if today == self._listed_on:
            return
        self._listed = listed(self._static, today, generate=self._generate)
        self._listed_on = today
        for spec in self._listed:
            self.specs.setdefault(spec.con_id, spec)
            self.quotes.setdefault(spec.con_id, first_quote(spec))
        # Working orders in a contract that stopped trading end with it, as at the exchange.
        live = {s.con_id for s in self._listed}
        for order in [o for o in self.orders.values() if not o.done and o.spec.con_id not in live]:
            log.info("ib_sim_order_expired", perm_id=order.perm_id, symbol=order.spec.local_symbol)
            self._cancel(order, "contract expired")

    def lookup(self, q: Query) -> list[Spec]:
        return match(self.catalogue, q)

    def _broadcast(self, fields: list[object]) -> None:
        for session in list(self.sessions.values()):
            session.send(fields)

    # --- market data ----------------------------------------------------------------------

    def _delayed(self, session: Session, con_id: int) -> bool:
        return session.md_type in (3, 4) or con_id in self.scenario.delayed_only

    def start_market_data(self, session: Session, req_id: int, spec: Spec, snapshot: bool) -> None:
        if spec.con_id in self.scenario.no_subscription:
            session.error(req_id, 354, "Requested market data is not subscribed. Check API status by "
                                       "selecting the Account menu then under Management choose Market "
                                       "Data Subscription Manager and/or Account Settings.")
            return
        delayed = self._delayed(session, spec.con_id)
        if spec.con_id in self.scenario.delayed_only:
            session.error(req_id, 10167, "Requested market data is not subscribed. Displaying delayed "
                                         "market data.")
        session.send([81, req_id, spec.min_tick, "9c0001", 3])
        session.send([58, 1, req_id, 3 if delayed else 1])
        sub = MarketSub(req_id, spec.con_id, snapshot, delayed)
        self._send_quote(session, sub, self.quotes[spec.con_id], full=True)
        if snapshot:
            session.send([57, 1, req_id])
        else:
            session.market[req_id] = sub

    def _send_quote(self, session: Session, sub: MarketSub, q: Quote, *, full: bool) -> None:
        t = DELAYED_TICKS if sub.delayed else LIVE_TICKS
        r = sub.req_id
        session.send(out.tick_price(r, t["bid"], q.bid, q.bid_size))
        session.send(out.tick_price(r, t["ask"], q.ask, q.ask_size))
        if self.specs[sub.con_id].sec_type != "CASH":  # IDEALPRO quotes; it reports no trades
            session.send(out.tick_price(r, t["last"], q.last, q.last_size))
            session.send(out.tick_size(r, t["volume"], q.volume))
        session.send([46, 6, r, t["time"], str(int(time.time()))])
        if full:
            for name in ("high", "low", "close", "open"):
                session.send(out.tick_price(r, t[name], getattr(q, name), 0))
        self.stats["ticks_sent"] += 1

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_interval)
            try:
                self.tick()
            except Exception:  # the market must keep moving whatever one tick did
                log.exception("tick_failed")

    def tick(self) -> None:
        """One market step: every price moves, working orders trade, subscribers hear it."""
        self._refresh_listing()  # the day may have rolled: expired contracts stop trading
        self.clock_tick(time.time())
        wanted = {sub.con_id for s in self.sessions.values() for sub in s.market.values()}
        wanted |= {c for s in self.sessions.values() for c in s.bars.values()}
        wanted |= {c for s in self.sessions.values() for c, _ in s.live_bars.values()}
        wanted |= {o.spec.con_id for o in self.orders.values() if not o.done}
        for con_id in wanted:
            spec = self.specs[con_id]
            self.quotes[con_id] = step(spec, self.quotes[con_id], self.rng)
            self._bar_update(con_id)
        self.match_all()
        if self.scenario.farm_down:
            return
        for session in list(self.sessions.values()):
            for sub in list(session.market.values()):
                self._send_quote(session, sub, self.quotes[sub.con_id], full=False)

    def _bar_update(self, con_id: int) -> None:
        q = self.quotes[con_id]
        w = self.bars.get(con_id)
        if w is None:
            self.bars[con_id] = BarWindow(time.time(), q.last, q.last, q.last, q.last, q.last_size, 1,
                                          q.last * q.last_size)
            return
        w.high, w.low, w.close = max(w.high, q.last), min(w.low, q.last), q.last
        w.volume += q.last_size
        w.count += 1
        w.notional += q.last * q.last_size

    async def _bar_loop(self) -> None:
        while True:
            await asyncio.sleep(self.bar_interval)
            self.emit_bars()

    def emit_bars(self) -> None:
        windows, self.bars = self.bars, {}
        if self.scenario.farm_down:
            return
        for session in list(self.sessions.values()):
            for req_id, con_id in session.bars.items():
                w = windows.get(con_id)
                if w is None:
                    q = self.quotes[con_id]
                    w = BarWindow(time.time(), q.last, q.last, q.last, q.last)
                wap = w.notional / w.volume if w.volume else w.close
                session.send(out.realtime_bar(req_id, int(w.start), w.open, w.high, w.low, w.close,
                                              w.volume, round(wap, 6), w.count))

    # --- orders ---------------------------------------------------------------------------

    def _account_for(self, requested: str) -> Account:
        if not requested:
            return next(iter(self.accounts.values()))
        if requested not in self.accounts:
            raise OrderError(321, f"Error validating request:-'bN' : cause - The account code {requested} "
                                  f"is not valid")
        return self.accounts[requested]

    def place(self, session: Session, order_id: int, spec: Spec, req: OrderRequest) -> SimOrder | None:
        assert session.client_id is not None
        if req.order_ref and req.order_ref in self.scenario.drop_on_place:
            log.info("scenario_drop_on_place", client_id=session.client_id, order_ref=req.order_ref)
            session.close()  # the session dies on it: the error below goes nowhere
            raise OrderError(0, "session dropped on this order (scenario)")
        if req.what_if:
            self.what_if(session, order_id, spec, req)
            return None
        return self.submit(session.client_id, order_id, spec, req)

    def _place(self, client_id: int, order_id: int, spec: Spec, req: OrderRequest) -> SimOrder:
        checked = rules.check(spec, req, time.time())
        order_type, qty, tif = req.order_type, req.qty, req.tif
        lmt, aux = book.used_prices(order_type, req.lmt, req.aux)
        acct = self._account_for(req.account)
        key = (client_id, order_id)
        if key in self.by_client:  # modify: same orderId again
            order = self.orders[self.by_client[key]]
            if order.status == "Filled":
                raise OrderError(104, f"Can't modify a filled order (order id {order_id})")
            if order.done:
                raise OrderError(201, f"Order rejected - reason:Cannot modify order {order_id}: it is "
                                      f"{order.status.lower()}")
            rules.modify_mismatch(order, spec, req)
            if qty < order.filled:
                raise OrderError(321, "Error validating request: quantity below what is already filled")
            if not order.parent_id:  # attached orders only close what their parent opened
                self._check_margin(acct, order.spec, order.action, qty - order.filled, order_type, lmt, aux,
                                   exclude=order.perm_id)
            order = replace(order, **{"qty": qty, "order_type": order_type, "lmt": lmt, "aux": aux, "tif": tif,
                                      **self.order_fields(spec, req, checked, order)})
        else:
            action = req.action
            if any(cid == client_id and oid >= order_id for cid, oid in self.by_client) and \
                    order_id < self._next_ids.get(client_id, 0):
                raise OrderError(103, f"Duplicate order id {order_id}")
            if not req.parent_id:
                self._check_margin(acct, spec, action, qty, order_type, lmt, aux)
            holding = acct.holdings.get(spec.con_id, Holding())
            short_sale = action == "SELL" and holding.qty - qty < 0 and not req.parent_id
            if short_sale and not spec.shortable:
                raise OrderError(201, "Order rejected - reason:The contract is not available for short sale.")
            self._next_perm += 1
            order = SimOrder(order_id, client_id, self._next_perm, acct.number, spec, action, qty, order_type,
                             lmt, aux, tif, req.order_ref, **self.order_fields(spec, req, checked, None))
            self.by_client[key] = order.perm_id
            self._next_ids[client_id] = max(self._next_ids.get(client_id, 1), order_id + 1)
            self.stats["orders"] += 1
            if short_sale and self.scenario.hold_for_locate > 0:
                self.scenario.hold_for_locate -= 1
                order = replace(order, status="PreSubmitted", why_held="locate")
                self.orders[order.perm_id] = order
                self._order_update(order)
                self._to_owner(order, out.error(order_id, 404, "Order held while securities are located."))
                return order
        order = replace(order, status=self.status_of(order))
        self.orders[order.perm_id] = order
        self.after_placed(order, checked)
        return self.orders[order.perm_id]

    def _quote(self, spec: Spec) -> Quote:
        return self.quotes.setdefault(spec.con_id, first_quote(spec))

    def _working(self, order: SimOrder) -> margin.Working:
        price = margin.order_price(order.action, order.order_type, order.lmt, order.aux, self._quote(order.spec))
        return margin.Working(order.spec, order.action, order.remaining, price)

    def _check_margin(self, acct: Account, spec: Spec, action: str, qty: float, order_type: str,
                      lmt: float | None, aux: float | None, exclude: int | None = None) -> None:
        """IB's pre-trade margin check: the order, with the account's other working orders,
        must fit in its equity (201 with the figures otherwise)."""
        new = margin.Working(spec, action, qty, margin.order_price(action, order_type, lmt, aux, self._quote(spec)))
        others = [self._working(o) for o in self.orders.values()
                  if not o.done and o.account == acct.number and o.perm_id != exclude]
        marks = {c: q.last for c, q in self.quotes.items()}
        short = margin.shortfall(new, others, acct.cash, acct.quantities, marks, self.specs)
        if short is not None:
            needed, equity = short
            log.info("ib_sim_order_over_buying_power", account=acct.number, symbol=spec.local_symbol,
                     needed=round(needed, 2), equity=round(equity, 2))
            raise OrderError(201, "Order rejected - reason:YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE "
                                  f"DESIRED POSITION YOUR EQUITY WITH LOAN VALUE [{equity:.2f} USD] MUST EXCEED "
                                  f"THE INITIAL MARGIN [{needed:.2f} USD]")

    def _to_owner(self, order: SimOrder, fields: list[object]) -> None:
        owner = self.sessions.get(order.client_id)
        if owner is not None:
            owner.send(fields)

    def _order_update(self, order: SimOrder) -> None:
        """openOrder + orderStatus to the placing client (and clients bound to all orders)."""
        for session in list(self.sessions.values()):
            if session.client_id == order.client_id or session.auto_open_orders:
                session.send(out.open_order(order))
                session.send(out.order_status(order))

    def cancel(self, session: Session, order_id: int) -> None:
        if self.cancel_staged(session.client_id or 0, order_id):
            return
        perm = self.by_client.get((session.client_id or 0, order_id))
        order = self.orders.get(perm) if perm else None
        if order is None:
            session.error(order_id, 10147, f"OrderId {order_id} that needs to be cancelled is not found.")
            return
        if order.done:
            session.error(order_id, 10148, f"OrderId {order_id} that needs to be cancelled cannot be cancelled, "
                                           f"state: {order.status}.")
            return
        self._cancel(order)

    def _cancel(self, order: SimOrder, reason: str = "") -> None:
        order = replace(order, status="Cancelled", completed_time=out.exec_time())
        self.orders[order.perm_id] = order
        self._order_update(order)
        self._to_owner(order, out.error(order.order_id, 202, f"Order Canceled - reason:{reason}"))
        self.cancel_children(order)

    def cancel_all(self) -> None:
        for order in list(self.orders.values()):
            if not order.done:
                self._cancel(order)

    def match_all(self) -> None:
        if self.scenario.connectivity_lost:
            return  # the exchange is unreachable: nothing trades
        for perm in list(self.orders):
            order = self.orders[perm]
            if order.done or order.why_held or self.waiting(order) or \
                    not hours.may_trade(self.hours, order.outside_rth):
                continue
            quote = self.quotes[order.spec.con_id]
            order = self.trail(order)
            if order.is_stop and not order.triggered and book.triggered(order, quote):
                order = replace(order, triggered=True, status="Submitted")
                self.orders[perm] = order
                self._order_update(order)
            trade = book.executable(order, quote)
            if trade is None:
                continue
            qty, price = trade
            self.quotes[order.spec.con_id] = book.consume(quote, order.action, qty)
            self._fill(order, qty, price)

    def _fill(self, order: SimOrder, qty: float, price: float) -> None:
        order = book.fill(order, qty, price)
        if order.done:
            order = replace(order, completed_time=out.exec_time())
        self.orders[order.perm_id] = order
        acct = self.accounts[order.account]
        before = acct.holdings.get(order.spec.con_id, Holding())
        after = book.apply_fill(before, order.spec, order.action, qty, price)
        acct.holdings[order.spec.con_id] = after
        fee = book.commission(order.spec, qty, price=price)
        signed = qty if order.action == "BUY" else -qty
        acct.cash -= signed * price * book.multiplier(order.spec) + fee
        realized = after.realized - before.realized if after.realized != before.realized else None
        exec_id = f"0000e{self._next_exec:07d}.{int(time.time()):x}.01.01"
        self._next_exec += 1
        ex = Execution(exec_id, order, qty, price, order.filled, order.avg_price, time.time(), fee, realized)
        self.executions.append(ex)
        self.stats["fills"] += 1
        owner = self.sessions.get(order.client_id)
        if owner is not None:
            owner.send(out.exec_details(-1, order, exec_id, qty, price, order.filled, order.avg_price, ex.ts))
        self._order_update(order)
        if owner is not None and self.scenario.withhold_commissions > 0:
            self.scenario.withhold_commissions -= 1  # reqExecutions still reports it, as IB does
        elif owner is not None:
            owner.send(out.commission_report(exec_id, fee, order.spec.currency, realized))
        self._holding_changed(acct, order.spec)
        self.after_fill(order, qty)

    def _holding_changed(self, acct: Account, spec: Spec) -> None:
        h = acct.holdings[spec.con_id]
        for session in list(self.sessions.values()):
            if session.positions:
                session.send(out.position(acct.number, spec, h))
            if session.account_updates == acct.number:
                session.send(out.portfolio(acct.number, spec, h, self.quotes[spec.con_id].last))
                self._send_values(session, acct.number)

    # --- account and order reports --------------------------------------------------------

    def account_values(self, number: str) -> dict[str, float]:
        marks = {c: q.last for c, q in self.quotes.items()}
        return self.accounts[number].values(marks, self.specs)

    def _send_values(self, session: Session, number: str) -> None:
        for key, value in self.account_values(number).items():
            session.send([6, 2, key, round(value, 2), "USD", number])
        session.send([8, 1, time.strftime("%H:%M", time.gmtime())])

    def send_account(self, session: Session, number: str) -> None:
        if number not in self.accounts:
            session.error(-1, 321, f"Account {number} is not managed by this TWS")
            session.send([54, 1, number])
            return
        self._send_values(session, number)
        for con_id, h in self.accounts[number].holdings.items():
            session.send(out.portfolio(number, self.specs[con_id], h, self.quotes[con_id].last))
        session.send([54, 1, number])

    def send_positions(self, session: Session) -> None:
        for acct in self.accounts.values():
            for con_id, h in acct.holdings.items():
                session.send(out.position(acct.number, self.specs[con_id], h))
        session.send([62, 1])

    def send_open_orders(self, session: Session, *, everyone: bool) -> None:
        for order in self.orders.values():
            if not order.done and (everyone or order.client_id == session.client_id):
                session.send(out.open_order(order))
                session.send(out.order_status(order))
        session.send([53, 1])

    def send_completed(self, session: Session) -> None:
        for order in self.orders.values():
            if order.done:
                session.send(out.completed_order(order))
        session.send([102])

    def send_executions(self, session: Session, req_id: int, *, client_filter: int, account: str, symbol: str,
                        sec_type: str, side: str) -> None:
        for ex in self.executions:
            o = ex.order
            if client_filter and o.client_id != client_filter:
                continue
            if account and o.account != account:
                continue
            if symbol and o.spec.symbol != symbol:
                continue
            if sec_type and o.spec.sec_type != sec_type:
                continue
            if side and side[:1] != o.action[:1]:
                continue
            session.send(out.exec_details(req_id, o, ex.exec_id, ex.qty, ex.price, ex.cum, ex.avg, ex.ts))
            session.send(out.commission_report(ex.exec_id, ex.commission, o.spec.currency, ex.realized))
        session.send([55, 1, req_id])

    # --- control interface ----------------------------------------------------------------

    def spec_for(self, symbol_or_con_id: str | int) -> Spec:
        if isinstance(symbol_or_con_id, int) or str(symbol_or_con_id).isdigit():
            return self.specs[int(symbol_or_con_id)]
        found = [s for s in self.catalogue if s.local_symbol == symbol_or_con_id]
        found = found or [s for s in self.catalogue if s.symbol == symbol_or_con_id and s.currency == "USD"
                          and s.sec_type == "STK"]
        if len(found) != 1:
            raise KeyError(f"{symbol_or_con_id!r} names {len(found)} contracts; use a conId or local symbol")
        return found[0]

    def set_price(self, symbol_or_con_id: str | int, price: float) -> Quote:
        spec = self.spec_for(symbol_or_con_id)
        if not (math.isfinite(price) and 0 < price and price / spec.min_tick < book.MAX_TICKS):
            raise ValueError(f"price {price!r} is not a positive finite price for {spec.local_symbol}")
        self.quotes[spec.con_id] = set_price(spec, self.quotes[spec.con_id], price)
        self.match_all()
        return self.quotes[spec.con_id]

    def external_order(self, symbol_or_con_id: str | int, action: str, qty: float, order_type: str = "LMT",
                       lmt: float | None = None, aux: float | None = None, account: str = "",
                       order_ref: str = "") -> SimOrder:
        """An order placed by another API client (or the TWS window): not this client's."""
        spec = self.spec_for(symbol_or_con_id)
        order_id = self._next_ids.get(self._external_client, 1)
        req = OrderRequest(action=action, qty=qty, order_type=order_type, lmt=lmt, aux=aux, account=account,
                           order_ref=order_ref)
        return self._place(self._external_client, order_id, spec, req)

    def connection_lost(self) -> None:
        self.scenario.connectivity_lost = True
        self._broadcast(out.error(-1, 1100, "Connectivity between IB and Trader Workstation has been lost."))

    def connection_restored(self, *, data_lost: bool = False) -> None:
        self.scenario.connectivity_lost = False
        if data_lost:
            self._broadcast(out.error(-1, 1101, "Connectivity between IB and TWS has been restored- data lost.*"))
        else:
            self._broadcast(out.error(-1, 1102, "Connectivity between IB and TWS has been restored- data "
                                                "maintained."))
        self.match_all()

    def farm_down(self) -> None:
        self.scenario.farm_down = True
        self._broadcast(out.error(-1, 2103, "Market data farm connection is broken:usfarm"))

    def farm_up(self) -> None:
        self.scenario.farm_down = False
        self._broadcast(out.error(-1, 2104, "Market data farm connection is OK:usfarm"))

    def require_subscription(self, symbol_or_con_id: str | int) -> None:
        self.scenario.no_subscription.add(self.spec_for(symbol_or_con_id).con_id)

    def delayed_only(self, symbol_or_con_id: str | int) -> None:
        self.scenario.delayed_only.add(self.spec_for(symbol_or_con_id).con_id)

    def hold_next_short_for_locate(self, count: int = 1) -> None:
        self.scenario.hold_for_locate += count

    def release_locate(self, perm_id: int) -> None:
        order = self.orders[perm_id]
        self.orders[perm_id] = replace(order, why_held="", status="Submitted")
        self._order_update(self.orders[perm_id])
        self.match_all()

    def withhold_commission_reports(self, count: int = 1) -> None:
        """The next ``count`` live fills arrive without their commission report (IB sends it
        late, or only when executions are requested)."""
        self.scenario.withhold_commissions += count

    def drop_on_place(self, order_ref: str) -> None:
        """Placing an order with this orderRef drops the connection, every time it is tried."""
        self.scenario.drop_on_place.add(order_ref)

    def freeze(self, frozen: bool = True) -> None:
        """A TWS that hangs: connections stay up, requests go unanswered (until unfrozen)."""
        self.scenario.frozen = frozen

    def duplicate_status(self, perm_id: int) -> None:
        order = self.orders[perm_id]
        self._to_owner(order, out.order_status(order))

    async def restart(self, downtime: float = 0.5) -> None:
        """IB's nightly restart: every client dropped, nobody answers for ``downtime`` seconds.
        Orders (GTC and DAY alike, as within one trading day), positions and executions survive."""
        await self._close_server()
        self.sessions.clear()
        await asyncio.sleep(downtime)
        await self._listen()
        log.info("ib_sim_restarted", port=self.port)

    def snapshot(self) -> dict:
        """What the admin endpoint reports."""
        return {
            "port": self.port,
            "clients": sorted(self.sessions),
            "accounts": {n: {"cash": round(a.cash, 2),
                             "positions": {self.specs[c].local_symbol: h.qty for c, h in a.holdings.items()}}
                         for n, a in self.accounts.items()},
            "open_orders": [{"perm_id": o.perm_id, "client_id": o.client_id, "order_id": o.order_id,
                             "symbol": o.spec.local_symbol, "action": o.action, "qty": o.qty,
                             "filled": o.filled, "type": o.order_type, "status": o.status,
                             "order_ref": o.order_ref, "tif": o.tif, "lmt": o.lmt, "aux": o.aux,
                             "trail_stop": o.trail_stop, "parent_id": o.parent_id, "oca_group": o.oca_group,
                             "outside_rth": o.outside_rth, "good_till": o.good_till}
                            for o in self.orders.values() if not o.done],
            "untransmitted": [{"client_id": c, "order_id": o} for c, o in self.staged],
            "session": {"phase": self.hours.phase, "since": hours.iso(self.hours.since),
                        "closes_at" if self.hours.is_open else "opens_at": hours.iso(self.hours.until)},
            "stats": dict(self.stats),
            "scenario": {"connectivity_lost": self.scenario.connectivity_lost,
                         "farm_down": self.scenario.farm_down},
        }
