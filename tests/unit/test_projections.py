"""Projections: pure folds of EVENTS, checked against a brute-force recount."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st
from immutables import Map

from janus_common import messages as m
from janus_common import projections as p

INTENTS = ["i0", "i1", "i2"]
ACCOUNTS = ["a", "b"]


def routed(intent_id: str, account: str, side: m.Side, qty: float, legs: int) -> m.OrderRouted:
    intent = m.OrderIntent(intent_id=intent_id, account=account, symbol="AAPL", side=side,
                           order_type=m.OrderType.MARKET, qty=qty)
    per = qty / legs
    orders = [m.PlaceOrder(intent_id=intent_id, leg=n, account=account, broker=m.Broker.WEBULL, symbol="AAPL",
                           side=m.BrokerSide.BUY if side is m.Side.BUY else (m.BrokerSide.SELL if n == 0 else m.BrokerSide.SHORT),
                           order_type=m.OrderType.MARKET, qty=per) for n in range(legs)]
    decision = m.PositionDecision(broker_position=0, in_flight=0, projected_position=0, allow_short=True,
                                  locate_required=False, effect=m.PositionEffect.OPEN_LONG)
    return m.OrderRouted(account=account, intent_id=intent_id, intent=intent, broker=m.Broker.WEBULL,
                         decision=decision, orders=orders)


events = st.one_of(
    st.builds(routed, st.sampled_from(INTENTS), st.sampled_from(ACCOUNTS), st.sampled_from(list(m.Side)),
              st.integers(1, 20).map(float), st.integers(1, 2)),
    st.builds(lambda i, a, leg, fid, q: m.OrderFilled(account=a, intent_id=i, broker=m.Broker.WEBULL, leg=leg,
                                                      fill_id=fid, symbol="AAPL", side=m.BrokerSide.BUY,
                                                      qty=q, price=1.0),
              st.sampled_from(INTENTS), st.sampled_from(ACCOUNTS), st.integers(0, 1),
              st.sampled_from(["f1", "f2", "f3", "f4"]), st.integers(1, 10).map(float)),
    st.builds(lambda i, a, leg, s: m.OrderStatusChanged(account=a, intent_id=i, broker=m.Broker.WEBULL, leg=leg,
                                                        status=s),
              st.sampled_from(INTENTS), st.sampled_from(ACCOUNTS), st.integers(0, 1), st.sampled_from(list(m.OrderState))),
    st.builds(lambda i, a: m.OrderCancelled(leg=0, account=a, intent_id=i, broker=m.Broker.WEBULL),
              st.sampled_from(INTENTS), st.sampled_from(ACCOUNTS)),
    st.builds(lambda i, a, r: m.OrderRejected(account=a, intent_id=i, reason=r, message="x"),
              st.sampled_from(INTENTS), st.sampled_from(ACCOUNTS), st.sampled_from(list(m.RejectReason))),
    st.builds(lambda a, q: m.PositionSnapshot(account=a, broker=m.Broker.WEBULL, positions=[
        m.Position(symbol="AAPL", asset_class="EQUITY", qty=q, avg_cost=1.0)]),
              st.sampled_from(ACCOUNTS), st.integers(-50, 50).map(float)),
)


def brute_working(state: p.Ledger, account: str) -> tuple[float, float]:
    buys = sells = 0.0
    for view in state.orders.values():
        if view.account != account or view.symbol != "AAPL" or view.rejected is not None:
            continue
        for leg in view.legs:
            if leg.side is m.BrokerSide.BUY:
                buys += leg.remaining
            else:
                sells += leg.remaining
    return buys, sells


@settings(max_examples=1000, deadline=None)
@given(st.lists(events, max_size=30))
def test_fold_invariants(seq):
    state = p.Ledger()
    for event in seq:
        before = state
        snapshot = (dict(before.orders), dict(before.working), before.applied)
        state = p.apply(state, event)
        # pure: the previous state is untouched
        assert (dict(before.orders), dict(before.working), before.applied) == snapshot
        for view in state.orders.values():
            for leg in view.legs:
                assert leg.filled >= 0 and leg.remaining >= 0
            old = p.order(before, view.account, view.intent_id)
            if old is not None:
                for leg_old, leg_new in zip(old.legs, view.legs):
                    if leg_old.status.terminal:  # a finished leg is never revived
                        assert leg_new.status.terminal
    assert state.applied == len(seq)
    for account in ACCOUNTS:
        got = p.in_flight(state, account, "AAPL")
        want = brute_working(state, account)
        assert abs(got[0] - want[0]) < 1e-9 and abs(got[1] - want[1]) < 1e-9
    # replaying the same events gives the same state
    again = p.replay(seq)
    assert dict(again.orders) == dict(state.orders) and dict(again.working) == dict(state.working)


def test_fills_are_counted_once_per_fill_id_and_finish_the_leg():
    state = p.replay([routed("x", "a", m.Side.BUY, 10, 1)])
    fill = m.OrderFilled(leg=0, account="a", intent_id="x", broker=m.Broker.WEBULL, fill_id="e1", symbol="AAPL",
                         side=m.BrokerSide.BUY, qty=4, price=1)
    state = p.replay([fill, fill], state)
    assert p.order(state, "a", "x").filled == 4 and p.in_flight(state, "a", "AAPL") == (6.0, 0.0)
    state = p.apply(state, msgspec.structs.replace(fill, fill_id="e2", qty=6))
    assert p.order(state, "a", "x").status is m.OrderState.FILLED and p.order(state, "a", "x").terminal
    assert p.in_flight(state, "a", "AAPL") == (0.0, 0.0)


def test_positions_replace_per_account_and_rejections_are_outcomes():
    state = p.replay([
        m.PositionSnapshot(account="a", broker=m.Broker.IB, positions=[m.Position(symbol="AAPL", asset_class="EQUITY", qty=5, avg_cost=1)]),
        m.PositionSnapshot(account="a", broker=m.Broker.IB, positions=[]),
        m.OrderRejected(account="a", intent_id="r", reason=m.RejectReason.INVALID_QTY, message="no"),
    ])
    assert p.broker_position(state, "a", "AAPL") == 0.0
    assert p.order(state, "a", "r").terminal and p.order(state, "a", "r").status is m.OrderState.REJECTED


def test_the_same_intent_id_on_two_accounts_is_two_orders():
    state = p.replay([routed("x", "a", m.Side.BUY, 10, 1), routed("x", "b", m.Side.SELL, 4, 1),
                      m.OrderFilled(account="b", intent_id="x", broker=m.Broker.WEBULL, leg=0, fill_id="e1", symbol="AAPL",
                                    side=m.BrokerSide.SELL, qty=4, price=1)])
    a, b = p.order(state, "a", "x"), p.order(state, "b", "x")
    assert (a.account, a.qty, a.filled, a.outcomes) == ("a", 10, 0, 1)
    assert (b.account, b.qty, b.filled, b.outcomes, b.terminal) == ("b", 4, 4, 1, True)
    assert p.in_flight(state, "a", "AAPL") == (10.0, 0.0) and p.in_flight(state, "b", "AAPL") == (0.0, 0.0)


# --- trading states, working-order index, routed-order times (the router's risk inputs) ------

SEC = 1_000_000_000


def timed_routed(intent_id, account, side, qty, legs, ts_s):
    return msgspec.structs.replace(routed(intent_id, account, side, qty, legs), ts=ts_s * SEC)


control_events = st.one_of(
    events,
    st.builds(timed_routed, st.sampled_from(INTENTS + ["i3", "i4"]), st.sampled_from(ACCOUNTS),
              st.sampled_from(list(m.Side)), st.integers(1, 20).map(float), st.integers(1, 2), st.integers(0, 300)),
    st.builds(lambda a, s, r: m.TradingStateChanged(account=a, request_id=r, state=s, previous=m.TradingState.ACTIVE),
              st.sampled_from(ACCOUNTS), st.sampled_from(list(m.TradingState)), st.sampled_from(["r1", "r2"])),
)


@settings(max_examples=1000, deadline=None)
@given(st.lists(control_events, max_size=40), st.integers(0, 60))
def test_risk_inputs_match_a_recount_of_the_events(seq, delta_s):
    state = p.Ledger()
    routed_ts: dict[str, list[int]] = {a: [] for a in ACCOUNTS}
    last_state: dict[str, m.TradingState] = {}
    for event in seq:
        if isinstance(event, m.OrderRouted) and p.order(state, event.account, event.intent_id) is None:
            routed_ts[event.account].append(event.ts)  # a new order: a later outcome is not one
        if isinstance(event, m.TradingStateChanged):
            last_state[event.account] = event.state
        state = p.apply(state, event)
    for account in ACCOUNTS:
        working = sorted(v.intent_id for v in state.orders.values() if v.account == account and not v.terminal)
        assert p.working_orders(state, account) == working
        assert p.open_order_count(state, account) == len(working)
        assert p.working_orders(state, account, "MSFT") == []
        assert p.trading_state(state, account) is last_state.get(account, m.TradingState.ACTIVE)
        times = routed_ts[account]
        # exact for any window that starts no earlier than one window before the newest order
        since = (max(times) if times else 0) - p.RATE_WINDOW_NS + delta_s * SEC
        assert p.routed_since(state, account, since) == sum(1 for t in times if t > since)
        assert len(state.routed_times.get(account, ())) <= len(times)


# --- snapshots: a ledger through bytes and back ---------------------------------------------


@settings(max_examples=500, deadline=None)
@given(st.lists(control_events, max_size=40), st.integers(0, 40))
def test_a_snapshot_plus_the_events_after_it_is_the_whole_replay(seq, cut):
    """Start-up from a snapshot: the ledger at any point, encoded and decoded, then folded on with
    the rest of the events, is exactly the ledger of folding them all."""
    cut = min(cut, len(seq))
    head = p.replay(seq[:cut])
    restored = p.decode_ledger(p.encode_ledger(head))
    assert restored == head
    assert p.replay(seq[cut:], restored) == p.replay(seq)


def test_bytes_that_are_no_ledger_are_refused():
    for junk in (b"", b"\x00", msgspec.msgpack.encode({"orders": 3})):
        try:
            p.decode_ledger(junk)
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue
        raise AssertionError(f"{junk!r} decoded")


def test_the_snapshot_wire_form_has_every_field_of_the_ledger():
    """A field added to the Ledger and not to its wire form would be lost by every snapshot."""
    assert p._LedgerWire.__struct_fields__ == p.Ledger.__struct_fields__


# --- routed-order times: the persistent deque against the sorted tuple it replaced ----------


def _model_add(times: tuple[int, ...], ts: int) -> tuple[int, ...]:
    """The former fold, a sorted tuple copied per order: the obviously right reference."""
    newest = max(ts, times[-1]) if times else ts
    kept = tuple(t for t in times if t > newest - p.RATE_WINDOW_NS)
    if ts <= newest - p.RATE_WINDOW_NS:
        return kept
    return tuple(sorted(kept + (ts,)))


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.integers(0, 200), max_size=60), st.lists(st.integers(-70, 210), max_size=5),
       st.integers(0, 40))
def test_routed_times_keep_what_a_sorted_tuple_keeps(offsets_s, probes_s, cut):
    """Mostly increasing times with late ones among them (seconds, so the 60 s window prunes):
    after every order the deque holds the same times as the sorted-tuple model, counts the same,
    and survives a snapshot (encoded, decoded, folded on) unchanged."""
    times = p.RoutedTimes()
    model: tuple[int, ...] = ()
    states = [times]
    for off in offsets_s:
        ts = off * SEC
        before, held = times, times.times()
        times, model = times.add(ts), _model_add(model, ts)
        assert before.times() == held  # pure: the deque added to is unchanged
        states.append(times)
        assert times.times() == model
        assert len(times) == len(model)
        for probe in probes_s:
            assert times.count_after(probe * SEC) == sum(1 for t in model if t > probe * SEC)
    at = min(cut, len(states) - 1)
    ledger = p.Ledger(routed_times=Map({"a": states[at]}))
    restored = p.decode_ledger(p.encode_ledger(ledger)).routed_times["a"]
    assert restored == states[at]
    for off in offsets_s[at:]:
        restored = restored.add(off * SEC)
    assert restored == times
