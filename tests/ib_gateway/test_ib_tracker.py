"""The gateway's pure core: IB observations → events exactly once, and the order mapping."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from janus_common import messages as m
from janus_common.symbols import AssetClass, format_symbol, parse
from janus_ib_gateway import tracker
from janus_ib_gateway.mapping import canonical_from_ib, ib_symbol, lookup_query, order_fields
from janus_ib_gateway.tracker import OrderTrack

statuses = st.sampled_from(["PendingSubmit", "PreSubmitted", "Submitted", "Filled", "Cancelled", "Inactive",
                            "ValidationError", "ApiCancelled"])
observation = st.one_of(
    st.tuples(st.just("status"), statuses, st.integers(0, 10).map(float), st.booleans()),
    st.tuples(st.just("fill"), st.sampled_from(["e1", "e2", "e3"]), st.integers(1, 5).map(float)),
    st.tuples(st.just("error"), st.sampled_from([404, 202, 110, 201, 2104, 10167, 399, 1100])),
)


def feed(track: OrderTrack, obs) -> tuple[OrderTrack, list]:
    if obs[0] == "status":
        _, status, filled, acked = obs
        return tracker.on_status(track, status, filled, 10 - filled, 1.0, 5, 77 if acked else 0)
    if obs[0] == "fill":
        return tracker.on_fill(track, obs[1], obs[2], 1.0, "BOT", 1.0, "USD", 5)
    return tracker.on_error(track, obs[1], "text")


@settings(max_examples=1000, deadline=None)
@given(st.lists(observation, max_size=25))
def test_every_event_once_and_a_restart_publishes_nothing_again(observations):
    track = OrderTrack("intent#1", "ib-1", "AAPL")
    published: list = []
    for obs in observations:
        track, events = feed(track, obs)
        published += events
    ids = [msg_id for msg_id, _ in published]
    assert len(ids) == len(set(ids))  # every Nats-Msg-Id (hence event) at most once
    fills = [e for _, e in published if isinstance(e, m.OrderFilled)]
    assert len({f.fill_id for f in fills}) == len(fills)
    assert all(e.leg == 1 and e.intent_id == "intent" for _, e in published)
    kinds = [type(e) for _, e in published]
    assert not (m.OrderBrokerRejected in kinds and m.OrderHeld in kinds and
                kinds.index(m.OrderBrokerRejected) < kinds.index(m.OrderHeld))
    terminal = next((i for i, (_, e) in enumerate(published) if isinstance(e, m.OrderStatusChanged)
                     and e.status.terminal), None)
    if terminal is not None:  # after the end, only fills (late executions) may follow
        assert all(isinstance(e, (m.OrderFilled, m.OrderCancelled)) for _, e in published[terminal + 1:])
    # After a restart the track is rebuilt from the published events; the same observations
    # replayed by IB's reconcile produce nothing new.
    rebuilt = OrderTrack("intent#1", "ib-1", "AAPL")
    for _, event in published:
        rebuilt = tracker.replay(rebuilt, event)
    again: list = []
    for obs in observations:
        rebuilt, events = feed(rebuilt, obs)
        again += [e for e in events if not isinstance(e, m.OrderSubmitted)]
    assert [e for e in again if isinstance(e, (m.OrderFilled, m.OrderBrokerRejected, m.OrderHeld))] == []


def test_404_is_held_not_rejected_and_held_once():
    track = OrderTrack("i", "ib-1")
    track, events = tracker.on_error(track, 404, "Order held while securities are located.")
    assert [type(e) for _, e in events] == [m.OrderHeld]
    track, events = tracker.on_error(track, 404, "again")
    assert events == []
    track, events = tracker.on_status(track, "PreSubmitted", 0, 10, 0, 5, 77)
    assert [e.status for _, e in events if isinstance(e, m.OrderStatusChanged)] == [m.OrderState.HELD]


def test_duplicate_status_is_silent():
    track = OrderTrack("i", "ib-1")
    track, first = tracker.on_status(track, "Submitted", 0, 10, 0, 5, 77)
    track, second = tracker.on_status(track, "Submitted", 0, 10, 0, 5, 77)
    assert [type(e) for _, e in first] == [m.OrderSubmitted, m.OrderStatusChanged] and second == []


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(list(m.OrderType)), st.sampled_from(list(m.BrokerSide)), st.sampled_from(list(m.Tif)),
       st.integers(0, 3))
def test_order_mapping(order_type, side, tif, leg):
    order = m.PlaceOrder(intent_id="abc", leg=leg, account="ib-1", broker=m.Broker.IB, symbol="AAPL", side=side,
                         order_type=order_type, qty=3.0, limit_price=10.0, stop_price=11.0, tif=tif)
    f = order_fields(order, "DU1")
    assert f.action == ("BUY" if side is m.BrokerSide.BUY else "SELL")  # IB has no SHORT side
    assert f.order_type == {"MARKET": "MKT", "LIMIT": "LMT", "STOP": "STP", "STOP_LIMIT": "STP LMT",
                            "TRAILING_STOP": "TRAIL", "TRAILING_STOP_LIMIT": "TRAIL LIMIT",
                            "MARKET_ON_CLOSE": "MOC", "LIMIT_ON_CLOSE": "LOC"}[order_type]
    assert f.order_ref == order.order_key and m.split_order_key(f.order_ref) == ("abc", leg)
    assert f.account == "DU1" and f.tif == tif.value


@settings(max_examples=500, deadline=None)
@given(st.one_of(
    st.tuples(st.just("STK"), st.from_regex(r"[A-Z]{1,5}( [A-Z])?", fullmatch=True), st.just("")),
    st.tuples(st.just("FUT"), st.from_regex(r"[A-Z]{1,3}", fullmatch=True),
              st.from_regex(r"20[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|1[0-9]|2[0-8])", fullmatch=True)),
))
def test_ib_contracts_get_canonical_names_that_look_up_the_same_contract(item):
    sec_type, symbol, last = item
    name, cls = canonical_from_ib(sec_type, symbol, last)
    assert format_symbol(parse(name, cls)) == name
    q = lookup_query(name, cls, None, "USD")
    assert q.symbol == (symbol if sec_type == "FUT" else ib_symbol(name)) and q.sec_type == sec_type
    if sec_type == "FUT":
        assert cls is AssetClass.FUTURE and q.last_trade == last[:6] and q.exchange == "CME"
        assert q.fallback_exchange == "GLOBEX"


def test_contract_fields_build_an_ib_contract_and_details_without_one_are_no_candidate():
    from decimal import Decimal

    from ib_async import Contract, ContractDetails

    from janus_ib_gateway.lookup import candidate
    from janus_ib_gateway.mapping import contract_fields
    from janus_ib_gateway.orders import UNSET_DOUBLE, _known

    ib = m.IbContract(symbol="ES", sec_type="FUT", exchange="CME", con_id=7, contract_month="202612",
                      multiplier=50.0)
    c = Contract(**contract_fields(ib))
    assert (c.conId, c.exchange, c.lastTradeDateOrContractMonth, c.multiplier) == (7, "CME", "202612", "50")
    assert candidate(ContractDetails()) is None
    found = candidate(ContractDetails(contract=c, minTick=0.25))
    assert found is not None and found.ib is not None and (found.ib.con_id, found.ib.min_tick) == (7, 0.25)
    assert _known(UNSET_DOUBLE) == 0.0 and _known(None) == 0.0
    assert _known(Decimal("3")) == 3.0 and type(_known(Decimal("3"))) is float
