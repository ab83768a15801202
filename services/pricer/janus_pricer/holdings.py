"""What each account holds, as the brokers last reported it. Pure projection of
``PositionSnapshot`` events: a snapshot replaces the account's previous one unless older."""

from __future__ import annotations

from collections.abc import Mapping

from janus_common.messages import PositionSnapshot

Holdings = Mapping[str, PositionSnapshot]


def apply_snapshot(holdings: Holdings, snapshot: PositionSnapshot) -> dict[str, PositionSnapshot]:
    current = holdings.get(snapshot.account)
    if current is not None and snapshot.ts < current.ts:
        return dict(holdings)  # a late replay of an older report changes nothing
    return {**holdings, snapshot.account: snapshot}


def holders(holdings: Holdings) -> dict[str, frozenset[str]]:
    """symbol → the accounts that hold a position in it (zero quantities included: the
    account still shows the line)."""
    index: dict[str, set[str]] = {}
    for account, snapshot in holdings.items():
        for position in snapshot.positions:
            index.setdefault(position.symbol, set()).add(account)
    return {symbol: frozenset(accounts) for symbol, accounts in index.items()}


def symbols_needed(holdings: Holdings) -> frozenset[str]:
    """Symbols someone holds a non-zero quantity of: those need live prices."""
    return frozenset(p.symbol for s in holdings.values() for p in s.positions if p.qty != 0)
