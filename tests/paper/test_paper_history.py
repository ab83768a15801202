"""A restart keeps the paper book: whatever the engine did, the events it led to rebuild the same
cash, positions and working orders (history.restore), and events of other brokers change nothing."""

from __future__ import annotations

import math
from datetime import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from janus_common import messages as m
from janus_paper_gateway import engine as e
from janus_paper_gateway import history
from janus_pricer.quotes import merge_tick

S = 1_000_000_000
T0 = int(datetime.now(e.NEW_YORK).replace(hour=10, minute=0, second=0, microsecond=0).timestamp()) * S
DECISION = m.PositionDecision(broker_position=0, in_flight=0, projected_position=0, allow_short=True,
                              locate_required=False, effect=m.PositionEffect.OPEN_LONG)


def events_for(outcome: e.Outcome, po: m.PlaceOrder, now: int) -> list:
    """What the gateway kernel publishes for each engine outcome (via the adapter's reports)."""
    base = dict(account="paper-1", intent_id=po.intent_id, broker=m.Broker.PAPER, leg=po.leg, ts=now)
    match outcome:
        case e.Accepted():
            return [m.OrderSubmitted(**base, broker_order_id=f"paper:{po.order_key}")]
        case e.Triggered():
            return [m.OrderStatusChanged(**base, status=m.OrderState.SUBMITTED, broker_status=history.TRIGGERED)]
        case e.Filled(_, symbol, side, qty, price):
            return [m.OrderFilled(**base, fill_id=f"paper:{po.order_key}", symbol=symbol, side=side, qty=qty,
                                  price=price),
                    m.OrderStatusChanged(**base, status=m.OrderState.FILLED, filled=qty)]
        case e.Ended(_, kind, text):
            return [m.OrderStatusChanged(**base, status=m.OrderState.CANCELLED),
                    m.OrderCancelled(**base, reason=text)]
        case e.Refused(_, kind, text):
            return [m.OrderBrokerRejected(**base, code=str(kind), text=text)]
    raise AssertionError(outcome)


def routed(po: m.PlaceOrder, broker: m.Broker = m.Broker.PAPER) -> m.OrderRouted:
    intent = m.OrderIntent(intent_id=po.intent_id, account="paper-1", symbol=po.symbol, side=m.Side.BUY,
                           order_type=po.order_type, qty=po.qty)
    return m.OrderRouted(account="paper-1", intent_id=po.intent_id, intent=intent, broker=broker,
                         decision=DECISION, orders=[po])


prices = st.integers(95, 105).map(float)
steps = st.lists(st.one_of(
    st.tuples(st.just("place"), st.sampled_from(list(m.OrderType)), st.sampled_from([m.BrokerSide.BUY,
                                                                                     m.BrokerSide.SELL]),
              st.integers(1, 30).map(float), prices, prices),
    st.tuples(st.just("tick"), prices),
    st.tuples(st.just("cancel"), st.integers(0, 20)),
), max_size=40)


@settings(max_examples=300, deadline=None)
@given(steps)
def test_the_events_rebuild_the_same_book(operations):
    book, quotes, events, placed, now = e.Book(cash=5_000.0), {}, [], {}, T0
    for op in operations:
        now += S
        if op[0] == "place":
            _, kind, side, qty, limit, stop = op
            po = m.PlaceOrder(intent_id=f"i{len(placed)}", account="paper-1", broker=m.Broker.PAPER, symbol="AAPL",
                              side=side, order_type=kind, qty=qty,
                              limit_price=limit if kind in (m.OrderType.LIMIT, m.OrderType.STOP_LIMIT) else None,
                              stop_price=stop if kind in (m.OrderType.STOP, m.OrderType.STOP_LIMIT) else None,
                              tif=m.Tif.GTC)
            placed[po.order_key] = po
            events.append(routed(po))
            book, out = e.place(book, po, quotes, now, 10 * S)
        elif op[0] == "tick":
            quotes["AAPL"] = merge_tick(quotes.get("AAPL"), m.Tick(symbol="AAPL", ts=now, bid=op[1] - 0.5,
                                                                   ask=op[1] + 0.5, last=op[1]))
            book, out = e.on_quote(book, "AAPL", quotes, now, 10 * S)
        else:
            book, out = e.cancel(book, f"i{op[1]}")
        for outcome in out:
            events.extend(events_for(outcome, placed[outcome.order_key], now))
    # Another broker's orders on the same stream are not the paper book's.
    other = m.PlaceOrder(intent_id="ib-x", account="paper-1", broker=m.Broker.IB, symbol="AAPL",
                         side=m.BrokerSide.BUY, order_type=m.OrderType.MARKET, qty=5)
    events += [routed(other, m.Broker.IB),
               m.OrderFilled(account="paper-1", intent_id="ib-x", broker=m.Broker.IB, leg=0, fill_id="x",
                             symbol="AAPL", side=m.BrokerSide.BUY, qty=5, price=1.0)]
    rebuilt = history.restore(5_000.0, events)
    assert math.isclose(rebuilt.cash, book.cash, abs_tol=1e-6)
    assert dict(rebuilt.holdings) == dict(book.holdings)
    assert dict(rebuilt.working) == dict(book.working)  # placed at acceptance, triggered as reported
    # Every order that reached an outcome is known: a redelivered route is never placed again.
    assert {k for k in placed if k not in book.working} - rebuilt.known == set()


def test_a_redelivered_route_after_a_restart_is_not_placed_again():
    po = m.PlaceOrder(intent_id="i0", account="paper-1", broker=m.Broker.PAPER, symbol="AAPL",
                      side=m.BrokerSide.BUY, order_type=m.OrderType.MARKET, qty=1)
    events = [routed(po), *events_for(e.Accepted("i0"), po, T0),
              *events_for(e.Filled("i0", "AAPL", m.BrokerSide.BUY, 1, 100.0), po, T0)]
    book = history.restore(1_000.0, events)
    assert book.cash == 900.0 and book.holdings["AAPL"] == e.Holding(1, 100.0)
    quotes = {"AAPL": merge_tick(None, m.Tick(symbol="AAPL", ts=T0, bid=99.0, ask=101.0, last=100.0))}
    assert e.place(book, po, quotes, T0, 10 * S) == (book, [])
