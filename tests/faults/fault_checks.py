"""The fault tests' invariants, read from what the bus stored after the fact:

- INTENTS: every acknowledged intent is stored (nothing acknowledged is lost);
- EVENTS (``janus.evt.order.*``): every stored intent has exactly one routing outcome
  (OrderRouted, or OrderRejected that is not a cancel's), an intent that was never stored has
  none; a routed order reaches FILLED once per broker order (leg), its fills (no fill_id seen
  twice on an account) add up to the order's quantity once;
- ``janus audit replay`` exits 0 (chain intact, its own invariants) — run by the tests.

:func:`settle` waits, with a deadline, until every stored intent has an outcome and every
routed one has ended; the figures (:meth:`Verdict.figures`) are printed by the tests and
appended to ``$JANUS_FAULTS_RESULTS`` (default ``/tmp/janus-faults-results.jsonl``)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nats.aio.client import Client as NATS

from janus_common import bus
from janus_common import messages as m
from janus_common.streams import EVENTS_STREAM, INTENTS_STREAM

from fault_load import Load

RESULTS = Path(os.environ.get("JANUS_FAULTS_RESULTS", "/tmp/janus-faults-results.jsonl"))


@dataclass
class Verdict:
    violations: list[str] = field(default_factory=list)
    figures_: dict[str, Any] = field(default_factory=dict)

    def figures(self) -> dict[str, Any]:
        return self.figures_


async def read_bus(nc: NATS) -> tuple[dict[str, tuple[int, Any]], list[Any]]:
    """(intent id -> (INTENTS sequence, intent)) and every order event, as stored."""
    js = nc.jetstream()
    intents: dict[str, tuple[int, Any]] = {}
    for record in await bus.stored(js, INTENTS_STREAM, "janus.intent.*", timeout=60):
        try:
            intent = m.INTENTS.decode(record.data, subject=record.subject)
        except m.MessageDecodeError:
            continue
        if isinstance(intent, m.OrderIntent):
            intents.setdefault(intent.intent_id, (record.seq, intent))
    events = []
    for record in await bus.stored(js, EVENTS_STREAM, "janus.evt.order.*", timeout=60):
        try:
            events.append(m.ANY_EVENT.decode(record.data, subject=record.subject))
        except m.MessageDecodeError:
            continue
    return intents, events


def _outcomes(events: list[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = defaultdict(list)
    for e in events:
        if isinstance(e, m.OrderRouted) or (isinstance(e, m.OrderRejected) and e.cancel_id is None):
            if e.intent_id:
                out[e.intent_id].append(e)
    return out


def _ended(events: list[Any]) -> set[str]:
    done = set()
    for e in events:
        if isinstance(e, m.OrderStatusChanged) and e.status.terminal:
            done.add(e.intent_id)
        elif isinstance(e, (m.OrderCancelled, m.OrderBrokerRejected, m.OrderGatewayRefused)):
            done.add(e.intent_id)
    return done


async def settle(nc: NATS, load: Load, *, timeout: float = 90.0) -> tuple[dict[str, tuple[int, Any]], list[Any], float]:
    """Re-read the bus until every one of ``load``'s stored intents has an outcome and every
    routed one has ended, or ``timeout``. Returns what was read last and when it settled
    (time.time(); 0.0 if it never did)."""
    ours = {s.intent.intent_id for s in load.sent}
    deadline = time.monotonic() + timeout
    while True:
        intents, events = await read_bus(nc)
        outcomes = _outcomes(events)
        ended = _ended(events)
        stored = ours & set(intents)
        missing = [i for i in stored if i not in outcomes]
        routed = [i for i in stored if any(isinstance(o, m.OrderRouted) for o in outcomes.get(i, []))]
        open_ = [i for i in routed if i not in ended]
        if not missing and not open_:
            return intents, events, time.time()
        if time.monotonic() > deadline:
            return intents, events, 0.0
        await asyncio.sleep(2.0)


def check(load: Load, intents: dict[str, tuple[int, Any]], events: list[Any], *,
          faults: list[tuple[float, str]] = (), settled_at: float = 0.0,
          expect_all_filled: bool = False) -> Verdict:
    v = Verdict()
    ours = {s.intent.intent_id: s for s in load.sent}
    outcomes = _outcomes(events)
    by_intent: dict[str, list[Any]] = defaultdict(list)
    for e in events:
        if getattr(e, "intent_id", None) in ours:
            by_intent[e.intent_id].append(e)

    lost, no_outcome, extra_outcome, ghost = [], [], [], []
    for iid, s in ours.items():
        stored = iid in intents
        n = len(outcomes.get(iid, []))
        if s.acked and not stored:
            lost.append(iid)
        if stored and n == 0:
            no_outcome.append(iid)
        if n > 1:
            extra_outcome.append(iid)
        if not stored and n:
            ghost.append(iid)
    if lost:
        v.violations.append(f"{len(lost)} acknowledged intents missing from INTENTS: {lost[:5]}")
    if no_outcome:
        v.violations.append(f"{len(no_outcome)} stored intents without a routing outcome: "
                            f"{[(ours[i].intent.account, i) for i in no_outcome[:5]]}")
    if extra_outcome:
        v.violations.append(f"{len(extra_outcome)} intents with more than one routing outcome: {extra_outcome[:5]}")
    if ghost:
        v.violations.append(f"{len(ghost)} intents with an outcome but not in INTENTS: {ghost[:5]}")

    reasons: Counter[str] = Counter()
    routed = []
    for iid in ours:
        for o in outcomes.get(iid, [])[:1]:
            if isinstance(o, m.OrderRejected):
                reasons[o.reason.value] += 1
            else:
                routed.append(o)

    filled_once, not_filled, filled_twice, qty_mismatch, dup_fill_ids, ended_other = 0, [], [], [], [], Counter()
    fill_ids: Counter[tuple[str, str]] = Counter()
    fills_total = 0
    for r in routed:
        evs = by_intent[r.intent_id]
        fills = [e for e in evs if isinstance(e, m.OrderFilled)]
        fills_total += len(fills)
        for f in fills:
            fill_ids[(f.account, f.fill_id)] += 1
        legs_qty = {o.leg: o.qty for o in r.orders}
        ok = True
        for leg, qty in legs_qty.items():
            filled_events = [e for e in evs if isinstance(e, m.OrderStatusChanged)
                             and e.leg == leg and e.status is m.OrderState.FILLED]
            leg_fill_qty = sum(f.qty for f in fills if f.leg == leg)
            if len(filled_events) == 0:
                ok = False
                terminal = [e for e in evs if getattr(e, "leg", leg) == leg and (
                    (isinstance(e, m.OrderStatusChanged) and e.status.terminal)
                    or isinstance(e, (m.OrderCancelled, m.OrderBrokerRejected, m.OrderGatewayRefused)))]
                if terminal:
                    t = terminal[-1]
                    ended_other[getattr(t, "status", None) and t.status.value or type(t).__name__] += 1
                else:
                    not_filled.append((r.account, r.intent_id))
            elif len(filled_events) > 1:
                ok = False
                filled_twice.append(r.intent_id)
            if filled_events and abs(leg_fill_qty - qty) > 1e-9:
                ok = False
                qty_mismatch.append((r.intent_id, leg, qty, leg_fill_qty))
        if ok:
            filled_once += 1
    dup_fill_ids = [k for k, n in fill_ids.items() if n > 1]

    def stored_kinds(iid: str) -> list[str]:
        return [type(e).__name__ + (f"({e.status.value})" if isinstance(e, m.OrderStatusChanged) else "")
                for e in by_intent[iid]]

    # Evidence: what EVENTS holds for each intent that did not end well (what is missing).
    evidence = {iid: stored_kinds(iid) for _, iid in not_filled[:5]}
    evidence.update({iid: stored_kinds(iid) for iid, *_ in qty_mismatch[:5]})
    if not_filled:
        v.violations.append(f"{len(not_filled)} routed intents never FILLED nor otherwise ended: {not_filled[:5]}")
    if filled_twice:
        v.violations.append(f"{len(filled_twice)} orders FILLED more than once: {filled_twice[:5]}")
    if qty_mismatch:
        v.violations.append(f"{len(qty_mismatch)} orders whose fills do not add up to their quantity "
                            f"(intent, leg, qty, filled): {qty_mismatch[:5]}")
    if dup_fill_ids:
        v.violations.append(f"{len(dup_fill_ids)} fill ids published twice: {dup_fill_ids[:5]}")
    if expect_all_filled and (len(routed) != len(load.sent) or filled_once != len(load.sent)):
        v.violations.append(f"expected every intent FILLED once: {len(load.sent)} sent, {len(routed)} routed, "
                            f"{filled_once} filled once, rejected {dict(reasons)}, ended otherwise {dict(ended_other)}")

    # Times: outcome latency (outcome event time - send time) and recovery after each fault.
    latency = []
    outcome_ts: dict[str, float] = {}
    for iid, s in ours.items():
        if outcomes.get(iid):
            t = outcomes[iid][0].ts / 1e9
            outcome_ts[iid] = t
            latency.append(t - s.sent_at)
    recover = []
    for at, what in faults:
        after = sorted(o.ts / 1e9 for o in routed if o.ts / 1e9 > at)
        # the backlog: intents sent from 1 s before the fault to 10 s after it
        window = [outcome_ts[i] for i, s in ours.items() if at - 1 <= s.sent_at <= at + 10 and i in outcome_ts]
        recover.append({"fault": what,
                        "first_routed_after_s": round(after[0] - at, 2) if after else None,
                        "backlog_done_after_s": round(max(window) - at, 2) if window else None})
    latency.sort()
    v.figures_ = {
        **load.figures(),
        "stored_in_intents": sum(1 for i in ours if i in intents),
        # a publish the client saw fail that the server stored anyway (the ack was lost, or
        # nats-py flushed its buffer after reconnecting): it must still be processed once
        "errored_but_stored": sum(1 for i, s in ours.items() if not s.acked and i in intents),
        "outcomes": sum(1 for i in ours if outcomes.get(i)),
        "routed": len(routed), "rejected": dict(reasons),
        "filled_once": filled_once, "fills": fills_total, "ended_otherwise": dict(ended_other),
        "outcome_latency_s": {"p50": round(latency[len(latency) // 2], 3) if latency else None,
                              "max": round(latency[-1], 3) if latency else None},
        "faults": recover,
        "settled_after_load_s": round(settled_at - load.ended, 2) if settled_at else None,
        "violations": v.violations,
        "events_of_bad_intents": evidence,
    }
    return v


def record(test: str, figures: dict[str, Any]) -> None:
    line = json.dumps({"test": test, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **figures})
    print(f"\nFAULT FIGURES {line}", flush=True)
    with RESULTS.open("a") as out:
        out.write(line + "\n")
