"""Server → client messages at server version 178, as field lists (``wire.frame`` encodes them).
Field counts follow ib_async 2.1.0's decoder exactly; several messages are unpacked by tuple
and break on one field too many or too few."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timezone

from .book import Holding, SimOrder, multiplier
from .catalogue import Spec
from .history import Bar
from .secdef import Chain, Description

UNSET_DOUBLE = 1.7976931348623157e308
UNSET_INT = 2147483647


def contract12(spec: Spec, exchange: str | None = None) -> list[object]:
    """conId … tradingClass, the way openOrder/execDetails/position carry a contract."""
    return [spec.con_id, spec.symbol, spec.sec_type, spec.last_trade_date or spec.contract_month,
            spec.strike or 0.0, spec.right, spec.multiplier, exchange or spec.exchange, spec.currency,
            spec.local_symbol, spec.trading_class]


def error(req_id: int, code: int, text: str) -> list[object]:
    return [4, 2, req_id, code, text, ""]


def contract_data(req_id: int, spec: Spec, exchange: str | None) -> list[object]:
    return [10, req_id, spec.symbol, spec.sec_type, spec.last_trade_date, spec.strike or 0.0, spec.right,
            exchange or spec.exchange, spec.currency, spec.local_symbol, spec.trading_class, spec.trading_class,
            spec.con_id, spec.min_tick, spec.multiplier, "ACTIVETIM,LMT,MKT,STP,STPLMT,GTC,DAY",
            ",".join(spec.valid_exchanges), 1, 0, spec.long_name, spec.primary_exchange, spec.contract_month,
            "", "", "", "US/Eastern", "", "", "", "", 0,  # industry…evMultiplier, no secIds
            1, "", "", "26" if spec.sec_type == "STK" else "", spec.last_trade_date,
            "COMMON" if spec.sec_type == "STK" else "", 1, 1, 1]


def _price(value: float | None) -> object:
    return value if value is not None else UNSET_DOUBLE


def _opt(value: float | None) -> object:
    return value if value is not None else ""


def open_order(o: SimOrder, what_if: Sequence[str] | None = None) -> list[object]:
    """``what_if``: IB's 12 margin/commission figures and the commission currency of a whatIf
    answer (initMarginBefore … maxCommission, commissionCurrency), as numbers in text."""
    s = o.spec
    figures: list[object] = list(what_if) if what_if is not None else [""] * 13
    return [
        5, o.order_id, *contract12(s),
        o.action, o.qty, o.order_type, _price(o.lmt), _price(o.aux), o.tif or "DAY", o.oca_group, o.account, "O",
        0, o.order_ref, o.client_id, o.perm_id, o.outside_rth, 0, 0, "", "", "", "", "",  # … faPercentage
        "", o.good_till, "", "", "", 0, "", -1,  # modelCode, goodTillDate … exemptCode
        0, "", "", "", "", "", "", 0, 0, 0, 0, o.oca_type, 0, 0, "",  # auctionStrategy … nbboPriceCap
        o.parent_id, 0, "", 0, "", "",  # parentId, triggerMethod, volatility, volatilityType, dnOrderType, dnAuxPrice
        0, 0, _opt(o.trail_stop), _opt(o.trailing_pct), "", "", "",  # continuousUpdate … comboLegsDescrip
        0, 0, 0,  # combo legs, order combo legs, smart combo params
        "", "", "", "",  # scaleInitLevelSize, scaleSubsLevelSize, scalePriceIncrement, hedgeType
        0, "", "", 0, 0,  # optOutSmartRouting, clearingAccount, clearingIntent, notHeld, dncPresent
        "",  # algoStrategy
        0, what_if is not None, o.status, *figures, "",  # solicited, whatIf, status, margins … warningText
        0, 0,  # randomizeSize, randomizePrice
        0,  # conditions
        "", "", _opt(o.trail_stop), _opt(o.lmt_offset), "", "", "", 0,  # adjustedOrderType … adjustableTrailingUnit
        "", "", "", "", 0, 0, "", 0,  # softDollarTier name/value/displayName, cashQty … usePriceMgmtAlgo
        "", 0, 0,  # duration, postToAts, autoCancelParent
        "", "", 0, 0, 0,  # minTradeQty … midOffsetAtHalf
    ]


def order_status(o: SimOrder, status: str | None = None) -> list[object]:
    return [3, o.order_id, status or o.status, o.filled, o.remaining, o.avg_price, o.perm_id, 0,
            o.last_fill_price, o.client_id, o.why_held, 0.0]


def completed_order(o: SimOrder) -> list[object]:
    s = o.spec
    return [
        101, *contract12(s), o.action, o.qty, o.order_type, _price(o.lmt), _price(o.aux),
        o.tif or "DAY", o.oca_group, o.account, "O", 0, o.order_ref, o.perm_id, o.outside_rth, 0, 0, "", "", "", "",
        "", o.good_till, "", "", "", 0, "", -1,  # modelCode, goodTillDate … exemptCode
        "", "", "", "", "", "", 0, 0, "", o.oca_type, 0, "", 0, "", "",  # startingPrice … dnAuxPrice
        0, 0, _opt(o.trail_stop), _opt(o.trailing_pct), "",  # continuousUpdate … comboLegsDescrip
        0, 0, 0, "", "", "", "",  # legs, order legs, params, scale init/subs/increment, hedgeType
        "", "", 0, 0,  # clearingAccount, clearingIntent, notHeld, dncPresent
        "",  # algoStrategy
        0, o.status, 0, 0,  # solicited, status, randomizeSize, randomizePrice
        0,  # conditions
        _opt(o.trail_stop), _opt(o.lmt_offset), "", 0, 0, "", o.filled, 0, 0, "", 0, 0, 0,  # … parentPermId
        o.completed_time, o.status, "", "", 0, 0, 0,
    ]


def exec_time(ts: float | None = None) -> str:
    return datetime.fromtimestamp(ts or time.time(), tz=timezone.utc).strftime("%Y%m%d %H:%M:%S UTC")


def exec_details(req_id: int, o: SimOrder, exec_id: str, qty: float, price: float, cum: float,
                 avg: float, ts: float) -> list[object]:
    s = o.spec
    return [11, req_id, o.order_id, *contract12(s), exec_id, exec_time(ts), o.account, s.primary_exchange if s.sec_type == "STK" else s.exchange,
            "BOT" if o.action == "BUY" else "SLD", qty, price, o.perm_id, o.client_id, 0, cum, avg,
            o.order_ref, "", "", "", 1, 0]


def commission_report(exec_id: str, amount: float, currency: str, realized: float | None) -> list[object]:
    return [59, 1, exec_id, amount, currency, realized if realized is not None else UNSET_DOUBLE, UNSET_DOUBLE,
            UNSET_INT]


def position(account: str, spec: Spec, h: Holding) -> list[object]:
    return [61, 3, account, *contract12(spec), h.qty, h.avg_cost]


def portfolio(account: str, spec: Spec, h: Holding, mark: float) -> list[object]:
    mult = multiplier(spec)
    value = h.qty * mark * mult
    unrealized = value - h.qty * h.avg_cost
    return [7, 8, spec.con_id, spec.symbol, spec.sec_type, spec.last_trade_date or spec.contract_month,
            spec.strike or 0.0, spec.right, spec.multiplier, spec.primary_exchange, spec.currency,
            spec.local_symbol, spec.trading_class, h.qty, mark, value, h.avg_cost, unrealized, h.realized, account]


def tick_price(req_id: int, tick_type: int, price: float, size: float) -> list[object]:
    return [1, 6, req_id, tick_type, price, size, 0]


def tick_size(req_id: int, tick_type: int, size: float) -> list[object]:
    return [2, 6, req_id, tick_type, size]


def realtime_bar(req_id: int, start: int, o: float, h: float, lo: float, c: float, volume: float,
                 wap: float, count: int) -> list[object]:
    return [50, 3, req_id, start, o, h, lo, c, volume, wap, count]


def historical_data(req_id: int, start: str, end: str, bars: list[Bar]) -> list[object]:
    """historicalData at 178: no version field and no historicalDataEnd (108 starts at server
    version 196): the message itself ends the request."""
    fields: list[object] = [17, req_id, start, end, len(bars)]
    for b in bars:
        fields += [b.date, b.open, b.high, b.low, b.close, b.volume, b.wap, b.count]
    return fields


def option_chain(req_id: int, c: Chain) -> list[object]:
    return [75, req_id, c.exchange, c.underlying_con_id, c.trading_class, c.multiplier, len(c.expirations),
            *c.expirations, len(c.strikes), *c.strikes]


def symbol_samples(req_id: int, found: list[Description]) -> list[object]:
    """symbolSamples; from server version 176 each description ends with description and issuerId."""
    fields: list[object] = [79, req_id, len(found)]
    for d in found:
        s = d.spec
        fields += [s.con_id, s.symbol, s.sec_type, s.primary_exchange, s.currency, len(d.derivative_sec_types),
                   *d.derivative_sec_types, s.long_name, ""]
    return fields
