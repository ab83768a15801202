"""What IB says about one order, as the kernel's broker-neutral reports. Pure.

The kernel's one tracker core (:mod:`janus_gateway.tracker`) turns reports into events exactly
once; this module only translates IB's words: its status strings (ib_async's constants), its
executions, and its error codes (classified once, in :mod:`.codes`). The ``on_*`` functions fold
the translation straight into a track.
"""

from __future__ import annotations

from janus_common.messages import Broker, BrokerSide, GatewayOrderEvent
from janus_gateway import tracker as core
from janus_gateway.adapter import ErrorKind, ErrorReport, FillReport, OrderStatusReport
from janus_gateway.tracker import Emitted, Track

from .codes import CodeClass, classify
from .mapping import IB_STATES

__all__ = ["OrderTrack", "error_report", "fill_report", "on_error", "on_fill", "on_status", "replay",
           "status_report"]

BOUGHT = ("BOT", "BUY")  # an execution's side: IB says BOT/SLD (ib_async has no constants for it)

_ERROR_KINDS = {
    CodeClass.HELD: ErrorKind.HELD,
    CodeClass.ORDER: ErrorKind.ERROR,  # a refusal before IB accepted the order, a warning after
}


def OrderTrack(order_key: str, account: str, symbol: str = "",  # noqa: N802
               side: BrokerSide = BrokerSide.BUY) -> Track:
    return Track(order_key, account, Broker.IB, symbol=symbol, side=side)


def status_report(key: str, ib_status: str, filled: float, remaining: float, avg_price: float, order_id: int,
                  perm_id: int) -> OrderStatusReport | None:
    """None for a status word that says nothing by itself (ValidationError: its error code does)."""
    state = IB_STATES.get(ib_status)
    if state is None:
        return None
    return OrderStatusReport(order_key=key, status=state, filled=filled, remaining=remaining,
                             avg_fill_price=avg_price or None, broker_order_id=str(order_id),
                             perm_id=str(perm_id) if perm_id else None, acknowledged=bool(perm_id),
                             broker_status=ib_status, reason=ib_status)


def fill_report(key: str, exec_id: str, qty: float, price: float, side: str, commission: float | None,
                currency: str | None, order_id: int) -> FillReport:
    return FillReport(order_key=key, fill_id=exec_id, qty=qty, price=price,
                      side=BrokerSide.BUY if side in BOUGHT else BrokerSide.SELL,
                      commission=commission, commission_currency=currency, broker_order_id=str(order_id))


def error_report(key: str, code: int, text: str) -> ErrorReport:
    return ErrorReport(order_key=key, kind=_ERROR_KINDS.get(classify(code), ErrorKind.INFORMATIONAL),
                       code=str(code), text=text)


def on_status(t: Track, ib_status: str, filled: float, remaining: float, avg_price: float,
              order_id: int, perm_id: int) -> Emitted:
    report = status_report(t.order_key, ib_status, filled, remaining, avg_price, order_id, perm_id)
    return (t, []) if report is None else core.apply(report, t)


def on_fill(t: Track, exec_id: str, qty: float, price: float, side: str, commission: float | None,
            currency: str | None, order_id: int) -> Emitted:
    return core.apply(fill_report(t.order_key, exec_id, qty, price, side, commission, currency, order_id), t)


def on_error(t: Track, code: int, text: str) -> Emitted:
    """404 = held for a locate (not a rejection); an error before IB acknowledged the order is a
    rejection; warnings and confirmations are nothing to report."""
    return core.apply(error_report(t.order_key, code, text), t)


def replay(t: Track, event: GatewayOrderEvent) -> Track:
    """Rebuild a track from events already published (after a restart)."""
    return core.replay(event, t)
