"""What Webull says about one order, as the kernel's broker-neutral reports. Pure.

Webull speaks about an order twice over: the gRPC trade-event stream (which can go silent or
drop) and REST (the place answer, order detail, open orders, polled as a fallback). Both carry
the order's CUMULATIVE filled quantity and average price, so a status report here asks the
kernel's tracker core (:mod:`janus_gateway.tracker`) to derive each fill from the growth of the
cumulative quantity (fill_id ``{order_id}:{cumulative}``); the core publishes a status when
(state, filled) moves forward and says nothing about anything stale or repeated. A FAILED order
is Webull's refusal, reported as an error (code PLACE_FAILED: a FAILED status carries Webull's
sentence, not its code).
"""

from __future__ import annotations

from janus_common.messages import Broker, BrokerSide, GatewayOrderEvent, OrderState
from janus_gateway import tracker as core
from janus_gateway.adapter import ErrorKind, ErrorReport, OrderStatusReport
from janus_gateway.tracker import Emitted, Track

from .mapping import WEBULL_STATES, Observation

__all__ = ["OrderTrack", "observe", "on_rejected", "rejection", "replay", "report_of"]


def OrderTrack(order_key: str, account: str, client_order_id: str, symbol: str = "",  # noqa: N802
               side: BrokerSide = BrokerSide.BUY, qty: float = 0.0) -> Track:
    return Track(order_key, account, Broker.WEBULL, symbol=symbol, side=side, qty=qty,
                 client_order_id=client_order_id)


def rejection(key: str, code: str, text: str) -> ErrorReport:
    """Webull refused the order (400 on place, FAILED status, PLACE_FAILED event)."""
    return ErrorReport(order_key=key, kind=ErrorKind.REJECTED, code=code, text=text)


def report_of(key: str, obs: Observation) -> OrderStatusReport | ErrorReport | None:
    state = WEBULL_STATES.get(obs.status)
    if state is None:
        return None
    if state is OrderState.REJECTED:
        return rejection(key, "PLACE_FAILED", obs.reason or "Webull refused the order")
    return OrderStatusReport(order_key=key, status=state, filled=obs.filled, avg_fill_price=obs.avg_price or None,
                             broker_order_id=obs.order_id, acknowledged=bool(obs.order_id), broker_status=obs.status,
                             reason=obs.reason or None, qty=obs.qty, fills_from_status=True,
                             last_fill_qty=obs.last_qty, last_fill_price=obs.last_price)


def observe(t: Track, obs: Observation) -> Emitted:
    report = report_of(t.order_key, obs)
    return (t, []) if report is None else core.apply(report, t)


def on_rejected(t: Track, code: str, text: str) -> Emitted:
    """Once per order, and never after it was accepted and worked."""
    return core.apply(rejection(t.order_key, code, text), t)


def replay(t: Track, event: GatewayOrderEvent) -> Track:
    """Rebuild a track from events already published (after a restart)."""
    return core.replay(event, t)
