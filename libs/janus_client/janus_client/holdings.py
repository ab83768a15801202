"""The broker-reported positions, read from EVENTS: each account's latest ``PositionSnapshot``
(a direct get) and the fills recorded after it (an ordered consumer from the snapshot's stream
sequence on). Adapter over NATS; :func:`janus_client.positions_view.merge` combines them with
the valuations."""

from __future__ import annotations

from dataclasses import dataclass, field

import nats.js.errors
from nats.js import JetStreamContext

from janus_common import bus, subjects
from janus_common import messages as m
from janus_common.streams import EVENTS_STREAM


@dataclass
class BrokerPositions:
    snapshots: dict[str, m.PositionSnapshot] = field(default_factory=dict)
    fills: dict[str, list[m.OrderFilled]] = field(default_factory=dict)


async def accounts_with_events(js: JetStreamContext) -> list[str]:
    """Every account EVENTS holds position or order events of (one stream-info call)."""
    found: set[str] = set()
    for family in ("position", "order"):
        info = await js.stream_info(EVENTS_STREAM, subjects_filter=f"{subjects.EVT_PREFIX}{family}.*")
        found |= {subjects.last_token(s) for s in (info.state.subjects or {})}
    return sorted(found)


async def read(js: JetStreamContext, account: str | None = None, *, timeout: float = 10.0) -> BrokerPositions:
    """The latest snapshot and the fills since, of ``account`` or of every account."""
    out = BrokerPositions()
    for alias in [account] if account else await accounts_with_events(js):
        start = 1
        try:
            raw = await js.get_last_msg(EVENTS_STREAM, subjects.evt_position(alias), direct=True)
            # nats-py leaves ``data`` None for an empty payload: decode it as the empty payload it is
            out.snapshots[alias] = m.POSITION_EVENTS.decode(raw.data or b"", subject=raw.subject)
            start = (raw.seq or 0) + 1
        except nats.js.errors.NotFoundError:
            pass  # no snapshot yet: every fill counts
        records = await bus.stored(js, EVENTS_STREAM, subjects.evt_order(alias), start_seq=start, timeout=timeout)
        fills = [e for e in (m.ORDER_EVENTS.decode(r.data, subject=r.subject) for r in records)
                 if isinstance(e, m.OrderFilled)]
        if fills:
            out.fills[alias] = fills
    return out
