"""The simulator's historical bars and reference look-ups as pure functions (hypothesis over
every request IB would take or refuse), and the new data requests' fields fuzzed on a raw
session: every request is answered and the session survives."""

from __future__ import annotations

import threading
import time
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from janus_ib_sim import IBSimulator, history
from janus_ib_sim import history_hours as hours
from janus_ib_sim.catalogue import STATIC_CATALOGUE, calendar, listed
from janus_ib_sim.market import Quote, first_quote
from janus_ib_sim.secdef import matching_symbols, option_chains
from test_ib_sim_fuzz import NASTY, TEXT, RawClient, _run_sim

TODAY = datetime.now(timezone.utc).date()
CATALOGUE = listed(STATIC_CATALOGUE, TODAY)
KINDS = {s.sec_type: s for s in CATALOGUE}  # one contract of each kind: STK, CASH, FUT, OPT
NOW = time.time()

DURATIONS = st.tuples(st.integers(1, 400), st.sampled_from("SDWMY")).map(lambda t: f"{t[0]} {t[1]}")
BAR_SIZES = st.sampled_from(sorted(history.BAR_SIZES) + ["7 mins", "1 hours", "", "1  min"])
WHATS = st.sampled_from(["TRADES", "MIDPOINT", "BID", "ASK", "BID_ASK", "OPTION_IMPLIED_VOLATILITY"])
ENDS = st.one_of(st.just(""), st.integers(0, 3 * 365 * 86_400).map(
    lambda back: datetime.fromtimestamp(NOW - back, timezone.utc).strftime("%Y%m%d %H:%M:%S UTC")))


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(sorted(KINDS)), end=ENDS, duration=DURATIONS, bar_size=BAR_SIZES, what=WHATS,
       rth=st.booleans(), fmt=st.sampled_from([1, 2]))
def test_any_request_is_refused_with_ibs_codes_or_gives_consistent_bars(kind, end, duration, bar_size, what, rth,
                                                                       fmt):
    spec = KINDS[kind]
    quote = first_quote(spec)
    try:
        req = history.parse(spec, end, duration, bar_size, what, rth, fmt, NOW)
        bars = history.bars(spec, req, quote)
    except history.HistoryError as exc:
        assert exc.code in (162, 321)
        assert exc.text.startswith((history.HMDS, "Error validating request"))
        return
    assert 0 < len(bars) <= history.MAX_BARS
    for b in bars:
        assert b.high >= max(b.open, b.close) >= min(b.open, b.close) >= b.low > 0
    starts = [s for s, _ in history.bar_starts(req, spec.sec_type)]
    assert starts == sorted(set(starts)) and starts[-1] <= req.end
    if what == "TRADES":
        assert bars[-1].close == quote.last
        assert all(b.volume > 0 and b.count > 0 for b in bars)
    else:
        assert all(b.volume == -1 and b.count == -1 for b in bars)


def test_the_same_bar_has_the_same_shape_whatever_the_window():
    spec = KINDS["STK"]
    end = datetime.combine(TODAY - timedelta(days=7), datetime.min.time(), timezone.utc).timestamp()
    stamp = datetime.fromtimestamp(end, timezone.utc).strftime("%Y%m%d %H:%M:%S UTC")
    short = history.bars(spec, history.parse(spec, stamp, "2 D", "1 hour", "TRADES", True, 2, NOW), first_quote(spec))
    long = history.bars(spec, history.parse(spec, stamp, "5 D", "1 hour", "TRADES", True, 2, NOW), first_quote(spec))
    # Walked back from the same close, the newest bars agree exactly.
    assert long[-len(short):] == short


def test_bars_follow_the_quote():
    spec = KINDS["STK"]
    req = history.parse(spec, "", "1 W", "1 day", "TRADES", True, 1, NOW)
    low = first_quote(spec)
    high = Quote(**{**low.__dict__, "last": low.last * 2, "bid": low.bid * 2, "ask": low.ask * 2})
    assert history.bars(spec, req, high)[-1].close == pytest.approx(2 * history.bars(spec, req, low)[-1].close)


def test_the_live_bar_moves_on_and_rolls_into_the_next():
    spec = KINDS["STK"]
    wednesday = TODAY - timedelta(days=(TODAY.weekday() - 2) % 7 + 7)
    at = datetime.combine(wednesday, datetime.min.time(), hours.NEW_YORK).replace(hour=11, minute=2).timestamp()
    req = history.parse(spec, "", "1 D", "5 mins", "TRADES", True, 1, at)
    start, text = history.current_bar(req, "STK", at)
    assert at - 300 < start <= at and text.endswith("11:00:00 US/Eastern")
    assert history.current_bar(req, "STK", at + 6 * 3600) is None  # 17:02: the session has closed
    q = first_quote(spec)
    bar = history.advance(None, text, q, "TRADES")
    up = Quote(**{**q.__dict__, "last": q.last + 1})
    moved = history.advance(bar, text, up, "TRADES")
    assert (moved.open, moved.high, moved.close, moved.count) == (q.last, q.last + 1, q.last + 1, 2)
    rolled = history.advance(moved, "next", q, "TRADES")
    assert (rolled.date, rolled.open, rolled.close, rolled.count) == ("next", q.last + 1, q.last, 1)
    asks = history.advance(None, text, q, "BID_ASK")
    assert asks.low == q.bid and asks.high == asks.close == q.ask and asks.volume == -1


@pytest.mark.parametrize(("day", "weekend"), [(date(2026, 12, 5), True), (date(2026, 12, 7), False)])
def test_sessions_skip_weekends_and_overnight_ones_open_the_evening_before(day, weekend):
    assert (hours.session_on(day, hours.STOCK_RTH) is None) is weekend
    if not weekend:
        fx = hours.session_on(day, hours.FOREX)
        assert fx is not None
        opened = datetime.fromtimestamp(fx.start, hours.NEW_YORK)
        assert opened.date() == day - timedelta(days=1) and (opened.hour, opened.minute) == (17, 15)


def test_symbol_search_and_chains_are_the_catalogues():
    assert [d.spec.symbol for d in matching_symbols(CATALOGUE, "aap")] == ["AAPL"]
    assert matching_symbols(CATALOGUE, "") == [] and matching_symbols(CATALOGUE, "ZZZZZZ") == []
    assert [d.spec.local_symbol for d in matching_symbols(CATALOGUE, "EURUSD")] == ["EUR.USD"]
    options = [s for s in calendar(TODAY) if s.sec_type == "OPT"]
    chains = option_chains(CATALOGUE, "aapl", "", "STK", 0)
    assert [c.exchange for c in chains] == ["CBOE", "SMART"]
    assert all(c.expirations == tuple(sorted({o.last_trade_date for o in options})) for c in chains)
    assert option_chains(CATALOGUE, "ES", "", "FUT", 0) == []  # no futures options listed


# --- the new requests' fields, fuzzed on a raw session -----------------------------------------

AAPL12 = ["265598", "AAPL", "STK", "", "0.0", "", "", "SMART", "", "USD", "", ""]
TEMPLATES = {
    "history": ["20", "7", *AAPL12, "0", "", "5 mins", "1 D", "1", "TRADES", "1", "0", ""],
    "cancel": ["25", "1", "7"],
    "head": ["87", "7", *AAPL12, "0", "1", "TRADES", "1"],
    "chains": ["78", "7", "AAPL", "", "STK", "265598"],
    "symbols": ["81", "7", "AAP"],
}
ANSWERS = {"cancel": set(), "history": {"17", "4"}, "head": {"88", "4"}, "chains": {"76"}, "symbols": {"79"}}
VALUE = st.one_of(st.sampled_from(NASTY + ["1 secs", "1 Y", "999999 Y", "0 D", "BID_ASK", "00010101 00:00:00 UTC",
                                           "99991231-23:59:59", "20260101 10:00:00 Mars/Olympus", "CASH"]), TEXT)


def test_any_data_request_field_is_answered_and_the_session_survives():
    box: dict = {}
    ready, stop = threading.Event(), threading.Event()
    thread = threading.Thread(target=_run_sim, args=(box, ready, stop), daemon=True)
    thread.start()
    assert ready.wait(10)
    sim: IBSimulator = box["sim"]
    client = RawClient(sim.port, 43)

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(kind=st.sampled_from(sorted(TEMPLATES)), edits=st.dictionaries(st.integers(2, 26), VALUE, max_size=4))
    def example(kind: str, edits: dict[int, str]) -> None:
        fields = list(TEMPLATES[kind])
        for index, value in edits.items():
            if index < len(fields):
                fields[index] = value
        replies = client.request(fields)
        kinds = {r[0] for r in replies}
        assert not ANSWERS[kind] or kinds & (ANSWERS[kind] | {"4"}), (fields, replies)
        assert all(int(r[3]) != 322 for r in replies if r[0] == "4"), replies  # no handler failed

    try:
        example()
        replies = client.request(TEMPLATES["history"])
        assert any(r[0] == "17" for r in replies), replies
    finally:
        client.sock.close()
        stop.set()
        thread.join(10)
