"""The registry's pure rules: fill-only writes, record round trips, look-up reading, holdings
keys, harmony's choices and summary, resolve targets, config mappings. No IO."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract_months import front, option_symbol
from janus_common import messages as m
from janus_common.config import SymbolMapping
from janus_common.messages import Broker, IbContract, RejectReason, WebullInstrument
from janus_common.symbols import AssetClass
from janus_registry import harmony, holdings, lookups, resolving
from janus_registry.mappings import config_writes
from janus_registry.model import FIELDS, Entry, Source, Stamp, absorb, fill, from_record, to_record

NQ_M, NQ_NEXT, ES_M = front("NQ"), front("NQ", 1), front("ES")  # live months, whatever today is

_texts = st.text(alphabet="ABCDEFGHIJ0123456789 ", min_size=1, max_size=6)
_value_for = {
    "ib.con_id": st.integers(1, 2**40),
    "ib.multiplier": st.floats(0.01, 1e6, allow_nan=False),
    "ib.min_tick": st.floats(1e-6, 100, allow_nan=False),
    "ib.contract_month": st.from_regex(r"\A20[0-9]{2}(0[1-9]|1[0-2])\Z"),
    "ib.last_trade_date": st.from_regex(r"\A20[0-9]{2}(0[1-9]|1[0-2])[0-2][0-9]\Z"),
}
values_st = st.fixed_dictionaries({}, optional={f: _value_for.get(f, _texts) for f in FIELDS})
sources = st.sampled_from(list(Source))


@settings(max_examples=200)
@given(values_st, values_st, sources, sources)
def test_fill_never_overwrites_and_fills_exactly_the_missing_fields(first, second, s1, s2):
    e1, f1 = fill(None, "AAPL", AssetClass.EQUITY, first, s1, 1)
    e2, f2 = fill(e1, "AAPL", AssetClass.EQUITY, second, s2, 2)
    assert set(f1) == set(first)
    assert set(f2) == set(second) - set(first)
    for field, value in first.items():  # kept, value and stamp alike
        assert e2.values[field] == value and e2.provenance[field] == Stamp(str(s1), 1)
    for field in f2:
        assert e2.values[field] == second[field] and e2.provenance[field] == Stamp(str(s2), 2)
    assert set(e2.values) == set(e2.provenance) == set(first) | set(second)
    again, none = fill(e2, "AAPL", AssetClass.EQUITY, {**first, **second}, s2, 3)
    assert none == [] and again == e2  # idempotent


@settings(max_examples=200)
@given(st.lists(st.tuples(values_st, sources), min_size=1, max_size=5), st.randoms())
def test_absorbing_copies_in_any_order_converges(writes, rnd):
    entries, current = [], None
    for i, (values, source) in enumerate(writes):
        current, _ = fill(current, NQ_M.canonical, AssetClass.FUTURE, values, source, i)
        entries.append(current)
    shuffled = entries[:]
    rnd.shuffle(shuffled)
    merged = None
    for e in shuffled:
        merged = absorb(merged, e)
    assert merged.values == entries[-1].values


@settings(max_examples=200)
@given(values_st, sources)
def test_record_round_trip_keeps_the_written_fields(values, source):
    values = {**values, "exchange": values.get("exchange", "SMART"), "currency": values.get("currency", "USD")}
    entry, _ = fill(None, "MSFT", AssetClass.EQUITY, values, source, 7)
    record = to_record(entry)
    back = from_record(m.REGISTRY_EVENTS.decode(m.encode(
        m.RegistryEntryWritten(record=record, source=str(source), fields=[]))).record)
    visible = {f for f in values if not f.startswith("ib.") or record.ib is not None}
    visible = {f for f in visible if not f.startswith("webull.") or record.webull is not None}
    assert {f: back.values[f] for f in visible} == {f: values[f] for f in visible}
    assert set(back.values) <= set(values)
    assert all(back.provenance[f].by == str(source) for f in back.values)


def test_to_record_leaves_a_half_without_symbol_and_sec_type_out():
    entry, _ = fill(None, "AAPL", AssetClass.EQUITY, {"exchange": "SMART", "currency": "USD",
                                                      "ib.con_id": 1, "webull.instrument_id": "9"},
                    Source.HARMONY, 1)
    record = to_record(entry)
    assert record.ib is None and record.webull is None
    assert record.written_by == {"exchange": "harmony", "currency": "harmony", "ib.con_id": "harmony",
                                 "webull.instrument_id": "harmony"}


NQ = IbContract(symbol="NQ", sec_type="FUT", exchange="CME", con_id=5, contract_month=NQ_M.yyyymm,
                last_trade_date=NQ_M.last_trade_date, multiplier=20.0, strike=None)


def test_classify_reads_each_reply_kind():
    unique = m.LookupUnique(candidate=m.LookupCandidate(ib=NQ))
    got = lookups.classify(unique, Broker.IB, NQ_M.canonical, AssetClass.FUTURE)
    assert isinstance(got, lookups.Unique) and got.values["ib.contract_month"] == NQ_M.yyyymm
    assert "ib.strike" not in got.values
    wrong_month = lookups.classify(unique, Broker.IB, NQ_NEXT.canonical, AssetClass.FUTURE)
    assert isinstance(wrong_month, lookups.NotFound) and NQ_M.yyyymm in wrong_month.message
    no_half = lookups.classify(unique, Broker.WEBULL, "NQ", AssetClass.EQUITY)
    assert isinstance(no_half, lookups.Failed) and no_half.reason is RejectReason.INTERNAL
    amb = lookups.classify(m.LookupAmbiguous(candidates=[m.LookupCandidate(ib=NQ)] * 2), Broker.IB, "X",
                           AssetClass.EQUITY)
    assert isinstance(amb, lookups.Ambiguous)
    err = lookups.error_reply(amb, "X", AssetClass.EQUITY)
    assert err.reason is RejectReason.AMBIGUOUS_SYMBOL and len(err.candidates) == 2
    nf = lookups.classify(m.LookupNotFound(message=""), Broker.IB, "X", AssetClass.EQUITY)
    assert lookups.error_reply(nf, "X", AssetClass.EQUITY).reason is RejectReason.UNKNOWN_SYMBOL
    failed = lookups.classify(m.RpcError(reason=RejectReason.BROKER_UNAVAILABLE, message="down"),
                              Broker.IB, "X", AssetClass.EQUITY)
    assert lookups.error_reply(failed, "X", AssetClass.EQUITY).reason is RejectReason.BROKER_UNAVAILABLE


@given(st.from_regex(r"\A[A-Z]{1,4}\Z"), st.integers(2000, 2099), st.integers(1, 12), st.integers(1, 28))
def test_future_key_is_root_yymm_of_the_contract_month(root, year, month, day):
    values = {"ib.symbol": root, "ib.last_trade_date": f"{year}{month:02d}{day:02d}"}
    assert holdings.future_key(values) == f"{root}.{year % 100:02d}{month:02d}"
    values["ib.contract_month"] = f"{year}{month:02d}"
    assert holdings.future_key(values) == f"{root}.{year % 100:02d}{month:02d}"


def _pos(symbol, cls, con_id=None):
    return m.Position(symbol=symbol, asset_class=cls, qty=1, avg_cost=1, con_id=con_id)


def test_holdings_want_ib_positions_once_without_options():
    snap = m.PositionSnapshot(account="ib-1", broker=Broker.IB, positions=[
        _pos("AAPL", AssetClass.EQUITY), _pos("AAPL", AssetClass.EQUITY),
        _pos(option_symbol("NQ", "C", "15000"), AssetClass.OPTION, 9), _pos(NQ_M.canonical, AssetClass.FUTURE, 5),
        _pos("NQ", AssetClass.FUTURE, 5), _pos("NQ", AssetClass.FUTURE), _pos("bad symbol", AssetClass.EQUITY)])
    wanted = holdings.wanted(snap)
    assert [(w.symbol, w.request.con_id) for w in wanted] == [("AAPL", None), (NQ_M.canonical, 5), (None, 5)]
    assert holdings.key_for(wanted[2], {"ib.symbol": "NQ", "ib.contract_month": NQ_M.yyyymm}) == NQ_M.canonical
    webull = m.PositionSnapshot(account="wb-1", broker=Broker.WEBULL, positions=snap.positions)
    assert holdings.wanted(webull) == []


def _entry(symbol, cls, **values):
    return Entry(symbol=symbol, asset_class=cls, values=values,
                 provenance={f: Stamp("config", 1) for f in values})


def test_harmony_looks_up_only_entries_missing_required_fields():
    complete = _entry("AAPL", AssetClass.EQUITY, **{f: "x" for f in harmony.REQUIRED[Broker.IB][AssetClass.EQUITY]})
    assert harmony.missing(complete, Broker.IB) == []
    assert harmony.missing(complete, Broker.WEBULL) == list(harmony.REQUIRED[Broker.WEBULL][AssetClass.EQUITY])
    future = _entry(NQ_M.canonical, AssetClass.FUTURE, **{"ib.con_id": 5})
    assert "ib.last_trade_date" in harmony.missing(future, Broker.IB)
    assert harmony.missing(future, Broker.WEBULL) == []  # Webull by ticker: equities only
    assert harmony.request_for(future, Broker.IB).con_id == 5
    assert harmony.request_for(_entry("BRK.B", AssetClass.EQUITY, **{"webull.symbol": "BRK.B"}),
                               Broker.WEBULL).symbol == "BRK.B"


def test_harmony_summary_counts_per_broker_type():
    checked = [harmony.Checked(Broker.IB, "A", lookups.Unique({})),
               harmony.Checked(Broker.IB, "B", lookups.Ambiguous([])),
               harmony.Checked(Broker.IB, "C", lookups.NotFound("x")),
               harmony.Checked(Broker.WEBULL, "A", lookups.Failed(RejectReason.BROKER_UNAVAILABLE, "x"))]
    got = harmony.summarize([Broker.IB, Broker.WEBULL], checked, {Broker.IB: 1})
    assert got["ib"] == m.HarmonyCounts(checked=3, filled=1, ambiguous=1, not_found=1)
    assert got["webull"] == m.HarmonyCounts(checked=1, failed=1)
    assert harmony.summarize([Broker.IB], [], {}) == {"ib": m.HarmonyCounts()}


@pytest.mark.parametrize("symbol, cls, reason", [
    ("aapl!", None, RejectReason.INVALID_SYMBOL), ("NQ.2613", "FUTURE", RejectReason.INVALID_SYMBOL),
    (option_symbol("NQ", "C", "15000"), None, RejectReason.INVALID_SYMBOL), ("", None, RejectReason.INVALID_SYMBOL)])
def test_resolve_targets_refuse_bad_symbols_and_options(symbol, cls, reason):
    got = resolving.target(m.ResolveRequest(symbol=symbol, asset_class=cls))
    assert isinstance(got, m.RpcError) and got.reason is reason


def test_resolve_targets_normalise_and_webull_needs_only_the_ticker():
    t = resolving.target(m.ResolveRequest(symbol=" brk.b ", broker=Broker.WEBULL))
    assert t.key.symbol == "BRK.B" and resolving.by_ticker(t)
    assert resolving.ticker_record(t.key).webull == WebullInstrument(symbol="BRK.B")
    fut = resolving.target(m.ResolveRequest(symbol=NQ_M.canonical, broker=Broker.WEBULL))
    assert not resolving.by_ticker(fut)
    entry = _entry("EUR.USD", AssetClass.FOREX, exchange="IDEALPRO", currency="USD")
    crypto = resolving.target(m.ResolveRequest(symbol="EUR.USD", asset_class="CRYPTO"))
    assert resolving.conflict(entry, crypto).reason is RejectReason.INVALID_SYMBOL
    assert resolving.conflict(entry, resolving.target(m.ResolveRequest(symbol="EUR.USD"))) is None


def test_config_writes_are_canonical_and_first_mapping_wins():
    writes = config_writes([
        SymbolMapping(symbol="brk.b", ib=IbContract(symbol="BRK B", sec_type="STK")),
        SymbolMapping(symbol="BRK.B", ib=IbContract(symbol="OTHER", sec_type="STK")),
        SymbolMapping(symbol=ES_M.canonical, asset_class=AssetClass.FUTURE),
    ], at=5)
    assert [(w.symbol, w.source) for w in writes] == [("BRK.B", Source.CONFIG), (ES_M.canonical, Source.CONFIG)]
    assert writes[0].values["ib.symbol"] == "BRK B" and writes[1].values["exchange"] == "CME"
