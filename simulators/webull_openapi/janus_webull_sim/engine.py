"""The matching engine: accounts, orders, rules and fills against the seeded price paths.

Pure state machine: the caller supplies the clock, calls ``tick()`` and drains ``events``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from janus_webull_sim import oco, trailing
from janus_webull_sim import replace as replacing
from janus_webull_sim.book import Account
from janus_webull_sim.config import InstrumentConfig, SimConfig
from janus_webull_sim.errors import BadRequest, NotFound, OrderRejected, OrderStateError
from janus_webull_sim.orders import NEEDS_LIMIT, STOP_TYPES, NewOrder, Order, iso_ms
from janus_webull_sim.prices import PricePath, fmt_cents, to_cents


@dataclass(frozen=True)
class OrderEvent:
    """One trade event for the stream: the JSON payload Webull pushes with eventType 1024."""

    account_id: str
    payload: dict[str, Any]


def _money(d: Decimal) -> str:
    return str(d.quantize(Decimal("0.01")))


class Engine:
    def __init__(self, config: SimConfig, seed: int, clock: Callable[[], float]):
        self._clock = clock
        self._fill_chunk = max(1, config.fill_chunk)
        self.accounts = {a.account_id: Account.from_config(a) for a in config.accounts}
        self.instruments: dict[str, InstrumentConfig] = {i.symbol: i for i in config.instruments}
        self.paths = {
            i.symbol: PricePath(i.symbol, to_cents(i.price), seed, config.volatility_ticks)
            for i in config.instruments
        }
        self.orders: dict[tuple[str, str], Order] = {}
        self.events: list[OrderEvent] = []
        # The regular session: while closed nothing trades, no price moves and no trail follows;
        # orders may still be placed, replaced and cancelled (they wait for the open).
        self.session_open = True
        # Ids issued so far, as plain numbers so a saved state can carry them on (state.py).
        self.order_seq = 0
        self.request_seq = 0

    # -- look-ups ---------------------------------------------------------------------------
    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def account(self, account_id: Any) -> Account:
        if not isinstance(account_id, str) or not account_id:
            raise BadRequest("account_id is required")
        acct = self.accounts.get(account_id)
        if acct is None:
            raise NotFound(f"account {account_id} not found", error_code="ACCOUNT_NOT_FOUND")
        return acct

    def instrument(self, symbol: str) -> InstrumentConfig:
        inst = self.instruments.get(symbol)
        if inst is None:
            raise BadRequest(f"unknown symbol {symbol}", error_code="INSTRUMENT_NOT_FOUND")
        return inst

    def order(self, account_id: str, client_order_id: Any) -> Order:
        self.account(account_id)
        if not isinstance(client_order_id, str) or not client_order_id:
            raise BadRequest("client_order_id is required")
        order = self.orders.get((account_id, client_order_id))
        if order is None:
            raise NotFound(f"order {client_order_id} not found", error_code="ORDER_NOT_FOUND")
        return order

    def open_orders(self, account_id: str) -> list[Order]:
        self.account(account_id)
        return [o for (acct, _), o in self.orders.items() if acct == account_id and o.is_open]

    def sell_reserved(self, account_id: str, symbol: str, exclude: Iterable[Order] = ()) -> int:
        """Shares of the long already promised to open SELL orders (an OCO group promises them
        once: its largest member)."""
        skip = {id(o) for o in exclude}
        return oco.held((o for o in self.open_orders(account_id)
                         if o.symbol == symbol and o.side == "SELL" and id(o) not in skip),
                        lambda o: o.remaining, 0)

    def group_of(self, order: Order) -> list[Order]:
        """The order and the other open members of its OCO group (just the order when NORMAL)."""
        return [order, *oco.siblings_to_cancel(order, self.orders.values())]

    # -- commands ---------------------------------------------------------------------------
    def place(self, account_id: Any, new_orders: Any, client_combo_order_id: Any = None) -> dict[str, Any]:
        """One NORMAL order, or one OCO group (all of it, or none: a refused member fails them all)."""
        acct = self.account(account_id)
        reqs, combo_id = oco.parse_placement(new_orders, client_combo_order_id)
        inst = self.instrument(reqs[0].symbol)  # a group shares its symbol (oco.check_group)
        for req in reqs:
            if (acct.account_id, req.client_order_id) in self.orders:
                raise BadRequest(f"client_order_id {req.client_order_id} already used",
                                 error_code="DUPLICATE_CLIENT_ORDER_ID")
        if combo_id is not None and any(o.account_id == acct.account_id and o.client_combo_order_id == combo_id
                                        for o in self.orders.values()):
            raise BadRequest(f"client_combo_order_id {combo_id} already used",
                             error_code="DUPLICATE_CLIENT_COMBO_ORDER_ID")
        # Every trail is checked before any id is issued or anything is stored.
        starts = [self._trail_start(inst, req) for req in reqs]
        members = [self._new_order(acct, inst, req, stop, reference) for req, (stop, reference) in zip(reqs, starts)]
        if reqs[0].combo_type == oco.OCO:
            for member in members:
                member.combo_order_id, member.client_combo_order_id = members[0].order_id, combo_id
        for member in members:
            self.orders[(acct.account_id, member.client_order_id)] = member
        try:
            self._check_rules(acct, inst, members)
        except OrderRejected as exc:
            for member in members:
                member.status = "FAILED"
                member.reject_reason = exc.message
                self.emit(member, "PLACE_FAILED")
            raise
        first = {"client_order_id": members[0].client_order_id, "order_id": members[0].order_id}
        if members[0].combo_order_id is None:
            return first
        return first | {"combo_type": oco.OCO, "combo_order_id": members[0].combo_order_id,
                        "client_combo_order_id": combo_id or "",
                        "orders": [{"client_order_id": m.client_order_id, "order_id": m.order_id} for m in members]}

    def _trail_start(self, inst: InstrumentConfig, req: NewOrder) -> tuple[int | None, int | None]:
        """The stop and the trail's reference a new order starts with."""
        if req.trail is None:
            return req.stop_cents, None
        # The trail hangs from the last price at placement.
        reference = self.paths[inst.symbol].last
        stop = trailing.stop_for(req.trail, reference, req.side)
        if not trailing.usable(stop):
            raise BadRequest(f"a trailing_stop_step of {req.trail.step_text()} from {fmt_cents(reference)}"
                             f" would put the stop at {stop / 100:.2f}", error_code="INVALID_TRAILING_STOP_STEP")
        return stop, reference

    def _new_order(self, acct: Account, inst: InstrumentConfig, req: NewOrder, stop: int | None,
                   reference: int | None) -> Order:
        self.order_seq += 1
        return Order(
            order_id=f"SIMO{self.order_seq:012d}", client_order_id=req.client_order_id,
            account_id=acct.account_id, symbol=inst.symbol, instrument_id=inst.instrument_id,
            side=req.side, order_type=req.order_type, time_in_force=req.time_in_force,
            quantity=req.quantity, limit_cents=req.limit_cents, stop_cents=stop,
            place_time_ms=self.now_ms(), combo_type=req.combo_type, entrust_type=req.entrust_type,
            support_trading_session=req.support_trading_session,
            trailing_type=req.trail.kind if req.trail else None, trailing_step=req.trail.step if req.trail else None,
            trail_reference_cents=reference,
        )

    def _check_rules(self, acct: Account, inst: InstrumentConfig, members: list[Order]) -> None:
        """The account rules for a new order or OCO group (its members share symbol, side, quantity)."""
        order = members[0]
        held = acct.quantity(inst.symbol)
        if order.side == "SELL":
            available = max(0, held) - self.sell_reserved(acct.account_id, inst.symbol, exclude=members)
            if order.quantity > available:
                raise OrderRejected(
                    f"SELL {order.quantity} {inst.symbol} exceeds the available long of {available};"
                    " open a short with side SHORT", error_code="SELL_QUANTITY_EXCEEDS_POSITION")
        elif order.side == "SHORT":
            if not inst.shortable:
                raise OrderRejected(f"{inst.symbol} is not shortable", error_code="SYMBOL_NOT_SHORTABLE")
            if held > 0:
                raise OrderRejected(f"close the long {inst.symbol} position with SELL before shorting",
                                    error_code="SHORT_WITH_LONG_POSITION")
        if order.side in ("BUY", "SHORT"):
            self.check_buying_power(acct, order, order.quantity, order.limit_cents, order.stop_cents)

    def _commitment(self, order: Order, quantity: int, limit: int | None, stop: int | None) -> Decimal:
        """Cash an order may take, at the worse of its own price and the touch. A BUY pays it;
        a SHORT (no margin here) must be covered by it as well, so neither can outrun the cash."""
        quote = self.paths[order.symbol].quote()
        named = limit if limit is not None else stop
        cents = max(named, quote.ask) if named is not None else quote.ask
        return Decimal(max(quantity - order.filled_quantity, 0) * cents) / 100

    def buying_power(self, acct: Account, exclude: Iterable[Order] = ()) -> Decimal:
        """Cash less what open BUY and SHORT orders have promised: what a new order may use
        (an OCO group promises only its largest member's commitment)."""
        skip = {id(o) for o in exclude}
        promised = oco.held((o for o in self.open_orders(acct.account_id)
                             if o.side in ("BUY", "SHORT") and id(o) not in skip),
                            lambda o: self._commitment(o, o.quantity, o.limit_cents, o.stop_cents), Decimal(0))
        return max(acct.cash - promised, Decimal(0))

    def check_buying_power(self, acct: Account, order: Order, quantity: int, limit: int | None,
                           stop: int | None) -> None:
        """``order`` with these figures (new, or as a replace would leave it) against the buying
        power left by every other open order; its OCO group counts as its largest member."""
        group = self.group_of(order)
        cost = max([self._commitment(order, quantity, limit, stop)]
                   + [self._commitment(o, o.quantity, o.limit_cents, o.stop_cents) for o in group[1:]])
        available = self.buying_power(acct, exclude=group)
        if cost > available:
            raise OrderRejected(f"{order.side} {quantity} {order.symbol} needs {_money(cost)} USD; the buying power"
                                f" is {_money(available)} USD", error_code="INSUFFICIENT_BUYING_POWER")

    def cancel(self, account_id: Any, client_order_id: Any) -> dict[str, str]:
        order = self.order(account_id, client_order_id)
        if not order.is_open:
            self.emit(order, "CANCEL_FAILED")
            raise OrderStateError(f"order {order.client_order_id} is {order.status}; cannot cancel",
                                  error_code="ORDER_CANNOT_BE_CANCELLED")
        order.status = "CANCELLED"
        self.emit(order, "CANCEL_SUCCESS")
        return {"client_order_id": order.client_order_id, "order_id": order.order_id}

    def replace(self, account_id: Any, modify_orders: Any) -> dict[str, str]:
        return replacing.replace(self, account_id, modify_orders)

    def expire_day_orders(self) -> int:
        """End of the trading day: open DAY orders are cancelled (GTC orders stay)."""
        expired = [o for o in self.orders.values() if o.is_open and o.time_in_force == "DAY"]
        for order in expired:
            order.status = "CANCELLED"
            self.emit(order, "CANCEL_SUCCESS")
        return len(expired)

    def set_price(self, symbol: str, price: str | Decimal | float) -> None:
        self.instrument(symbol)
        self.paths[symbol].set(to_cents(price))
        if not self.session_open:
            return  # a price set while closed is where the next session opens; nothing trailed it
        # Every trade moves the trails, not only those a tick sees.
        for order in self.orders.values():
            if order.symbol == symbol and order.is_open:
                self._follow(order, self.paths[symbol].last)

    def _follow(self, order: Order, last: int) -> None:
        trail = order.trail
        if trail is None or order.triggered or order.trail_reference_cents is None:
            return
        reference = trailing.follow(order.trail_reference_cents, last, order.side)
        if reference != order.trail_reference_cents:
            order.trail_reference_cents = reference
            order.stop_cents = trailing.stop_for(trail, reference, order.side)

    def close_session(self) -> int:
        """The session close: DAY orders expire (CANCELLED, as Webull reports them), GTC stay."""
        self.session_open = False
        return self.expire_day_orders()

    def open_session(self) -> None:
        self.session_open = True

    # -- matching ---------------------------------------------------------------------------
    def tick(self, *, move_prices: bool = True) -> None:
        if not self.session_open:
            return
        if move_prices:
            for path in self.paths.values():
                path.step()
        for order in [o for o in self.orders.values() if o.is_open]:
            if order.is_open:  # an OCO member whose sibling filled earlier in this pass is cancelled
                self._match(order)

    def _match(self, order: Order) -> None:
        quote = self.paths[order.symbol].quote()
        buying = order.side == "BUY"
        self._follow(order, quote.last)
        if order.order_type in STOP_TYPES and not order.triggered:
            assert order.stop_cents is not None
            if not trailing.reached(order.stop_cents, quote.last, order.side):
                return
            order.triggered = True
        touch = quote.ask if buying else quote.bid
        if order.order_type in NEEDS_LIMIT:
            marketable = touch <= order.limit_cents if buying else touch >= order.limit_cents
            if not marketable:
                return
        qty = min(order.remaining, self._fill_chunk)
        price = Decimal(touch) / 100
        self.accounts[order.account_id].apply_fill(order.symbol, order.side, qty, price)
        order.filled_quantity += qty
        order.filled_cost_cents += qty * touch
        order.filled_time_ms = self.now_ms()
        order.status = "FILLED" if order.remaining == 0 else "PARTIAL_FILLED"
        self.emit(order, "FINAL_FILLED" if order.remaining == 0 else "FILLED",
                  last_qty=qty, last_price=fmt_cents(touch))
        # OCO: the first fill, also a partial one, cancels the rest of the group in the same step,
        # so no later order of this pass can fill a second member.
        for sibling in oco.siblings_to_cancel(order, self.orders.values()):
            sibling.status = "CANCELLED"
            self.emit(sibling, "CANCEL_SUCCESS")

    def emit(self, order: Order, scene: str, *, last_qty: int = 0, last_price: str = "") -> None:
        self.request_seq += 1
        payload = {
            "account_id": order.account_id,
            "request_id": f"SIMR{self.request_seq:012d}",
            "order_id": order.order_id,
            "client_order_id": order.client_order_id,
            "instrument_id": order.instrument_id,
            "order_status": order.status,
            "symbol": order.symbol,
            "qty": str(order.quantity),
            "filled_qty": str(order.filled_quantity),
            "filled_price": order.avg_price(),
            "filled_time": iso_ms(order.filled_time_ms) if order.filled_time_ms else "",
            "last_filled_qty": str(last_qty),
            "last_filled_price": last_price,
            "side": order.side,
            "category": "US_STOCK",
            "order_type": order.order_type,
            "time_in_force": order.time_in_force,
            "scene_type": scene,
            "biz_type": "TRADE",
        }
        if order.reject_reason:
            payload["reason"] = order.reject_reason
        self.events.append(OrderEvent(order.account_id, payload))

    def drain_events(self) -> list[OrderEvent]:
        out, self.events = self.events, []
        return out

    # -- views ------------------------------------------------------------------------------
    def snapshot(self, symbols: list[str]) -> list[dict[str, Any]]:
        out = []
        now = self.now_ms()
        for sym in symbols:
            inst = self.instruments.get(sym)
            if inst is None:
                continue  # Webull leaves unknown symbols out of the list
            q = self.paths[sym].quote()
            out.append({
                "symbol": sym, "instrument_id": inst.instrument_id,
                "price": fmt_cents(q.last), "bid": fmt_cents(q.bid), "ask": fmt_cents(q.ask),
                "bid_size": str(self._fill_chunk), "ask_size": str(self._fill_chunk),
                "volume": str(q.volume), "quote_time": now, "trade_time": now,
            })
        return out

    def positions(self, account_id: str) -> list[dict[str, Any]]:
        acct = self.account(account_id)
        out = []
        for sym, pos in acct.positions.items():
            inst = self.instruments[sym]
            last = Decimal(self.paths[sym].last) / 100
            mv = pos.quantity * last
            upl = mv - (pos.cost if pos.quantity > 0 else -pos.cost)
            available = max(0, pos.quantity) - self.sell_reserved(account_id, sym) if pos.quantity > 0 else pos.quantity
            out.append({
                "position_id": f"SIMP{inst.instrument_id}", "symbol": sym,
                "instrument_id": inst.instrument_id, "instrument_type": "EQUITY", "currency": inst.currency,
                "quantity": str(pos.quantity), "available_quantity": str(available),
                "cost_price": str(pos.avg_cost().quantize(Decimal("0.0001"))),
                "cost": _money(pos.cost), "last_price": fmt_cents(self.paths[sym].last),
                "market_value": _money(mv), "unrealized_profit_loss": _money(upl),
                "unrealized_profit_loss_rate": str((upl / pos.cost).quantize(Decimal("0.0001"))) if pos.cost else "0",
            })
        return out

    def balance(self, account_id: str) -> dict[str, Any]:
        acct = self.account(account_id)
        mv = sum((p.quantity * Decimal(self.paths[s].last) / 100 for s, p in acct.positions.items()), Decimal(0))
        long_cost = sum((p.cost if p.quantity > 0 else -p.cost for p in acct.positions.values()), Decimal(0))
        nlv = acct.cash + mv
        currency_assets = {
            "currency": "USD", "net_liquidation_value": _money(nlv), "positions_market_value": _money(mv),
            "cash_balance": _money(acct.cash), "buying_power": _money(self.buying_power(acct)),
            "settled_cash": _money(acct.cash), "unrealized_profit_loss": _money(mv - long_cost),
            "realized_profit_loss": _money(acct.realized_pnl),
        }
        return {
            "account_id": account_id, "total_asset_currency": "USD", "total_asset": _money(nlv),
            "total_market_value": _money(mv), "total_cash_balance": _money(acct.cash),
            "total_unrealized_profit_loss": _money(mv - long_cost),
            "account_currency_assets": [currency_assets],
        }
