"""The audit's invariants over a replayed ledger. Pure: a Ledger in, findings out.

1. every intent has exactly one routing outcome (routed or rejected);
2. the fills of each broker order add up to the filled quantity the broker reported;
3. no broker order was placed twice (one broker order id per leg);
4. the positions the fills imply agree with what the broker reports (Janus-placed fills only:
   a difference can also be a position from before Janus or from another client, so it is
   reported with the numbers, for a person to judge).
5. the events of each subject form an unbroken hash chain (janus_common.chain), and no stream
   sequence is missing: no event was removed, edited or slipped in after it was stored.
7. every order intent stored in INTENTS has its routing outcome in EVENTS (one that was
   dead-lettered too: the router rejects it ``UNPROCESSABLE``); an intent nobody answered is a
   client left waiting.
8. a bracket is one unit: at most one of its exits (take-profit, stop-loss) filled.
6. every stored event is readable by today's catalogue: one that is not (say, stored before
   string bounds existed, with a longer id) is named with its sequence, never skipped silently;
   its bytes stay in the stream as they were.
"""

from __future__ import annotations

import hashlib
import operator
from collections import defaultdict
from collections.abc import Sequence

import msgspec

from . import chain, subjects
from .messages import ANY_EVENT, EXIT_LEGS, INTENTS, BrokerSide, MessageDecodeError, OrderIntent
from .projections import Ledger, ledger_key


_EXIT_LEGS = frozenset(EXIT_LEGS.values())


class Finding(msgspec.Struct, frozen=True):
    # one_outcome | fills_match | placed_once | positions_match | chain_intact | readable | one_exit
    check: str
    intent_id: str
    account: str
    detail: str


class AuditReport(msgspec.Struct, frozen=True):
    events: int
    intents: int
    routed: int
    rejected: int
    open_orders: int
    state_hash: str
    violations: list[Finding]
    position_differences: list[Finding]
    # account -> its trading state as the events leave it ("HALTED (reason) by who"); ACTIVE
    # accounts that were never changed are not listed
    trading_states: dict[str, str] = {}

    @property
    def clean(self) -> bool:
        return not self.violations


_encoder = msgspec.msgpack.Encoder()
_by_key = operator.itemgetter(0)


def state_hash(ledger: Ledger) -> str:
    """A digest of the ledger that does not depend on map iteration order."""
    # The bytes hashed are each order's key, NUL, its MessagePack, in key order; joined and hashed
    # at once (the same digest as one update per order, a fraction of the calls).
    encode = _encoder.encode
    chunks: list[bytes] = []
    for key, view in sorted(ledger.orders.items(), key=_by_key):
        chunks += (key.encode(), b"\0", encode(view))
    positions = sorted((a, sorted(dict(book).items())) for a, book in ledger.positions.items())
    digest = hashlib.sha256(b"".join(chunks))
    digest.update(msgspec.msgpack.encode(positions))
    if ledger.trading:  # histories without trading-state changes keep the hash they had
        digest.update(msgspec.msgpack.encode(sorted((a, str(c.state)) for a, c in ledger.trading.items())))
    return digest.hexdigest()


class _Linked(msgspec.Struct):
    prev_hash: str = ""


_linked = msgspec.msgpack.Decoder(_Linked)


def _prev_hash_of(data: bytes) -> str | None:
    try:
        return _linked.decode(data).prev_hash
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def chain_findings(records: list[chain.Stored], *, anchored: bool = True) -> list[Finding]:
    """Invariant 5 over the stored bytes (not the decoded events: an edit must show)."""
    found = []
    for b in chain.breaks(records, _prev_hash_of, anchored=anchored):
        token = subjects.last_token(b.subject)
        found.append(Finding("chain_intact", "", "" if b.subject == subjects.EVT_REGISTRY else token,
                             f"{b.subject} seq {b.seq}: {b.reason}: {b.detail}"))
    return found


def read(record: chain.Stored) -> msgspec.Struct | Finding:
    """One stored event decoded, or invariant 6's finding (by subject and sequence) if it cannot be."""
    try:
        return ANY_EVENT.decode(record.data, subject=record.subject)
    except MessageDecodeError as exc:
        token = "" if record.subject == subjects.EVT_REGISTRY else subjects.last_token(record.subject)
        return Finding("readable", "", token, f"{record.subject} seq {record.seq}: {exc.reason[:500]}")


def decode(records: Sequence[chain.Stored]) -> tuple[list[msgspec.Struct], list[Finding]]:
    """The events to fold, and invariant 6 for those that cannot be: each record decoded once."""
    events: list[msgspec.Struct] = []
    found = []
    for r in records:
        event = read(r)
        if isinstance(event, Finding):
            found.append(event)
        else:
            events.append(event)
    return events, found


def unreadable_findings(records: Sequence[chain.Stored]) -> list[Finding]:
    """Invariant 6: events the replay could not fold, by subject and sequence."""
    return decode(records)[1]


def removal_findings(stream: str, removed: list[int]) -> list[Finding]:
    """Sequences missing from the middle of the stream: events deleted after they were stored
    (caught even where the chain cannot tell, e.g. a subject's newest event replaced)."""
    return [Finding("chain_intact", "", "", f"{stream} seq {seq} was removed from the stream")
            for seq in removed]


def unanswered_findings(intents: Sequence[chain.Stored], ledger: Ledger, *,
                        account: str | None = None) -> list[Finding]:
    """Invariant 7: order intents stored in INTENTS without a routing outcome in the ledger.
    An intent on an account token the router could not read, or bytes that are no intent, is
    answered (or not) by the router's malformed-intent path, which names no intent id: not
    counted here."""
    found = []
    for r in intents:
        try:
            intent = INTENTS.decode(r.data, subject=r.subject, content_type=r.content_type)
        except MessageDecodeError:
            continue
        if not isinstance(intent, OrderIntent):
            continue
        acct = subjects.last_token(r.subject)
        if account is not None and acct != account:
            continue
        if ledger_key(acct, intent.intent_id) not in ledger.orders:
            found.append(Finding("one_outcome", intent.intent_id, acct,
                                 f"INTENTS seq {r.seq}: stored, but no routing outcome in EVENTS"))
    return found


def check(ledger: Ledger, *, account: str | None = None, chain_breaks: Sequence[Finding] = ()) -> AuditReport:
    violations: list[Finding] = list(chain_breaks)
    implied: dict[tuple[str, str], float] = defaultdict(float)
    routed = rejected = open_orders = 0
    for view in ledger.orders.values():
        intent_id = view.intent_id
        if account is not None and view.account != account:
            continue
        if view.rejected is not None:
            rejected += 1
        else:
            routed += 1
            open_orders += 0 if view.terminal else 1
        if view.outcomes != 1:
            violations.append(Finding("one_outcome", intent_id, view.account,
                                      f"{view.outcomes} routing outcomes"))
        for leg in view.legs:
            if abs(leg.filled - leg.reported_filled) > 1e-9 and leg.status.terminal:
                violations.append(Finding("fills_match", intent_id, view.account,
                                          f"leg {leg.leg}: fills add up to {leg.filled:g}, broker reported "
                                          f"{leg.reported_filled:g}"))
            if len(leg.broker_order_ids) > 1:
                violations.append(Finding("placed_once", intent_id, view.account,
                                          f"leg {leg.leg} placed as broker orders {sorted(leg.broker_order_ids)}"))
            signed = leg.filled if leg.side is BrokerSide.BUY else -leg.filled
            implied[(view.account, view.symbol)] += signed
        exits_filled = [leg.leg for leg in view.legs if leg.leg in _EXIT_LEGS and leg.filled > 0]
        if len(exits_filled) > 1:
            violations.append(Finding("one_exit", intent_id, view.account,
                                      f"both exits of the bracket filled (legs {exits_filled})"))
    differences = []
    for (acct, symbol), qty in sorted(implied.items()):
        book = ledger.positions.get(acct)
        reported = book.get(symbol) if book is not None else None
        if reported is not None and abs(reported - qty) > 1e-9:
            differences.append(Finding("positions_match", "", acct,
                                       f"{symbol}: Janus fills imply {qty:g}, the broker reports {reported:g}"))
    states = {acct: f"{c.state}" + (f" ({c.reason})" if c.reason else "") + f" by {c.requested_by or '?'}"
              for acct, c in sorted(ledger.trading.items()) if account is None or acct == account}
    return AuditReport(events=ledger.applied, intents=routed + rejected, routed=routed, rejected=rejected,
                       open_orders=open_orders, state_hash=state_hash(ledger), violations=violations,
                       position_differences=differences, trading_states=states)
