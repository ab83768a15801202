"""The paper matching engine against an independent model written from its docstring's rules.

The model keeps plain dicts and lists and recomputes everything from scratch at each step (no
reservations carried along, no persistent maps); the engine must report the same outcomes and
end with the same cash and positions, whatever the sequence of orders, quotes and cancels."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import msgspec
from hypothesis import event, given, settings
from hypothesis import strategies as st

from janus_common.capabilities import CAPABILITIES
from janus_common.messages import Broker, BrokerSide, OrderType, PlaceOrder, Tick, Tif
from janus_paper_gateway import engine as e
from janus_pricer.quotes import merge_tick

S = 1_000_000_000
MAX_AGE = 10 * S
SYMBOLS = ["AAPL", "MSFT"]
# Mid-morning in New York, today: DAY orders of the property tests stay well before the close.
T0 = int(datetime.now(e.NEW_YORK).replace(hour=10, minute=0, second=0, microsecond=0).timestamp()) * S


def order(n: int, symbol: str, side: BrokerSide, kind: OrderType, qty: float, limit: float | None = None,
          stop: float | None = None, tif: Tif = Tif.DAY) -> PlaceOrder:
    return PlaceOrder(intent_id=f"i{n}", account="paper-1", broker=Broker.PAPER, symbol=symbol, side=side,
                      order_type=kind, qty=qty, limit_price=limit, stop_price=stop, tif=tif)


# --- the model -----------------------------------------------------------------------------------


class Model:
    def __init__(self, cash: float) -> None:
        self.cash = cash
        self.pos: dict[str, list[float]] = {}  # symbol -> [qty, avg]
        self.orders: list[dict] = []  # working, in placement order
        self.seen: set[str] = set()
        self.quotes: dict[str, dict] = {}  # symbol -> {field: (value, ts)}

    def quote(self, symbol, bid, ask, last, ts):
        q = self.quotes.setdefault(symbol, {})
        for name, value in (("bid", bid), ("ask", ask), ("last", last)):
            if value is not None and value > 0:
                q[name] = (value, ts)

    def fresh(self, symbol, name, now):
        value = self.quotes.get(symbol, {}).get(name)
        return value[0] if value is not None and now - value[1] <= MAX_AGE else None

    def price(self, symbol, side, now):
        near = self.fresh(symbol, "ask" if side == "BUY" else "bid", now)
        return near if near is not None else self.fresh(symbol, "last", now)

    def value(self, symbol, avg):
        q = self.quotes.get(symbol, {})
        if "last" in q:
            return q["last"][0]
        if "bid" in q and "ask" in q:
            return (q["bid"][0] + q["ask"][0]) / 2
        return avg

    def qty(self, symbol):
        return self.pos.get(symbol, [0.0, 0.0])[0]

    def opening(self, symbol, side, qty):
        p = self.qty(symbol)
        if side == "BUY":
            return max(0.0, qty - max(0.0, -p))
        return max(0.0, qty - max(0.0, p))

    def cost(self, side, qty, price):
        return qty * price if side == "BUY" else qty * price * 0.5

    def power(self, skip=None):
        shorts = sum(-q * self.value(s, a) * 1.5 for s, (q, a) in self.pos.items() if q < 0)
        held = sum(self.cost(o["side"], self.opening(o["symbol"], o["side"], o["qty"]),
                             o["limit"] if o["limit"] is not None else o["stop"])
                   for o in self.orders if o["key"] != skip)
        return self.cash - shorts - held

    def fill(self, o, price):
        signed = o["qty"] if o["side"] == "BUY" else -o["qty"]
        q, a = self.pos.get(o["symbol"], [0.0, 0.0])
        n = q + signed
        if abs(n) < 1e-9:
            self.pos.pop(o["symbol"], None)
        elif q == 0:
            self.pos[o["symbol"]] = [n, price]
        elif (q > 0) == (signed > 0):
            self.pos[o["symbol"]] = [n, (q * a + signed * price) / n]
        elif (q > 0) == (n > 0):
            self.pos[o["symbol"]] = [n, a]
        else:
            self.pos[o["symbol"]] = [n, price]
        self.cash -= signed * price
        return ("fill", o["key"], o["qty"], price)

    def attempt(self, o, now):
        """What one working order does against the current quotes."""
        out = []
        if o["type"] in ("STOP", "STOP_LIMIT") and not o["triggered"]:
            level = self.fresh(o["symbol"], "last", now)
            if level is None:
                level = self.price(o["symbol"], o["side"], now)
            if level is None or (level < o["stop"] if o["side"] == "BUY" else level > o["stop"]):
                return out, False
            o["triggered"] = True
            out.append(("triggered", o["key"]))
        price = self.price(o["symbol"], o["side"], now)
        if price is None:
            return out, False
        if o["limit"] is not None and (price > o["limit"] if o["side"] == "BUY" else price < o["limit"]):
            return out, False
        opening = self.opening(o["symbol"], o["side"], o["qty"])
        if opening > 0 and self.cost(o["side"], opening, price) > self.power(skip=o["key"]) + 1e-9:
            self.orders.remove(o)
            out.append(("ended", o["key"], "INSUFFICIENT_BUYING_POWER"))
            return out, True
        self.orders.remove(o)
        out.append(self.fill(o, price))
        return out, True

    def place(self, po: PlaceOrder, now):
        key = po.order_key
        if key in self.seen:
            return []
        self.seen.add(key)
        side = "BUY" if po.side is BrokerSide.BUY else "SELL"
        o = dict(key=key, symbol=po.symbol, side=side, type=str(po.order_type), qty=po.qty,
                 limit=po.limit_price if po.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None,
                 stop=po.stop_price, triggered=False, tif=str(po.tif))
        if o["type"] == "MARKET":
            price = self.price(po.symbol, side, now)
            if price is None:
                return [("refused", key, "STALE_PRICE" if po.symbol in self.quotes else "NO_PRICE")]
            estimate = price
        else:
            estimate = o["limit"] if o["limit"] is not None else o["stop"]
        opening = self.opening(po.symbol, side, po.qty)
        if opening > 0 and self.cost(side, opening, estimate) > self.power() + 1e-9:
            return [("refused", key, "INSUFFICIENT_BUYING_POWER")]
        self.orders.append(o)
        out, _ = self.attempt(o, now)
        out = [("accepted", key), *out]
        if o in self.orders and o["tif"] == "IOC":
            self.orders.remove(o)
            out.append(("ended", key, "IOC_NOT_MARKETABLE"))
        return out

    def tick(self, symbol, now):
        out = []
        for o in [o for o in self.orders if o["symbol"] == symbol]:
            if o in self.orders:
                step, _ = self.attempt(o, now)
                out.extend(step)
        return out

    def cancel(self, key):
        for o in self.orders:
            if o["key"] == key:
                self.orders.remove(o)
                return [("ended", key, "CANCELLED_BY_CLIENT")]
        return []


def plain(outcome) -> tuple:
    match outcome:
        case e.Accepted(key):
            return ("accepted", key)
        case e.Triggered(key):
            return ("triggered", key)
        case e.Filled(key, _symbol, _side, qty, price):
            return ("fill", key, qty, price)
        case e.Ended(key, kind, _):
            return ("ended", key, str(kind))
        case e.Refused(key, kind, _):
            return ("refused", key, str(kind))
    raise AssertionError(outcome)


# --- the operations -------------------------------------------------------------------------------

prices = st.integers(9000, 11000).map(lambda c: c / 100)  # 90.00 .. 110.00
maybe = lambda s: st.one_of(st.none(), s)  # noqa: E731


@st.composite
def place_op(draw):
    kind = draw(st.sampled_from(sorted(CAPABILITIES[Broker.PAPER].order_types)))  # the kernel refuses the rest
    limit = draw(prices) if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None
    stop = draw(prices) if kind in (OrderType.STOP, OrderType.STOP_LIMIT) else None
    return ("place", draw(st.sampled_from(SYMBOLS)), draw(st.sampled_from([BrokerSide.BUY, BrokerSide.SELL,
                                                                          BrokerSide.SHORT])),
            kind, float(draw(st.integers(1, 60))), limit, stop, draw(st.sampled_from([Tif.DAY, Tif.GTC, Tif.IOC])))


ops = st.lists(st.one_of(
    place_op(),
    st.tuples(st.just("tick"), st.sampled_from(SYMBOLS), maybe(prices), st.integers(0, 1)),
    st.tuples(st.just("cancel"), st.integers(0, 30)),
    st.tuples(st.just("wait"), st.sampled_from([1, 4, 15])),
    st.tuples(st.just("replace"), st.integers(0, 30)),  # the same order again (a redelivery)
), max_size=60)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from([2_000.0, 8_000.0, 50_000.0]), ops)
def test_the_engine_matches_the_model(cash, operations):
    book, model = e.Book(cash=cash), Model(cash)
    quotes: dict = {}
    placed: list[PlaceOrder] = []
    now = T0
    for op in operations:
        now += S
        if op[0] == "place":
            _, symbol, side, kind, qty, limit, stop, tif = op
            po = order(len(placed), symbol, side, kind, qty, limit, stop, tif)
            placed.append(po)
            book, got = e.place(book, po, quotes, now, MAX_AGE)
            want = model.place(po, now)
        elif op[0] == "replace":
            if not placed:
                continue
            po = placed[op[1] % len(placed)]
            book, got = e.place(book, po, quotes, now, MAX_AGE)
            want = model.place(po, now)
        elif op[0] == "tick":
            _, symbol, last, spread = op
            if last is None:  # a tick with only a touch: no trade price
                bid, ask = 100.0 - spread / 100, 100.0 + spread / 100
            else:
                bid, ask = (None, None) if spread == 0 else (last - 0.01, last + 0.01)
            quotes[symbol] = merge_tick(quotes.get(symbol), Tick(symbol=symbol, ts=now, bid=bid, ask=ask, last=last))
            model.quote(symbol, bid, ask, last, now)
            book, got = e.on_quote(book, symbol, quotes, now, MAX_AGE)
            want = model.tick(symbol, now)
        elif op[0] == "cancel":
            key = f"i{op[1]}"
            book, got = e.cancel(book, key)
            want = model.cancel(key)
        else:
            now += op[1] * S
            continue
        for o in got:
            event(plain(o)[0] if not isinstance(o, (e.Ended, e.Refused)) else str(o.kind))
        assert [plain(o) for o in got] == want
        assert math.isclose(book.cash, model.cash, abs_tol=1e-6)
        assert {s: h.qty for s, h in book.holdings.items()} == {s: q for s, (q, _) in model.pos.items()}
        for s, h in book.holdings.items():
            assert math.isclose(h.avg_cost, model.pos[s][1], rel_tol=1e-9)
        assert set(book.working) == {o["key"] for o in model.orders}
        assert math.isclose(e.buying_power(book, quotes), model.power(), abs_tol=1e-6)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([BrokerSide.BUY, BrokerSide.SELL]), st.integers(1, 40), prices),
                max_size=40))
def test_opening_buys_never_overdraw_the_cash(trades):
    """Whatever a client asks, a long-only account's cash never goes below zero."""
    book, quotes, now = e.Book(cash=5_000.0), {}, T0
    for n, (side, qty, price) in enumerate(trades):
        now += S
        quotes["AAPL"] = merge_tick(quotes.get("AAPL"), Tick(symbol="AAPL", ts=now, bid=price, ask=price, last=price))
        position = book.holdings["AAPL"].qty if "AAPL" in book.holdings else 0.0
        qty = min(float(qty), position) if side is BrokerSide.SELL else float(qty)  # no shorts here
        if qty <= 0:
            continue
        book, _ = e.place(book, order(n, "AAPL", side, OrderType.MARKET, qty), quotes, now, MAX_AGE)
        assert book.cash >= -1e-9


def _quotes(now: int, **fields) -> dict:
    return {"AAPL": merge_tick(None, Tick(symbol="AAPL", ts=now, **fields))}


def test_a_market_order_without_a_price_is_refused_not_filled_at_zero():
    book, out = e.place(e.Book(cash=1e6), order(0, "AAPL", BrokerSide.BUY, OrderType.MARKET, 1), {}, T0, MAX_AGE)
    assert out == [e.Refused("i0", e.Refusal.NO_PRICE, out[0].text)] and not book.working and book.cash == 1e6
    stale = _quotes(T0 - 11 * S, bid=99.0, ask=101.0, last=100.0)
    book, out = e.place(e.Book(cash=1e6), order(1, "AAPL", BrokerSide.BUY, OrderType.MARKET, 1), stale, T0, MAX_AGE)
    assert [type(o) for o in out] == [e.Refused] and out[0].kind is e.Refusal.STALE_PRICE


def test_buy_at_the_ask_sell_at_the_bid_and_the_book_values():
    q = _quotes(T0, bid=99.0, ask=101.0, last=100.0)
    book, out = e.place(e.Book(cash=10_000.0), order(0, "AAPL", BrokerSide.BUY, OrderType.MARKET, 10), q, T0, MAX_AGE)
    assert out[-1] == e.Filled("i0", "AAPL", BrokerSide.BUY, 10, 101.0)
    assert book.cash == 10_000.0 - 1010.0 and book.holdings["AAPL"] == e.Holding(10, 101.0)
    assert e.net_liquidation(book, q) == book.cash + 10 * 100.0  # valued at the last trade
    book, out = e.place(book, order(1, "AAPL", BrokerSide.SELL, OrderType.MARKET, 4), q, T0, MAX_AGE)
    assert out[-1].price == 99.0 and book.holdings["AAPL"] == e.Holding(6, 101.0)


def test_a_resting_limit_fills_when_the_market_crosses_it_and_a_stop_triggers_on_the_last_trade():
    q = _quotes(T0, bid=99.0, ask=101.0, last=100.0)
    book, out = e.place(e.Book(cash=10_000.0), order(0, "AAPL", BrokerSide.BUY, OrderType.LIMIT, 10, limit=95.0),
                        q, T0, MAX_AGE)
    assert out == [e.Accepted("i0")] and book.cash == 10_000.0
    assert e.buying_power(book, q) == 10_000.0 - 950.0  # the limit reserves its cost
    q = _quotes(T0 + S, bid=93.0, ask=94.0, last=93.5)
    book, out = e.on_quote(book, "AAPL", q, T0 + S, MAX_AGE)
    assert out == [e.Filled("i0", "AAPL", BrokerSide.BUY, 10, 94.0)]  # at the ask, below the limit
    book, out = e.place(book, order(1, "AAPL", BrokerSide.SELL, OrderType.STOP, 10, stop=90.0), q, T0 + S, MAX_AGE)
    assert out == [e.Accepted("i1", waits_for_stop=True)]
    q = _quotes(T0 + 2 * S, bid=89.5, ask=90.5, last=90.0)
    book, out = e.on_quote(book, "AAPL", q, T0 + 2 * S, MAX_AGE)
    assert out == [e.Triggered("i1"), e.Filled("i1", "AAPL", BrokerSide.SELL, 10, 89.5)] and not book.holdings


def test_a_day_order_ends_at_the_new_york_close_and_a_gtc_order_does_not():
    q = _quotes(T0, bid=99.0, ask=101.0, last=100.0)
    book = e.Book(cash=10_000.0)
    book, _ = e.place(book, order(0, "AAPL", BrokerSide.BUY, OrderType.LIMIT, 1, limit=50.0), q, T0, MAX_AGE)
    book, _ = e.place(book, order(1, "AAPL", BrokerSide.BUY, OrderType.LIMIT, 1, limit=50.0, tif=Tif.GTC), q, T0,
                      MAX_AGE)
    close = e.session_close(T0)
    assert datetime.fromtimestamp(close / S, e.NEW_YORK).hour == 16
    assert close - T0 == int(timedelta(hours=6).total_seconds()) * S
    assert e.expire(book, close - 1) == (book, [])
    book, out = e.expire(book, close)
    assert [plain(o) for o in out] == [("ended", "i0", "DAY_EXPIRED")] and set(book.working) == {"i1"}


def test_a_short_holds_reg_t_margin_and_covering_is_never_refused():
    q = _quotes(T0, bid=100.0, ask=100.0, last=100.0)
    book, out = e.place(e.Book(cash=1_000.0), order(0, "AAPL", BrokerSide.SELL, OrderType.MARKET, 20), q, T0,
                        MAX_AGE)
    assert out[-1].price == 100.0 and book.cash == 3_000.0
    assert e.buying_power(book, q) == 3_000.0 - 1.5 * 2_000.0  # 0: nothing more can be opened
    book, out = e.place(book, order(1, "AAPL", BrokerSide.SELL, OrderType.MARKET, 1), q, T0, MAX_AGE)
    assert [plain(o) for o in out] == [("refused", "i1", "INSUFFICIENT_BUYING_POWER")]
    q = _quotes(T0 + S, bid=200.0, ask=200.0, last=200.0)  # the short went badly
    book, out = e.place(book, order(2, "AAPL", BrokerSide.BUY, OrderType.MARKET, 20), q, T0 + S, MAX_AGE)
    assert out[-1] == e.Filled("i2", "AAPL", BrokerSide.BUY, 20, 200.0) and not book.holdings
    assert book.cash == 1_000.0 - 2_000.0  # the loss is real; a closing trade is still allowed


def test_the_same_order_twice_is_placed_once():
    q = _quotes(T0, bid=99.0, ask=101.0, last=100.0)
    po = order(0, "AAPL", BrokerSide.BUY, OrderType.MARKET, 1)
    book, first = e.place(e.Book(cash=1e4), po, q, T0, MAX_AGE)
    again, second = e.place(book, po, q, T0, MAX_AGE)
    assert len(first) == 2 and second == [] and msgspec.structs.asdict(again) == msgspec.structs.asdict(book)
