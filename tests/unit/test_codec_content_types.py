"""The codec decodes by content type: one decoder per family, MessagePack by default, JSON only
where the family accepts it (intents), the same types and error paths either way."""

from __future__ import annotations

import msgspec
import pytest

from janus_common import messages as m

INTENT = m.OrderIntent(intent_id="i-1", account="ib-1", symbol="AAPL", side=m.Side.BUY,
                       order_type=m.OrderType.LIMIT, qty=2.0, limit_price=10.5)


@pytest.mark.parametrize("headers, expected", [
    (None, None), ({}, None), ({"Nats-Msg-Id": "x"}, None),
    ({"Content-Type": "application/json"}, m.JSON),
    ({"content-type": "Application/JSON; charset=utf-8"}, m.JSON),
    ({"CONTENT-TYPE": " application/msgpack "}, m.MSGPACK),
])
def test_content_type_of(headers, expected):
    assert m.content_type_of(headers) == expected


def test_an_intent_decodes_the_same_from_json_and_msgpack():
    as_json = msgspec.json.encode(INTENT)
    assert m.INTENTS.decode(as_json, content_type=m.JSON) == INTENT
    assert m.INTENTS.decode(m.encode(INTENT)) == INTENT == m.INTENTS.decode(m.encode(INTENT), content_type=m.MSGPACK)


def test_json_errors_name_the_same_path_as_msgpack_ones():
    raw = msgspec.structs.asdict(INTENT) | {"kind": "OrderIntent", "type": "LIMIT", "tif": "SOMEDAY"}
    del raw["order_type"]
    with pytest.raises(m.MessageDecodeError) as from_json:
        m.INTENTS.decode(msgspec.json.encode(raw), content_type=m.JSON)
    with pytest.raises(m.MessageDecodeError) as from_msgpack:
        m.INTENTS.decode(msgspec.msgpack.encode(raw))
    assert from_json.value.reason == from_msgpack.value.reason
    assert from_json.value.reason.endswith("`$.tif`")


def test_events_are_messagepack_only():
    event = m.OrderRejected(account="ib-1", intent_id="i-1", reason=m.RejectReason.MALFORMED, message="x")
    with pytest.raises(m.MessageDecodeError, match="application/json.* not accepted"):
        m.ORDER_EVENTS.decode(msgspec.json.encode(event), content_type=m.JSON)
    assert m.INTENTS.content_types == (m.MSGPACK, m.JSON) and m.ORDER_EVENTS.content_types == (m.MSGPACK,)


def test_an_unknown_content_type_is_a_decode_error():
    with pytest.raises(m.MessageDecodeError, match="text/plain"):
        m.INTENTS.decode(msgspec.json.encode(INTENT), content_type="text/plain")


def test_decode_loose_reads_what_it_can():
    assert m.INTENTS.decode_loose(b'{"intent_id": "x"}', m.JSON) == {"intent_id": "x"}
    assert m.INTENTS.decode_loose(msgspec.msgpack.encode({"intent_id": "x"})) == {"intent_id": "x"}
    assert m.INTENTS.decode_loose(b'{"intent_id": ', m.JSON) is None


def test_the_audit_reads_a_stored_json_intent():
    from janus_common import audit, chain, projections

    stored = chain.Stored("janus.intent.ib-1", 1, msgspec.json.encode(INTENT), m.JSON)
    findings = audit.unanswered_findings([stored], projections.replay([]))
    # unanswered, so a finding: it was read (an unreadable one would be left to the router's path)
    assert [(f.intent_id, f.account) for f in findings] == [("i-1", "ib-1")]
