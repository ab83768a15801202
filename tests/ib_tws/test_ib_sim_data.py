"""Data and reference requests of the IB simulator — historical bars, head timestamp, option
chains, symbol search, forex, and IB's 321 for a contract without an exchange — driven only
through unmodified ib_async 2.1.0 over a real socket."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from zoneinfo import ZoneInfo

import pytest
from ib_async import Forex, Future, LimitOrder, MarketOrder, Option, Stock
from ib_async.wrapper import RequestError

from contract_months import front, option_expiry
from janus_ib_sim.catalogue import EXCHANGE_REQUIRED, OPTION_STRIKES, ORDER_EXCHANGE_REQUIRED
from test_ib_sim import errors, until

NY = ZoneInfo("America/New_York")
AAPL = Stock("AAPL", "SMART", "USD")


def weekday_before(day: dt.date, weekday: int, weeks_back: int = 1) -> dt.date:
    """The ``weekday`` (0 = Monday) at least ``weeks_back`` weeks before ``day``: a date whose
    sessions are complete whatever today is."""
    back = (day.weekday() - weekday) % 7 + 7 * weeks_back
    return day - dt.timedelta(days=back)


def last_rth_session(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The regular US stock session the simulator calls "1 D" at ``now``: today's (up to now)
    once it has opened on a weekday, else the last complete one (weekends; holidays not modelled)."""
    local = now.astimezone(NY)
    day = local.date()
    while day.weekday() >= 5 or (day == local.date() and local.time() < dt.time(9, 30)):
        day -= dt.timedelta(days=1)
    opens = dt.datetime.combine(day, dt.time(9, 30), NY)
    closes = dt.datetime.combine(day, dt.time(16, 0), NY)
    return opens, min(closes, local)


def ohlc_ok(bars) -> None:
    for b in bars:
        assert b.high >= max(b.open, b.close) >= min(b.open, b.close) >= b.low > 0, b
    dates = [b.date for b in bars]
    assert dates == sorted(dates) and len(set(dates)) == len(dates)


def expected_5min(now: dt.datetime) -> int:
    opens, ends = last_rth_session(now)
    return math.ceil((ends - opens).total_seconds() / 300)


async def test_five_minute_bars_cover_the_last_session_and_close_at_the_quote(sim, ib):
    [aapl] = await ib.qualifyContractsAsync(AAPL)
    before = expected_5min(dt.datetime.now(dt.timezone.utc))
    bars = await ib.reqHistoricalDataAsync(aapl, endDateTime="", durationStr="1 D", barSizeSetting="5 mins",
                                           whatToShow="TRADES", useRTH=True)
    after = expected_5min(dt.datetime.now(dt.timezone.utc))
    assert len(bars) in (before, after)
    ohlc_ok(bars)
    opens, ends = last_rth_session(dt.datetime.now(dt.timezone.utc))
    assert bars[0].date == opens  # tz-aware: IB names the zone in the bar time
    assert ends - dt.timedelta(minutes=10) <= bars[-1].date < ends
    assert bars[-1].close == sim.quotes[aapl.conId].last  # the path ends at the price quoted now
    assert all(b.volume > 0 and b.barCount > 0 and b.low <= b.average <= b.high for b in bars)
    again = await ib.reqHistoricalDataAsync(aapl, "", "1 D", "5 mins", "TRADES", True)
    assert [(b.open, b.high, b.low, b.close) for b in again] == [(b.open, b.high, b.low, b.close) for b in bars]


# (duration, bar size, useRTH, bars) ending on a past Wednesday at 12:00 New York time
FIXED_END = [
    ("1800 S", "1 min", True, 30),
    ("3600 S", "5 secs", True, 720),
    ("60 S", "1 secs", True, 60),
    ("1 D", "1 hour", True, 3),  # 09:30 (half an hour), 10:00, 11:00
    ("2 D", "30 mins", True, 13 + 5),  # Tuesday's 13, Wednesday's 09:30 … 11:30
    ("1 D", "15 mins", False, 32),  # 04:00 … 11:45
    ("1 W", "1 day", True, 5),  # Thursday … Wednesday
    ("5 D", "1 day", True, 5),
    ("14400 S", "10 mins", True, 15),  # 09:30 … 11:50 (before the open: no session)
]


@pytest.mark.parametrize(("duration", "bar_size", "rth", "count"), FIXED_END)
async def test_bar_count_follows_duration_and_bar_size(ib, duration, bar_size, rth, count):
    wednesday = weekday_before(dt.datetime.now(NY).date(), 2)
    end = dt.datetime.combine(wednesday, dt.time(12, 0), NY)
    bars = await ib.reqHistoricalDataAsync(AAPL, end, duration, bar_size, "TRADES", rth)
    assert len(bars) == count
    ohlc_ok(bars)
    if bar_size == "1 day":
        assert all(type(b.date) is dt.date and b.date.weekday() < 5 for b in bars)
        assert bars[-1].date == wednesday
    else:
        assert bars[-1].date < end <= bars[-1].date + dt.timedelta(hours=1)


async def test_daily_weekly_monthly_bars(ib):
    today = dt.datetime.now(NY).date()
    days = await ib.reqHistoricalDataAsync(AAPL, "", "10 D", "1 day", "TRADES", True)
    assert len(days) == 10 and all(d.date.weekday() < 5 for d in days)
    ohlc_ok(days)
    assert today - dt.timedelta(days=4) <= days[-1].date <= today
    weeks = await ib.reqHistoricalDataAsync(AAPL, "", "1 Y", "1 week", "TRADES", True)
    assert 52 <= len(weeks) <= 53 and all(b.date.weekday() == 0 for b in weeks[1:])
    months = await ib.reqHistoricalDataAsync(AAPL, "", "2 Y", "1 month", "MIDPOINT", True)
    assert 24 <= len(months) <= 25 and all(b.volume == -1 for b in months)


async def test_quote_kinds_and_epoch_dates_for_forex(ib):
    [eur] = await ib.qualifyContractsAsync(Forex("EURUSD"))
    end = dt.datetime.combine(weekday_before(dt.datetime.now(NY).date(), 2), dt.time(3, 0), NY)
    got = {}
    for what in ("MIDPOINT", "BID", "ASK", "BID_ASK"):
        got[what] = await ib.reqHistoricalDataAsync(eur, end, "3600 S", "1 min", what, False, formatDate=2)
        assert len(got[what]) == 60
        ohlc_ok(got[what])
    assert got["BID"][-1].date == end - dt.timedelta(minutes=1)
    assert got["BID"][-1].date.tzinfo is not None  # formatDate=2: epoch seconds, UTC
    for bid, ask, mid in zip(got["BID"], got["ASK"], got["MIDPOINT"]):
        assert bid.close < mid.close < ask.close
        assert abs(bid.close / 0.00005 - round(bid.close / 0.00005)) < 1e-6  # on IB's EUR.USD tick
    assert all(b.high >= b.low for b in got["BID_ASK"])


async def test_history_refusals_use_ibs_codes(sim, ib):
    seen = errors(ib)
    ib.RaiseRequestErrors = True
    with pytest.raises(RequestError) as too_long:
        await ib.reqHistoricalDataAsync(AAPL, "", "1 M", "1 secs", "TRADES", True)
    assert too_long.value.code == 162 and "Time length exceed max" in too_long.value.message
    with pytest.raises(RequestError) as unknown:
        await ib.reqHistoricalDataAsync(Stock("NOSUCH", "SMART", "USD"), "", "1 D", "5 mins", "TRADES", True)
    assert unknown.value.code == 200
    with pytest.raises(RequestError) as fx_trades:
        await ib.reqHistoricalDataAsync(Forex("EURUSD"), "", "1 D", "5 mins", "TRADES", True)
    assert fx_trades.value.code == 162 and "No historical market data" in fx_trades.value.message
    # 321 is a warning to ib_async (it does not end the request), as with a real TWS: wait for it.
    for end, bar_size, duration, live, wording in (
            ("", "7 mins", "1 D", False, "bar size setting is invalid"),
            ("", "5 mins", "1 X", False, "duration format is invalid"),
            ("20250102 12:00:00 UTC", "5 mins", "1 D", True, "End date not supported with live updates")):
        task = asyncio.ensure_future(ib.reqHistoricalDataAsync(AAPL, end, duration, bar_size, "TRADES", True,
                                                               keepUpToDate=live))
        await until(ib, lambda: any(code == 321 and wording in text for _, code, text in seen))
        task.cancel()
    bars = await ib.reqHistoricalDataAsync(AAPL, "", "1 D", "1 hour", "TRADES", True)
    assert bars  # the session serves on


def in_futures_hours(now: dt.datetime) -> bool:
    """CME's electronic session: Sunday 18:00 to Friday 17:00 New York, an hour's pause daily."""
    local = now.astimezone(NY)
    if local.weekday() == 5 or (local.weekday() == 6 and local.time() < dt.time(18)):
        return False
    if local.weekday() == 4 and local.time() >= dt.time(17):
        return False
    return not dt.time(17) <= local.time() < dt.time(18)


async def test_keep_up_to_date_updates_the_bar_in_progress(sim, ib):
    [es] = await ib.qualifyContractsAsync(Future("ES", front("ES").yyyymm, "CME"))
    bars = await ib.reqHistoricalDataAsync(es, "", "1800 S", "1 min", "TRADES", False, keepUpToDate=True)
    assert bars and bars.keepUpToDate
    [session] = sim.sessions.values()
    assert bars.reqId in session.live_bars
    if in_futures_hours(dt.datetime.now(dt.timezone.utc)):
        updates: list[bool] = []
        bars.updateEvent += lambda _bars, has_new: updates.append(has_new)
        await until(ib, lambda: len(updates) >= 3)
        last = bars[-1]
        assert last.high >= max(last.open, last.close) >= min(last.open, last.close) >= last.low
        # the bar in progress follows the market: it closes at a price the contract traded at now
        assert last.close % 0.25 == 0 and abs(last.close - sim.quotes[es.conId].last) <= 10
    ib.cancelHistoricalData(bars)
    await ib.reqCurrentTimeAsync()  # answered after the cancel: the session handles requests in order
    assert bars.reqId not in session.live_bars


async def test_head_timestamp_is_in_the_past(ib):
    first = await ib.reqHeadTimeStampAsync(AAPL, "TRADES", True, formatDate=1)
    assert isinstance(first, dt.datetime) and first < dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=365)


async def test_option_chain_parameters_are_the_catalogues(sim, ib):
    [aapl] = await ib.qualifyContractsAsync(AAPL)
    chains = await ib.reqSecDefOptParamsAsync("AAPL", "", "STK", aapl.conId)
    listed = [s for s in sim.catalogue if s.sec_type == "OPT" and s.symbol == "AAPL"]
    assert {c.exchange for c in chains} == {"SMART", "CBOE"}
    for chain in chains:
        assert int(chain.underlyingConId) == aapl.conId
        assert chain.tradingClass == "AAPL" and chain.multiplier == "100"
        assert chain.expirations == sorted({s.last_trade_date for s in listed})
        assert chain.expirations == [option_expiry(), option_expiry(1)]
        assert chain.strikes == sorted(OPTION_STRIKES)
    only_cboe = await ib.reqSecDefOptParamsAsync("AAPL", "CBOE", "STK", aapl.conId)
    assert [c.exchange for c in only_cboe] == ["CBOE"]
    assert await ib.reqSecDefOptParamsAsync("MSFT", "", "STK", 272093) == []  # no options listed
    assert await ib.reqSecDefOptParamsAsync("AAPL", "", "STK", 272093) == []  # conId of another stock


async def test_option_details_from_partial_contracts(ib):
    expiry = option_expiry()
    everything = await ib.reqContractDetailsAsync(Option("AAPL", "", 0, "", "SMART"))
    assert len(everything) == 2 * len(OPTION_STRIKES) * 2
    assert {d.contract.lastTradeDateOrContractMonth for d in everything} == {option_expiry(), option_expiry(1)}
    by_expiry = await ib.reqContractDetailsAsync(Option("AAPL", expiry, 0, "", "SMART"))
    assert len(by_expiry) == len(OPTION_STRIKES) * 2
    assert {d.contract.lastTradeDateOrContractMonth for d in by_expiry} == {expiry}
    by_strike = await ib.reqContractDetailsAsync(Option("AAPL", "", 200, "", "SMART"))
    assert len(by_strike) == 4 and {d.contract.strike for d in by_strike} == {200.0}
    calls = await ib.reqContractDetailsAsync(Option("AAPL", "", 0, "C", "SMART"))
    assert len(calls) == 2 * len(OPTION_STRIKES) and {d.contract.right for d in calls} == {"C"}


async def test_matching_symbols_by_prefix_and_name(ib):
    found = await ib.reqMatchingSymbolsAsync("AAP")
    [aapl] = [d for d in found if d.contract.symbol == "AAPL"]
    assert aapl.contract.conId == 265598 and aapl.contract.secType == "STK"
    assert aapl.contract.primaryExchange == "NASDAQ" and aapl.contract.currency == "USD"
    assert aapl.derivativeSecTypes == ["OPT"] and aapl.contract.description == "APPLE INC"
    by_name = await ib.reqMatchingSymbolsAsync("apple")
    assert [d.contract.symbol for d in by_name] == ["AAPL"]
    shop = await ib.reqMatchingSymbolsAsync("SHOP")
    assert {(d.contract.primaryExchange, d.contract.currency) for d in shop} == {("NYSE", "USD"), ("TSE", "CAD")}
    assert await ib.reqMatchingSymbolsAsync("QXZQXZ") == []


async def test_forex_qualifies_streams_on_its_tick_and_trades(sim, ib):
    [eur, jpy] = await ib.qualifyContractsAsync(Forex("EURUSD"), Forex("USDJPY"))
    assert eur.conId == 12087792 and eur.localSymbol == "EUR.USD" and eur.secType == "CASH"
    assert eur.exchange == "IDEALPRO" and jpy.localSymbol == "USD.JPY"
    [details] = await ib.reqContractDetailsAsync(eur)
    assert details.minTick == 0.00005
    eur_t, jpy_t = ib.reqMktData(eur), ib.reqMktData(jpy)
    await until(ib, lambda: all(t.bid == t.bid and t.ask == t.ask for t in (eur_t, jpy_t)))
    for ticker, tick in ((eur_t, 0.00005), (jpy_t, 0.005)):
        for price in (ticker.bid, ticker.ask):
            assert abs(price / tick - round(price / tick)) < 1e-6
        assert ticker.bid < ticker.ask and math.isnan(ticker.last)  # IDEALPRO quotes, reports no trades
    trade = ib.placeOrder(eur, MarketOrder("BUY", 20000))
    await until(ib, lambda: trade.isDone() and trade.fills and trade.fills[-1].commissionReport.commission > 0)
    assert trade.orderStatus.status == "Filled" and trade.orderStatus.filled == 20000
    # 0.2 bp of ~21,600 USD is 0.43: IB's USD 2.00 minimum applies
    assert sum(f.commissionReport.commission for f in trade.fills) >= 2.0
    await until(ib, lambda: any(p.contract.localSymbol == "EUR.USD" for p in ib.positions()))
    [pos] = [p for p in ib.positions() if p.contract.localSymbol == "EUR.USD"]
    assert pos.position == 20000 and pos.contract.secType == "CASH"
    await ib.reqAccountUpdatesAsync(pos.account)  # portfolio and values price the CASH position
    [item] = [p for p in ib.portfolio(pos.account) if p.contract.localSymbol == "EUR.USD"]
    assert item.position == 20000 and item.marketValue == pytest.approx(20000 * item.marketPrice)
    net = [float(v.value) for v in ib.accountValues(pos.account) if v.tag == "NetLiquidation"]
    assert net and all(math.isfinite(v) for v in net)


async def test_no_exchange_is_321_for_data_and_orders(ib):
    seen = errors(ib)
    # IB.reqMktData insists on a conId of its own; its client sends what a user gives it.
    for symbol in ("XXX", "AAPL"):  # unknown, and known without an exchange: IB still wants one
        req_id = ib.client.getReqId()
        ib.client.reqMktData(req_id, Stock(symbol), "", False, False, [])
        await until(ib, lambda: (req_id, 321, EXCHANGE_REQUIRED) in seen)
    bars_id, history_id = ib.client.getReqId(), ib.client.getReqId()
    ib.client.reqRealTimeBars(bars_id, Stock("XXX"), 5, "TRADES", False, [])
    ib.client.reqHistoricalData(history_id, Stock("XXX"), "", "1 D", "5 mins", "TRADES", True, 1, False, [])
    await until(ib, lambda: {(bars_id, 321, EXCHANGE_REQUIRED), (history_id, 321, EXCHANGE_REQUIRED)} <= set(seen))
    trade = ib.placeOrder(Stock("XXX"), LimitOrder("BUY", 1, 10.0))
    await until(ib, lambda: (trade.order.orderId, 321, ORDER_EXCHANGE_REQUIRED) in seen)
    # whatIf goes through placeOrder: the contract check comes first and answers for its id
    task = asyncio.ensure_future(ib.whatIfOrderAsync(Stock("XXX"), MarketOrder("BUY", 1)))
    await until(ib, lambda: sum(code == 321 and text == ORDER_EXCHANGE_REQUIRED for _, code, text in seen) == 2)
    task.cancel()
    assert not ib.positions() or all(p.contract.symbol != "XXX" for p in ib.positions())
    # Contract details search without an exchange, as IB's do: an unknown symbol is 200.
    assert await ib.reqContractDetailsAsync(Stock("XXX")) == []
    await until(ib, lambda: any(code == 200 for _, code, _ in seen))
    assert len(await ib.reqContractDetailsAsync(Stock("AAPL"))) == 1


async def test_what_if_a_forex_market_order_gives_a_commission_and_margin(ib):
    """The issue's first line, as a user writes it: the estimate for 100 EUR is IB's minimum FX
    commission (2 USD: 0.2 bp of 100 EUR is far below it), and nothing trades or is stored."""
    (eurusd,) = await ib.qualifyContractsAsync(Forex("EURUSD"))
    state = await ib.whatIfOrderAsync(eurusd, MarketOrder("BUY", 100))
    assert float(state.commission) == 2.0 and state.commissionCurrency == "USD"
    assert float(state.initMarginChange) > 0
    big = await ib.whatIfOrderAsync(eurusd, MarketOrder("BUY", 400_000))  # 0.2 bp of ~430k USD: above the minimum
    assert float(big.commission) > 2.0
    assert not ib.openTrades() and not [p for p in ib.positions() if p.contract.secType == "CASH"]
