"""The message catalogue: round trips per family, tags, and typed decode errors."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract_months import front
from janus_common import messages as m
from janus_common.messages import codec as codecs

NQ = front("NQ")  # a live contract month, whatever today is


def _samples() -> list[tuple[codecs.Codec, msgspec.Struct]]:
    intent = m.OrderIntent(account="ib-1", symbol=NQ.canonical, side=m.Side.SELL,
                           order_type=m.OrderType.STOP_LIMIT, qty=2, limit_price=15000.25,
                           stop_price=15001.0, tif=m.Tif.GTC)
    place = m.PlaceOrder(intent_id=intent.intent_id, account="ib-1", broker=m.Broker.IB,
                         symbol=NQ.canonical, side=m.BrokerSide.SELL, order_type=m.OrderType.STOP_LIMIT,
                         qty=2, limit_price=15000.25, stop_price=15001.0,
                         ib=m.IbContract(symbol="NQ", sec_type="FUT", exchange="CME", con_id=42,
                                         contract_month=NQ.yyyymm, multiplier=20.0))
    decision = m.PositionDecision(broker_position=5, in_flight=-1, projected_position=4,
                                  allow_short=False, locate_required=False,
                                  effect=m.PositionEffect.CLOSE_LONG)
    record = m.RegistryRecord(symbol="AAPL", asset_class="EQUITY",
                              ib=m.IbContract(symbol="AAPL", sec_type="STK", con_id=265598),
                              webull=m.WebullInstrument(symbol="AAPL", instrument_id="913256135"),
                              written_by={"ib.con_id": "lookup"})
    return [
        (m.INTENTS, intent),
        (m.INTENTS, m.CancelIntent(intent_id=intent.intent_id, account="ib-1")),
        (m.ROUTES, place),
        (m.ROUTES, m.CancelOrder(intent_id=intent.intent_id, account="ib-1", broker=m.Broker.IB)),
        (m.ORDER_EVENTS, m.OrderRouted(account="ib-1", intent_id=intent.intent_id, intent=intent,
                                        broker=m.Broker.IB, decision=decision, orders=[place])),
        (m.ORDER_EVENTS, m.OrderRejected(account="ib-1", intent_id="x",
                                          reason=m.RejectReason.SHORT_NOT_ALLOWED, message="no")),
        (m.ORDER_EVENTS, m.OrderSubmitted(intent_id="i", leg=0, account="ib-1", broker=m.Broker.IB,
                                          broker_order_id="7")),
        (m.ORDER_EVENTS, m.OrderStatusChanged(intent_id="i", leg=0, account="ib-1", broker=m.Broker.IB,
                                               status=m.OrderState.PARTIALLY_FILLED, filled=1, remaining=1)),
        (m.ORDER_EVENTS, m.OrderFilled(intent_id="i", leg=0, account="ib-1", broker=m.Broker.IB, fill_id="e1",
                                       symbol="AAPL", side=m.BrokerSide.BUY, qty=1, price=10.5, commission=1.0)),
        (m.ORDER_EVENTS, m.OrderGatewayRefused(intent_id="i", leg=1, account="ib-1", broker=m.Broker.IB,
                                               reason=m.RejectReason.POISON, text="dropped twice")),
        (m.ORDER_EVENTS, m.OrderPlaceAttempted(intent_id="i", leg=0, account="ib-1", broker=m.Broker.IB,
                                               attempt=2, detail="NO_ANSWER: dropped")),
        (m.ORDER_EVENTS, m.OrderCancelled(intent_id="i", leg=0, account="ib-1", broker=m.Broker.WEBULL)),
        (m.ORDER_EVENTS, m.OrderBrokerRejected(intent_id="i", leg=0, account="ib-1", broker=m.Broker.IB, code="110",
                                               text="tick")),
        (m.ORDER_EVENTS, m.OrderHeld(intent_id="i", leg=0, account="ib-1", broker=m.Broker.IB, code="404",
                                     text="locate")),
        (m.ORDER_EVENTS, m.ExternalOrderSeen(account="ib-1", broker=m.Broker.IB, broker_order_id="9",
                                              symbol="AAPL", side=m.BrokerSide.SELL, qty=1,
                                              order_type="LMT", status=m.OrderState.SUBMITTED)),
        (m.POSITION_EVENTS, m.PositionSnapshot(account="ib-1", broker=m.Broker.IB, positions=[
            m.Position(symbol=front("ES").canonical, asset_class="FUTURE", qty=-2, avg_cost=5000.25, multiplier=50)])),
        (m.ACCOUNT_EVENTS, m.AccountValues(account="ib-1", broker=m.Broker.IB, cash=1e6, values={"k": "v"})),
        (m.ACCOUNT_EVENTS, m.GatewayConnection(account="ib-1", broker=m.Broker.IB,
                                                state=m.ConnectionState.DEGRADED, code=2103)),
        (m.REGISTRY_EVENTS, m.RegistryEntryWritten(record=record, source="lookup", fields=["ib.con_id"])),
        (m.MARKET_DATA, m.Tick(symbol="AAPL", bid=1.0, ask=1.01, last=1.0)),
        (m.MARKET_DATA, m.Bar(symbol="AAPL", ts=1, open=1, high=2, low=0.5, close=1.5)),
        (m.VALUATIONS, m.AccountValuation(account="wb-1", broker=m.Broker.WEBULL, positions=[
            m.PositionValuation(symbol="AAPL", qty=3, avg_cost=100, price=101, derived=True)])),
        (m.RESOLVE_REQUEST, m.ResolveRequest(symbol="AAPL")),
        (m.RESOLVE_REPLY, m.Resolved(record=record, source="cache")),
        (m.RESOLVE_REPLY, m.RpcError(reason=m.RejectReason.AMBIGUOUS_SYMBOL, message="two", candidates=[record])),
        (m.LOOKUP_REQUEST, m.LookupRequest(symbol="ES", asset_class="FUTURE")),
        (m.LOOKUP_REPLY, m.LookupUnique(candidate=m.LookupCandidate(ib=record.ib))),
        (m.LOOKUP_REPLY, m.LookupAmbiguous(candidates=[m.LookupCandidate(), m.LookupCandidate()])),
        (m.LOOKUP_REPLY, m.LookupNotFound(message="none")),
        (m.HARMONY_REQUEST, m.HarmonyRequest()),
        (m.HARMONY_REPLY, m.HarmonySummary(ok=True, per_broker={"ib": m.HarmonyCounts(checked=3, filled=1)})),
        (m.SYNC_REQUEST, m.SyncRequest(account="ib-1")),
        (m.SYNC_REPLY, m.SyncDone(account="ib-1", open_orders=4)),
        (m.MD_REQUEST, m.MarketDataSubscribe(symbols=["AAPL"], requester="pricer")),
        (m.MD_REQUEST, m.MarketDataUnsubscribe(symbols=["AAPL"], requester="pricer")),
        (m.MD_REPLY, m.MarketDataSubscribed(subscribed=["AAPL"])),
        (m.DEAD_LETTERS, m.DeadLetter(consumer="c", subject="s", error="E", detail="d", data=b"\x00")),
    ]


@pytest.mark.parametrize(("codec", "message"), _samples(), ids=lambda x: type(x).__name__)
def test_round_trip_through_the_family_decoder(codec, message):
    data = m.encode(message)
    assert codec.decode(data) == message
    assert msgspec.msgpack.decode(data)["kind"] == type(message).__name__


def test_events_carry_id_time_account_and_intent():
    event = m.OrderFilled(leg=0, account="a", intent_id="i", broker=m.Broker.IB, fill_id="f", symbol="X",
                          side=m.BrokerSide.BUY, qty=1, price=1)
    assert len(event.event_id) == 32 and event.ts > 1_600_000_000 * 10**9
    assert event.account == "a" and event.intent_id == "i"


def test_order_type_is_type_on_the_wire():
    intent = m.OrderIntent(account="a", symbol="AAPL", side=m.Side.BUY, order_type=m.OrderType.MARKET, qty=1)
    assert msgspec.msgpack.decode(m.encode(intent))["type"] == "MARKET"


def test_messages_are_frozen():
    intent = m.OrderIntent(account="a", symbol="AAPL", side=m.Side.BUY, order_type=m.OrderType.MARKET, qty=1)
    with pytest.raises(AttributeError):
        intent.qty = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "truncated"),
        (b"\xc1", ""),
        (msgspec.msgpack.encode({"kind": "Nope"}), "Invalid value 'Nope'"),
        (msgspec.msgpack.encode({"kind": "OrderIntent", "account": "a"}), "missing required field"),
        (msgspec.msgpack.encode({"kind": "OrderIntent", "account": "a", "symbol": "X", "side": "HOLD",
                                 "type": "MARKET", "qty": 1}), "$.side"),
        (msgspec.msgpack.encode({"kind": "OrderIntent", "account": "a", "symbol": "X", "side": "BUY",
                                 "type": "MARKET", "qty": "one"}), "$.qty"),
    ],
)
def test_bad_bytes_give_a_typed_decode_error(data, fragment):
    with pytest.raises(m.MessageDecodeError) as info:
        m.INTENTS.decode(data, subject="janus.intent.ib-1")
    assert info.value.family == "intent"
    assert info.value.subject == "janus.intent.ib-1"
    assert fragment in info.value.reason


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_decode_or_raise_the_typed_error(data):
    for codec in (m.INTENTS, m.ORDER_EVENTS, m.MARKET_DATA, m.RESOLVE_REQUEST):
        try:
            codec.decode(data)
        except m.MessageDecodeError:
            pass


def test_codec_for_subject_families():
    assert m.codec_for_subject("janus.intent.ib-1") is m.INTENTS
    assert m.codec_for_subject("janus.evt.order.ib-1") is m.ORDER_EVENTS
    assert m.codec_for_subject(f"janus.md.tick.NQ~{NQ.canonical[3:]}") is m.MARKET_DATA
    with pytest.raises(KeyError):
        m.codec_for_subject("other.subject")


def test_a_gateway_event_stored_before_the_schema_was_tightened_still_decodes():
    # What the gateways stored before GatewayOrderEvent existed: leg was always encoded (msgspec
    # encodes defaults), so making it required reinterprets nothing.
    stored = msgspec.msgpack.encode({"kind": "OrderCancelled", "event_id": "e", "ts": 1, "account": "ib-1",
                                     "prev_hash": "", "intent_id": "abc", "broker": "ib", "leg": 1,
                                     "filled": 0.0, "reason": None})
    event = m.ORDER_EVENTS.decode(stored)
    assert isinstance(event, m.OrderCancelled) and (event.intent_id, event.broker, event.leg) == ("abc", "ib", 1)
