"""What the console shows, folded from the bus. Pure: events, valuations and service reports
in, JSON-ready dictionaries out; no IO, so every rule here is testable without NATS.

Working orders and trading states come from the same projection the router decides with
(``janus_common.projections``); positions from :func:`janus_client.positions_view.merge` (the
broker's snapshot plus the fills since, valued where the pricer has caught up), the function
``janus positions`` uses too.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from janus_client import positions_view
from janus_client.discovery import ServiceInstance
from janus_common import messages as m
from janus_common import projections

EVENTS_KEPT = 2_000  # the event stream's memory; an order's whole history is read from EVENTS


@dataclass(frozen=True)
class EventRow:
    seq: int
    ts: int
    account: str
    kind: str
    intent_id: str | None
    body: dict[str, Any]

    def json(self) -> dict[str, Any]:
        return {"seq": self.seq, "ts": self.ts, "account": self.account, "kind": self.kind,
                "intent_id": self.intent_id, "body": self.body}


def event_row(seq: int, event: Any) -> EventRow:
    return EventRow(seq=seq, ts=getattr(event, "ts", 0), account=getattr(event, "account", ""),
                    kind=type(event).__name__, intent_id=getattr(event, "intent_id", None),
                    body=msgspec.to_builtins(event))


def matches(row: EventRow, account: str | None, kind: str | None, intent_id: str | None) -> bool:
    """The event stream's filters (each optional; ``kind`` matches a part of the name)."""
    return ((not account or row.account == account)
            and (not kind or kind.lower() in row.kind.lower())
            and (not intent_id or row.intent_id == intent_id))


@dataclass
class Console:
    accounts: Mapping[str, m.Broker]  # the configured accounts, shown even before any event
    ledger: projections.Ledger = field(default_factory=projections.Ledger)
    snapshots: dict[str, m.PositionSnapshot] = field(default_factory=dict)
    fills: dict[str, list[m.OrderFilled]] = field(default_factory=dict)
    valuations: dict[str, m.AccountValuation] = field(default_factory=dict)
    connections: dict[str, m.GatewayConnection] = field(default_factory=dict)
    events: deque[EventRow] = field(default_factory=lambda: deque(maxlen=EVENTS_KEPT))
    services: list[ServiceInstance] = field(default_factory=list)
    nats: str = "connecting"
    loaded: bool = False  # the history read up to the stream's end once
    last_seq: int = 0

    def apply_event(self, seq: int, event: Any) -> EventRow | None:
        """Fold one stored event (in stream order); None if seen before (a consumer restart)."""
        if seq <= self.last_seq:
            return None
        self.last_seq = seq
        self.ledger = projections.apply(self.ledger, event)
        if isinstance(event, m.PositionSnapshot):
            self.snapshots[event.account] = event
            self.fills.pop(event.account, None)  # the snapshot reports them now
        elif isinstance(event, m.OrderFilled):
            self.fills.setdefault(event.account, []).append(event)
        elif isinstance(event, m.GatewayConnection):
            self.connections[event.account] = event
        row = event_row(seq, event)
        self.events.append(row)
        return row

    def apply_valuation(self, valuation: m.AccountValuation) -> bool:
        """Keep the newest valuation per account; whether it changed anything."""
        known = self.valuations.get(valuation.account)
        if known is not None and known.ts > valuation.ts:
            return False
        self.valuations[valuation.account] = valuation
        return True

    def events_matching(self, account: str | None = None, kind: str | None = None,
                        intent_id: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        found = [r.json() for r in self.events if matches(r, account, kind, intent_id)]
        return found[-limit:]

    def _orders(self) -> list[dict[str, Any]]:
        out = []
        for account in sorted(self.ledger.open_orders):
            for intent_id in projections.working_orders(self.ledger, account):
                view = projections.order(self.ledger, account, intent_id)
                if view is None:
                    continue
                first = view.routed[0] if view.routed else None
                out.append({"account": account, "intent_id": intent_id, "symbol": view.symbol,
                            "side": str(view.side or ""), "qty": view.qty, "filled": view.filled,
                            "status": str(view.status),
                            "type": str(first.order_type) if first else "",
                            "limit_price": first.limit_price if first else None,
                            "stop_price": first.stop_price if first else None})
        return out

    def _account(self, view: positions_view.AccountView) -> dict[str, Any]:
        change = self.ledger.trading.get(view.account)
        connection = self.connections.get(view.account)
        return {
            "account": view.account, "broker": str(view.broker or self.accounts.get(view.account) or ""),
            "known": view.account in self.accounts,
            "trading": {"state": str(change.state if change else m.TradingState.ACTIVE),
                        "reason": change.reason if change else "",
                        "by": change.requested_by if change else ""},
            "connection": str(connection.state) if connection else None,
            "market_value": view.market_value, "unrealized_pnl": view.unrealized_pnl,
            "complete": view.complete, "valuation_ts": view.valuation_ts,
            "positions": [{**msgspec.to_builtins(p), "flags": positions_view.flags(p)} for p in view.positions],
        }

    def state(self, now_ns: int) -> dict[str, Any]:
        merged = {v.account: v for v in positions_view.merge(self.snapshots, self.fills, self.valuations.values())}
        for alias, broker in self.accounts.items():
            merged.setdefault(alias, positions_view.AccountView(account=alias, broker=broker, positions=[]))
        return {
            "now": now_ns, "nats": self.nats, "loaded": self.loaded,
            "accounts": [self._account(merged[a]) for a in sorted(merged)],
            "orders": self._orders(),
            "services": services_json(self.services),
        }


def services_json(services: Iterable[ServiceInstance]) -> list[dict[str, Any]]:
    out = []
    for s in services:
        health = s.health or {}
        consumers = health.get("consumers") or {}
        out.append({"name": s.name, "id": s.id, "version": s.version,
                    "nats": health.get("nats"), "failure": health.get("failure"),
                    "consumers": len(consumers), "dead_consumers": s.dead_consumers,
                    "ok": not s.dead_consumers and not health.get("failure")})
    return out
