"""The per-subject hash chain (janus_common.chain, audit.chain_findings), pure."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from janus_common import audit, chain
from janus_common.messages import OrderRejected, RejectReason, encode

SUBJECTS = ["janus.evt.order.ib-1", "janus.evt.order.wb-1", "janus.evt.position.ib-1", "janus.evt.registry"]


def build(plan: list[tuple[int, str]]) -> list[chain.Stored]:
    """Store events as bus.publish does: each carries the hash of its subject's last one."""
    tips: dict[str, str] = {}
    records = []
    for seq, (subject_i, reason) in enumerate(plan, start=1):
        subject = SUBJECTS[subject_i]
        event = OrderRejected(account="ib-1", intent_id=f"i{seq}", reason=RejectReason.INTERNAL, message=reason,
                              prev_hash=tips.get(subject, chain.GENESIS))
        data = encode(event)
        tips[subject] = chain.link(data)
        records.append(chain.Stored(subject, seq, data))
    return records


plans = st.lists(st.tuples(st.integers(0, len(SUBJECTS) - 1), st.text(max_size=8)), min_size=1, max_size=40)


@settings(max_examples=300)
@given(plans)
def test_an_untouched_history_has_no_break(plan):
    assert audit.chain_findings(build(plan)) == []


def _later_on_same_subject(records, i):
    return any(r.subject == records[i].subject for r in records[i + 1:])


@settings(max_examples=300)
@given(plans, st.data())
def test_removing_an_event_that_has_a_successor_is_found(plan, data):
    records = build(plan)
    candidates = [i for i in range(len(records)) if _later_on_same_subject(records, i)]
    if not candidates:
        return
    i = data.draw(st.sampled_from(candidates))
    found = audit.chain_findings(records[:i] + records[i + 1:])
    assert [f.check for f in found] == ["chain_intact"]
    assert records[i].subject in found[0].detail


@settings(max_examples=300)
@given(plans, st.data())
def test_editing_an_event_that_has_a_successor_is_found(plan, data):
    """The edited event keeps its own (correct) link, so the break shows at the next event of
    its subject. The last event of a subject has no successor yet: an edit of it shows once
    the subject moves on (a limit of any hash chain, said in DESIGN)."""
    records = build(plan)
    candidates = [i for i in range(len(records)) if _later_on_same_subject(records, i)]
    if not candidates:
        return
    i = data.draw(st.sampled_from(candidates))
    successor = next(r for r in records[i + 1:] if r.subject == records[i].subject)
    original = msgspec.msgpack.decode(records[i].data, type=OrderRejected)
    tampered = list(records)
    tampered[i] = chain.Stored(records[i].subject, records[i].seq,
                               encode(msgspec.structs.replace(original, message=original.message + "!")))
    found = audit.chain_findings(tampered)
    assert len(found) == 1 and f"seq {successor.seq}:" in found[0].detail


@settings(max_examples=300)
@given(plans, st.data())
def test_an_event_slipped_in_is_found(plan, data):
    records = build(plan)
    i = data.draw(st.integers(0, len(records) - 1))
    forged = OrderRejected(account="ib-1", intent_id="forged", reason=RejectReason.INTERNAL, message="x")
    slipped = chain.Stored(records[i].subject, records[-1].seq + 1, encode(forged))
    assert any(records[i].subject in f.detail for f in audit.chain_findings(records + [slipped]))


def test_a_replay_from_a_time_trusts_each_subjects_first_record():
    records = build([(0, "a"), (0, "b"), (1, "c"), (0, "d")])
    assert audit.chain_findings(records[1:], anchored=False) == []
    assert [f.check for f in audit.chain_findings(records[1:], anchored=True)] == ["chain_intact"]


def test_unreadable_bytes_are_a_break_not_a_crash():
    records = build([(0, "a")]) + [chain.Stored(SUBJECTS[0], 2, b"\xc1garbage")]
    found = audit.chain_findings(records)
    assert len(found) == 1 and "UNREADABLE" in found[0].detail


def test_an_event_stored_before_the_bounds_is_named_not_skipped():
    # A client-chosen id of 80 characters was storable before ids were bounded: its chain is
    # intact, so only the readability check can tell that the replay could not fold it.
    legacy = msgspec.msgpack.encode({"kind": "OrderRejected", "event_id": "e1", "ts": 1, "account": "ib-1",
                                     "prev_hash": chain.GENESIS, "intent_id": "i" * 80, "reason": "INTERNAL",
                                     "message": "m"})
    records = build([(0, "ok")]) + [chain.Stored(SUBJECTS[1], 2, legacy)]
    assert audit.chain_findings(records) == []
    [finding] = audit.unreadable_findings(records)
    assert (finding.check, finding.account) == ("readable", "wb-1")
    assert "seq 2" in finding.detail and "$.intent_id" in finding.detail
