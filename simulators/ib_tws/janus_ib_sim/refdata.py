"""Data and reference requests: historical bars, head timestamp, option chain parameters and
symbol search. Each handler takes the session and the request's fields (see ``session.HANDLERS``)
and ends the request with its answer or an error carrying its reqId."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from . import history
from . import outgoing as out
from .catalogue import EXCHANGE_REQUIRED, Spec, lacks_exchange
from .market import Quote, first_quote
from .secdef import matching_symbols, option_chains
from .wire import as_int

if TYPE_CHECKING:
    from .session import Session

NO_DEFINITION = "No security definition has been found for the request"


def _contract(session: "Session", req_id: int, f: list[str]) -> Spec | None:
    """The one listed contract a data request names, or None after answering 321/200."""
    q = session._query(f, 3)
    if q.sec_type == "BAG":
        session.error(req_id, 321, "Error validating request.-'bS' : cause - Historical data for combinations is "
                                   "not supported by the simulator")
        return None
    if lacks_exchange(q):
        session.error(req_id, 321, EXCHANGE_REQUIRED)
        return None
    found = session.sim.lookup(q)
    if len(found) != 1:
        session.error(req_id, 200, NO_DEFINITION)
        return None
    return found[0]


def historical_data(session: "Session", f: list[str]) -> None:
    """reqHistoricalData: 20, reqId, Contract12, includeExpired, endDateTime, barSize, duration,
    useRTH, whatToShow, formatDate, [BAG legs], keepUpToDate, chartOptions."""
    req_id = as_int(f[1])
    spec = _contract(session, req_id, [f[0], "", *f[1:]])
    if spec is None:
        return
    end, bar_size, duration = f[15], f[16], f[17]
    use_rth, what, format_date = f[18] == "1", f[19].strip().upper(), as_int(f[20], 1)
    live = f[21] == "1"
    if live and end.strip():
        session.error(req_id, 321, "Error validating request.-'bS' : cause - End date not supported with live "
                                   "updates")
        return
    now = time.time()
    try:
        req = history.parse(spec, end, duration, bar_size, what, use_rth, format_date, now)
        bars = history.bars(spec, req, _quote(session, spec))
    except history.HistoryError as exc:
        session.error(req_id, exc.code, exc.text)
        return
    start = history.bar_starts(req, spec.sec_type)[0][0]
    session.send(out.historical_data(req_id, _stamp(start), _stamp(req.end), bars))
    if live:
        task = asyncio.create_task(_live(session, req_id, spec, req, bars[-1]), name=f"ib-sim-live-{req_id}")
        session.live_bars[req_id] = (spec.con_id, task)


async def _live(session: "Session", req_id: int, spec: Spec, req: history.Request, bar: history.Bar) -> None:
    """keepUpToDate: the bar in progress, every bar interval, as historicalDataUpdate (90);
    a new date when time moves into the next bar. Ends with the session or cancelHistoricalData."""
    live: history.Bar | None = bar
    while not session.closed and req_id in session.live_bars:
        await asyncio.sleep(session.sim.bar_interval)
        if session.sim.scenario.farm_down:
            continue
        current = history.current_bar(req, spec.sec_type, time.time())
        if current is None:
            continue
        live = history.advance(live, current[1], _quote(session, spec), req.what)
        session.send([90, req_id, live.count, live.date, live.open, live.close, live.high, live.low, live.wap,
                      live.volume])


def cancel_historical(session: "Session", f: list[str]) -> None:
    """cancelHistoricalData: 25, 1, reqId — ends a keepUpToDate subscription (else nothing)."""
    entry = session.live_bars.pop(as_int(f[2]), None)
    if entry is not None:
        entry[1].cancel()


def head_timestamp(session: "Session", f: list[str]) -> None:
    """reqHeadTimeStamp: 87, reqId, Contract12, includeExpired, useRTH, whatToShow, formatDate."""
    req_id = as_int(f[1])
    spec = _contract(session, req_id, [f[0], "", *f[1:]])
    if spec is None:
        return
    what = f[16].strip().upper()
    if what not in history.WHAT or (what == "TRADES" and spec.sec_type == "CASH"):
        session.error(req_id, 162, f"{history.HMDS}No head time stamp for {spec.symbol}/{spec.sec_type}@"
                                   f"{spec.exchange} {history.WHAT.get(what, what[:20])}")
        return
    first = history.head_timestamp(spec, time.time())
    session.send([88, req_id, str(int(first)) if as_int(f[17], 1) == 2 else _stamp(first)])


def option_params(session: "Session", f: list[str]) -> None:
    """reqSecDefOptParams: 78, reqId, underlyingSymbol, futFopExchange, underlyingSecType, conId."""
    req_id = as_int(f[1])
    for chain in option_chains(session.sim.catalogue, f[2], f[3].strip(), f[4].strip().upper(), as_int(f[5])):
        session.send(out.option_chain(req_id, chain))
    session.send([76, req_id])


def matching(session: "Session", f: list[str]) -> None:
    """reqMatchingSymbols: 81, reqId, pattern."""
    req_id = as_int(f[1])
    session.send(out.symbol_samples(req_id, matching_symbols(session.sim.catalogue, f[2])))


def _quote(session: "Session", spec: Spec) -> Quote:
    return session.sim.quotes.get(spec.con_id) or first_quote(spec)


def _stamp(ts: float) -> str:
    return time.strftime("%Y%m%d %H:%M:%S", time.gmtime(ts)) + " UTC"
