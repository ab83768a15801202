"""`janus audit replay`'s pieces that need no server: the replay folded as records arrive, and
the determinism check's second replay (in a forked copy of the process)."""

from __future__ import annotations

import asyncio
import functools
import io
import os

import msgspec

from janus_client import audit_cmd
from janus_common import audit, chain, projections, subjects
from janus_common import messages as m


@functools.cache  # once: the messages carry their creation times
def _records() -> list[chain.Stored]:
    out, tips = [], {}
    for n in range(30):
        account = f"a{n % 3}"
        intent = m.OrderIntent(intent_id=f"i{n}", account=account, symbol="AAPL", side=m.Side.BUY,
                               order_type=m.OrderType.MARKET, qty=1)
        order = m.PlaceOrder(intent_id=intent.intent_id, account=account, broker=m.Broker.IB, leg=0,
                             symbol="AAPL", side=m.BrokerSide.BUY, qty=1, order_type=m.OrderType.MARKET)
        decision = m.PositionDecision(broker_position=0, in_flight=0, projected_position=1, allow_short=False,
                                      locate_required=False, effect=m.PositionEffect.OPEN_LONG)
        base = {"account": account, "intent_id": intent.intent_id, "broker": m.Broker.IB, "leg": 0}
        for event in (m.OrderRouted(account=account, intent_id=intent.intent_id, intent=intent, broker=m.Broker.IB,
                                    decision=decision, orders=[order]),
                      m.OrderFilled(**base, fill_id=f"x{n}", symbol="AAPL", side=m.BrokerSide.BUY, qty=1, price=1.0)
                      if n % 2 else m.OrderSubmitted(**base, broker_order_id=str(n))):
            subject = subjects.evt_order(account)
            data = m.encode(msgspec.structs.replace(event, prev_hash=tips.get(subject, chain.GENESIS)))
            tips[subject] = chain.link(data)
            out.append(chain.Stored(subject, len(out) + 1, data))
    out.insert(7, chain.Stored(subjects.evt_order("a1"), 999, b"\x93not an event"))
    return out


def test_the_fold_as_records_arrive_is_the_fold_of_the_decoded_records():
    records = _records()
    fold = audit_cmd._Fold()
    for r in records:
        fold.take(r)
    events, unreadable = audit.decode(records)
    assert fold.events == events and fold.unreadable == unreadable and len(unreadable) == 1
    assert fold.state == projections.replay(events)


def test_the_second_replay_answers_the_state_hash_of_an_independent_fold():
    events = audit.decode(_records())[0]
    assert audit_cmd._second_replay(events)() == audit.state_hash(projections.replay(events))
    assert audit_cmd._second_replay(events[:-1])() != audit.state_hash(projections.replay(events))


def test_a_second_replay_that_differs_or_dies_does_not_agree(monkeypatch):
    events = audit.decode(_records())[0]
    # A fold whose result depends on the process it runs in (what the check is there to catch).
    real = audit.state_hash
    monkeypatch.setattr(audit, "state_hash", lambda ledger: f"{real(ledger)}{os.getpid()}")
    assert audit_cmd._second_replay(events)() != audit.state_hash(projections.replay(events))

    def broken(events: object, state: object = None) -> projections.Ledger:
        raise RuntimeError("fold failed")

    monkeypatch.setattr(projections, "replay", broken)
    assert audit_cmd._second_replay(events)() == ""


@functools.cache
def _intents() -> list[chain.Stored]:
    # i0..i29 were routed; i99 was stored and never answered.
    return [chain.Stored(subjects.intent(f"a{n % 3}"), n + 1, m.encode(m.OrderIntent(
        intent_id=f"i{n}", account=f"a{n % 3}", symbol="AAPL", side=m.Side.BUY, order_type=m.OrderType.MARKET,
        qty=1))) for n in (0, 1, 2, 99)]


def _audited(work: audit_cmd._Audit | audit_cmd._ForkedAudit) -> tuple[audit.AuditReport, bool]:
    async def run() -> tuple[audit.AuditReport, bool]:
        await work.connect()
        for r in _records():
            work.take_event(r)
        work.events_done()
        for r in _intents():
            work.take_intent(r)
        return await work.finish(audit.chain_findings(_records()) + audit.removal_findings("EVENTS", [5]))
    return asyncio.run(run())


def test_the_forked_audit_reports_what_the_audit_in_this_process_reports(monkeypatch):
    monkeypatch.setattr(audit_cmd, "_BATCH", 7)  # several frames, one cut mid-way through
    here = _audited(audit_cmd._Audit(account=None, since=None))
    report, agree = here
    assert agree and not report.clean
    # the unreadable record (readable, and its chain), the removed sequence, the unanswered intent
    found = {(f.check, f.intent_id) for f in report.violations}
    assert {("readable", ""), ("chain_intact", ""), ("one_outcome", "i99")} <= found
    assert any("seq 5 was removed" in f.detail for f in report.violations)
    assert _audited(audit_cmd._ForkedAudit(account=None, since=None)) == here
    assert _audited(audit_cmd._ForkedAudit(account="a1", since=None)) == \
        _audited(audit_cmd._Audit(account="a1", since=None))


def test_a_forked_audit_that_dies_is_an_error_and_one_abandoned_is_gone(monkeypatch):
    def broken(self: object, found: list[audit.Finding]) -> None:
        raise RuntimeError("audit failed")

    monkeypatch.setattr(audit_cmd._Audit, "result", broken)
    try:
        _audited(audit_cmd._ForkedAudit(account=None, since=None))
    except RuntimeError as exc:
        assert "no answer" in str(exc)
    else:
        raise AssertionError("a dead audit answered")
    work = audit_cmd._ForkedAudit(account=None, since=None)
    work.abandon()
    try:
        os.kill(work.pid, 0)
    except ProcessLookupError:
        return
    raise AssertionError("the abandoned audit is still running")


def test_a_forked_audit_whose_reader_ends_mid_frame_answers_nothing():
    """Ctrl-C: the reader dies mid-frame; the copy ends quietly instead of decoding a stub."""
    frame = audit_cmd._EVENTS + (1000).to_bytes(4, "big") + msgspec.msgpack.encode(_records()[:1])
    out = io.BytesIO()
    audit_cmd._serve(audit_cmd._Audit(account=None, since=None), io.BytesIO(frame), out)
    assert out.getvalue() == b""
