"""Property tests of the pure parts: the tracker merging the stream and polling, and the mapping."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from janus_common import messages as m
from janus_webull_gateway import tracker
from janus_webull_gateway.mapping import Observation, RouteError, client_order_id, new_order
from janus_webull_gateway.tracker import OrderTrack

KEY = "0123456789abcdef0123456789abcdef"


@st.composite
def order_life(draw):
    """Webull's cumulative view of one order over time, ending FILLED or CANCELLED."""
    qty = draw(st.integers(1, 1000))
    chunks = draw(st.lists(st.integers(1, 300), max_size=8))
    cancel = draw(st.booleans())
    snaps = [Observation(KEY, "W1", "SUBMITTED", 0.0, 0.0, qty)]
    filled, notional = 0, 0.0
    for c in chunks:
        c = min(c, qty - filled)
        if c <= 0:
            break
        price = draw(st.integers(10000, 20000)) / 100
        filled += c
        notional += c * price
        state = "FILLED" if filled == qty else "PARTIAL_FILLED"
        snaps.append(Observation(KEY, "W1", state, float(filled), round(notional / filled, 4), qty, c, price))
    if filled < qty:
        if cancel or not chunks:
            snaps.append(Observation(KEY, "W1", "CANCELLED", float(filled), snaps[-1].avg_price, qty))
        else:
            rest = qty - filled
            snaps.append(Observation(KEY, "W1", "FILLED", float(qty), round((notional + rest * 100.0) / qty, 4), qty,
                                     rest, 100.0))
    return snaps


@st.composite
def two_sources(draw):
    """The stream sees a subset in order; polling sees another subset in order, always the last
    state (it polls until the order is finished); the two arrive interleaved in any way."""
    snaps = draw(order_life())
    stream = [s for s in snaps if draw(st.booleans())]
    poll = [s for s in snaps[:-1] if draw(st.booleans())] + [snaps[-1]]
    merged, i, j = [], 0, 0
    while i < len(stream) or j < len(poll):
        if j >= len(poll) or (i < len(stream) and draw(st.booleans())):
            merged.append(stream[i])
            i += 1
        else:
            merged.append(poll[j])
            j += 1
    place_first = draw(st.booleans())
    return snaps, ([snaps[0]] if place_first else []) + merged


def run(track, observations):
    out = []
    for obs in observations:
        track, events = tracker.observe(track, obs)
        out.extend(events)
    return track, out


def fresh():
    return OrderTrack(KEY, "wb-1", client_order_id(KEY), symbol="AAPL", side=m.BrokerSide.BUY)


@settings(max_examples=300, deadline=None, database=None)
@given(two_sources())
def test_every_fill_and_status_exactly_once(case):
    snaps, observations = case
    final = snaps[-1]
    track, events = run(fresh(), observations)
    ids = [i for i, _ in events]
    assert len(ids) == len(set(ids))
    fills = [e for _, e in events if isinstance(e, m.OrderFilled)]
    assert sum(f.qty for f in fills) == final.filled
    assert len({f.fill_id for f in fills}) == len(fills)
    if fills:
        assert sum(f.qty * f.price for f in fills) == pytest.approx(final.filled * final.avg_price, rel=1e-3, abs=0.05)
    statuses = [e for _, e in events if isinstance(e, m.OrderStatusChanged)]
    assert [s.filled for s in statuses] == sorted(s.filled for s in statuses)
    assert sum(s.status.terminal for s in statuses) == 1 and statuses[-1].status.terminal
    assert len([e for _, e in events if isinstance(e, m.OrderSubmitted)]) == 1
    assert track.finished
    cancels = [e for _, e in events if isinstance(e, m.OrderCancelled)]
    assert len(cancels) == (1 if final.status == "CANCELLED" else 0)


@settings(max_examples=200, deadline=None, database=None)
@given(two_sources(), st.integers(0, 40))
def test_a_restart_anywhere_publishes_nothing_twice(case, cut):
    _, observations = case
    cut = min(cut, len(observations))
    _, whole = run(fresh(), observations)
    before_track, before = run(fresh(), observations[:cut])
    rebuilt = fresh()
    for _, event in before:
        rebuilt = tracker.replay(rebuilt, event)
    # After the restart Webull is asked again: everything it says, old or new, is replayed.
    _, after = run(rebuilt, observations)
    ids = [i for i, _ in before + after]
    assert len(ids) == len(set(ids))
    fills = [e for _, e in before + after if isinstance(e, m.OrderFilled)]
    assert sum(f.qty for f in fills) == sum(e.qty for _, e in whole if isinstance(e, m.OrderFilled))


def test_rejection_once_and_never_after_work():
    t, events = tracker.on_rejected(fresh(), "SYMBOL_NOT_SHORTABLE", "no")
    assert [type(e) for _, e in events] == [m.OrderBrokerRejected]
    t, again = tracker.observe(t, Observation(KEY, "W1", "FAILED", reason="no"))
    assert again == []
    t2, _ = tracker.observe(fresh(), Observation(KEY, "W1", "FILLED", 5.0, 10.0, 5.0))
    assert tracker.on_rejected(t2, "X", "late")[1] == []


@settings(database=None)
@given(st.text(min_size=1, max_size=80), st.integers(0, 1))
def test_client_order_id_fits_webull_and_is_deterministic(intent, leg):
    key = m.order_key(intent, leg)
    coid = client_order_id(key)
    assert re.fullmatch(r"[A-Za-z0-9]{1,32}", coid)
    assert coid == client_order_id(key)
    if re.fullmatch(r"[A-Za-z0-9]{1,32}", key):
        assert coid == key
    else:
        assert coid.startswith("J") and len(coid) == 32


def test_client_order_ids_of_two_legs_differ():
    intent = m.new_id()
    assert client_order_id(intent) == intent
    assert client_order_id(m.order_key(intent, 1)) not in (intent, client_order_id(intent))
    assert client_order_id("my-order-1") != client_order_id("my-order-2")


def test_new_order_mapping():
    order = m.PlaceOrder(intent_id="a", account="wb-1", broker=m.Broker.WEBULL, symbol="BRK.B",
                         side=m.BrokerSide.SHORT, order_type=m.OrderType.STOP_LIMIT, qty=3.0, stop_price=10.5,
                         limit_price=10.25, tif=m.Tif.GTC, webull=m.WebullInstrument(symbol="BRK.B"))
    body = new_order(order, "a")
    assert (body["side"], body["order_type"], body["quantity"], body["stop_price"], body["limit_price"],
            body["time_in_force"]) == ("SHORT", "STOP_LOSS_LIMIT", "3", "10.5", "10.25", "GTC")
    with pytest.raises(RouteError) as exc:
        new_order(order.__class__(**{**{f: getattr(order, f) for f in order.__struct_fields__}, "tif": m.Tif.IOC}), "a")
    assert exc.value.code == "TIF_UNSUPPORTED"
    with pytest.raises(RouteError):
        new_order(m.PlaceOrder(intent_id="b", account="wb-1", broker=m.Broker.WEBULL, symbol="AAPL",
                               side=m.BrokerSide.BUY, order_type=m.OrderType.LIMIT, qty=1.0), "b")
