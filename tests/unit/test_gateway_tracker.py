"""The kernel's one tracker core, broker-neutral: any sequence of reports publishes each event at
most once, never reopens a finished order, and a track rebuilt from what was published says
nothing again when the broker repeats itself (as it does on every reconnect)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from janus_common import messages as m
from janus_gateway import tracker
from janus_gateway.adapter import ErrorKind, ErrorReport, FillReport, OrderStatusReport
from janus_gateway.tracker import Track

KEY = "intent#1"
states = st.sampled_from([s for s in m.OrderState if s is not m.OrderState.REJECTED])
reports = st.one_of(
    st.builds(lambda s, f, ack: OrderStatusReport(order_key=KEY, status=s, filled=float(f), broker_order_id="7",
                                                  acknowledged=ack, qty=10.0),
              states, st.integers(0, 10), st.booleans()),
    st.builds(lambda i, q: FillReport(order_key=KEY, fill_id=f"e{i}", qty=float(q), price=10.0),
              st.integers(1, 4), st.integers(1, 5)),
    st.builds(lambda k, c: ErrorReport(order_key=KEY, kind=k, code=str(c), text="t"),
              st.sampled_from(list(ErrorKind)), st.sampled_from([110, 201, 404])),
)


def fresh() -> Track:
    return Track(KEY, "acct", m.Broker.IB, symbol="AAPL", qty=10.0)


def run(track: Track, said: list) -> tuple[Track, list]:
    out = []
    for report in said:
        track, events = tracker.apply(report, track)
        out += events
    return track, out


@settings(max_examples=1000, deadline=None)
@given(st.lists(reports, max_size=25))
def test_each_event_once_and_nothing_again_after_a_restart(said):
    track, published = run(fresh(), said)
    ids = [i for i, _ in published]
    assert len(ids) == len(set(ids))
    assert all(e.intent_id == "intent" and e.leg == 1 and e.broker is m.Broker.IB for _, e in published)
    ended = next((n for n, (_, e) in enumerate(published)
                  if isinstance(e, m.OrderBrokerRejected)
                  or (isinstance(e, m.OrderStatusChanged) and e.status.terminal)), None)
    if ended is not None:  # after the end only late executions (and the cancel's own event)
        assert all(isinstance(e, (m.OrderFilled, m.OrderCancelled)) for _, e in published[ended + 1:])
    statuses = [e.filled for _, e in published if isinstance(e, m.OrderStatusChanged)]
    assert statuses == sorted(statuses)  # a stale status never takes fills back

    rebuilt = fresh()
    for _, event in published:
        rebuilt = tracker.replay(event, rebuilt)
    # EVENTS alone rebuild what decides the next events (a published status also counts as
    # "the broker has it": submitted may only be more certain after a restart)
    decisive = ("status", "status_filled", "filled", "notional", "fill_ids", "rejected", "held", "holds", "updates")
    assert [getattr(rebuilt, f) for f in decisive] == [getattr(track, f) for f in decisive]
    assert rebuilt.submitted or not track.submitted
    # After a restart the broker says the order's current state and every execution again.
    last_status = [r for r in said if isinstance(r, OrderStatusReport)][-1:]
    # It may move the order on (a hold now showing in the status) but repeats nothing.
    _, again = run(rebuilt, last_status + [r for r in said if isinstance(r, FillReport)])
    assert not {i for i, _ in again} & set(ids)
    assert [e for _, e in again if isinstance(e, (m.OrderFilled, m.OrderBrokerRejected, m.OrderHeld,
                                                    m.OrderCancelled, m.OrderSubmitted))] == []
