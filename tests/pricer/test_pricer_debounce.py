"""Debounce, holdings and subscription planning: pure, as properties."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from contract_months import front
from janus_common.messages import Broker, MarketDataSubscribed, Position, PositionSnapshot
from janus_common.symbols import AssetClass
from janus_pricer import debounce, holdings, subscriptions

ES = front("ES").canonical  # a live contract month, whatever today is
NQ = front("NQ").canonical  # a live contract month, whatever today is

WINDOW = 250_000_000
accounts = st.sampled_from(["ib-1", "ib-2", "wb-1"])
# a run of events: (time step in ns, accounts touched by a tick); the flush loop polls at every step
events = st.lists(st.tuples(st.integers(0, 400_000_000), st.sets(accounts, max_size=3)),
                  max_size=200)


def _simulate(run):
    state, now, emitted = debounce.Debounce(WINDOW), 0, []
    for step, touched in run:
        now += step
        state = debounce.touch(state, touched)
        due, state = debounce.take_due(state, now)
        emitted += [(now, a) for a in due]
    return state, now, emitted


@given(events)
def test_at_most_one_snapshot_per_account_per_window(run):
    _, _, emitted = _simulate(run)
    for account in ("ib-1", "ib-2", "wb-1"):
        times = [t for t, a in emitted if a == account]
        assert all(b - a >= WINDOW for a, b in zip(times, times[1:]))


@given(events)
def test_nothing_pending_waits_longer_than_its_deadline(run):
    state, now, _ = _simulate(run)
    due_at = debounce.next_due(state)
    if not state.pending:
        assert due_at is None
        return
    assert due_at is not None and due_at <= now + WINDOW
    due, after = debounce.take_due(state, max(now, due_at))
    assert due and not (due & after.pending)
    # every pending account is emitted within one window
    due_all, after_all = debounce.take_due(state, now + WINDOW)
    assert due_all == state.pending and not after_all.pending


def test_touching_what_is_already_pending_is_free():
    state = debounce.touch(debounce.Debounce(WINDOW, {"ib-1": 0}), ["ib-1"])
    assert debounce.touch(state, ["ib-1"]) is state
    assert debounce.take_due(state, WINDOW - 1)[0] == frozenset()
    assert debounce.take_due(state, WINDOW)[0] == {"ib-1"}


def _snapshot(account, ts, *lines):
    return PositionSnapshot(account=account, ts=ts, broker=Broker.IB, positions=[
        Position(symbol=s, asset_class=AssetClass.EQUITY, qty=q, avg_cost=1.0) for s, q in lines])


@given(st.lists(st.tuples(accounts, st.integers(0, 100),
                          st.lists(st.tuples(st.sampled_from(["AAPL", "MSFT", NQ]),
                                             st.integers(-5, 5)), max_size=3)), max_size=20))
def test_holdings_keep_the_newest_snapshot_per_account(reports):
    state: dict = {}
    for account, ts, lines in reports:
        state = holdings.apply_snapshot(state, _snapshot(account, ts, *lines))
    for account in {a for a, _, _ in reports}:
        newest = max(ts for a, ts, _ in reports if a == account)
        assert state[account].ts == newest
    index = holdings.holders(state)
    for symbol, holders_ in index.items():
        assert holders_ == {a for a, s in state.items() if any(p.symbol == symbol for p in s.positions)}
    assert holdings.symbols_needed(state) == {p.symbol for s in state.values() for p in s.positions
                                              if p.qty != 0}


@given(st.frozensets(st.sampled_from(["A", "B", "C", "D"])),
       st.frozensets(st.sampled_from(["A", "B", "C", "D"])))
def test_subscription_plan_converges(wanted, active):
    plan = subscriptions.plan(wanted, active)
    assert set(plan.subscribe) == wanted - active and set(plan.unsubscribe) == active - wanted
    after = subscriptions.after_unsubscribe(
        subscriptions.after_subscribe(active, MarketDataSubscribed(subscribed=list(plan.subscribe))),
        plan.unsubscribe)
    assert after == wanted and not subscriptions.plan(wanted, after)


def test_wanted_adds_client_requests_to_holdings():
    assert subscriptions.wanted({"AAPL"}, {"cli-1": ["MSFT"], "cli-2": ["AAPL", ES]}) == \
        {"AAPL", "MSFT", ES}
