"""Intents as JSON, as a client with only a NATS library sends them: the router decodes them
with the same types (the INTENTS codec, by the ``Content-Type`` header) and treats them exactly
like MessagePack ones — routed, cancelled, and refused with the same reasons."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from janus_common import msgids, subjects
from janus_common import messages as m

pytestmark = pytest.mark.integration

JSON_HEADERS = {"Content-Type": "application/json"}


async def send_json(harness, subject: str, payload: bytes | dict, *, msg_id: str | None = None,
                    headers: dict[str, str] | None = None) -> None:
    """What another language's client does: JSON text, the header, a msg-id of its own."""
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    hdrs = dict(JSON_HEADERS if headers is None else headers)
    hdrs["Nats-Msg-Id"] = msg_id or uuid.uuid4().hex
    await harness.js.publish(subject, data, headers=hdrs)


def order(iid: str, **kw) -> dict:
    # Written by hand, as a client in another language would: no ts (the router's clock then).
    return {"kind": "OrderIntent", "intent_id": iid, "account": "ib-1", "symbol": "AAPL",
            "side": "BUY", "type": "MARKET", "qty": 3, **kw}


async def test_a_json_intent_is_routed_like_a_msgpack_one(harness):
    iid = f"json-{uuid.uuid4().hex[:8]}"
    await send_json(harness, subjects.intent("ib-1"),
                    order(iid, type="LIMIT", limit_price=150.5, tif="GTC"), msg_id=msgids.intent("ib-1", iid))
    routed = await harness.outcome(iid)
    assert isinstance(routed, m.OrderRouted), routed
    assert routed.decision.effect is m.PositionEffect.OPEN_LONG
    subject, placed = await harness.next_route()
    assert subject == "janus.route.ib.ib-1"
    assert (placed.intent_id, placed.order_type, placed.qty, placed.limit_price, placed.tif) == (
        iid, m.OrderType.LIMIT, 3.0, 150.5, m.Tif.GTC)


async def test_header_name_and_parameters_are_read_loosely(harness):
    # "content-type: application/json; charset=utf-8" is what many HTTP-minded clients write.
    iid = f"json-{uuid.uuid4().hex[:8]}"
    await send_json(harness, subjects.intent("ib-1"), order(iid),
                    headers={"content-type": "application/json; charset=utf-8"})
    assert isinstance(await harness.outcome(iid), m.OrderRouted)


@pytest.mark.parametrize(("payload", "reason"), [
    ({"tif": "SOMEDAY"}, m.RejectReason.UNKNOWN_TIF),
    ({"qty": "ten"}, m.RejectReason.INVALID_QTY),
    ({"limit_price": "cheap", "type": "LIMIT"}, m.RejectReason.INVALID_PRICE),
    ({"side": "HOLD"}, m.RejectReason.MALFORMED),
    ({"intent_id": None}, m.RejectReason.MALFORMED),
])
async def test_a_json_intent_that_breaks_the_schema_gets_the_msgpack_reason(harness, payload, reason):
    iid = f"bad-{uuid.uuid4().hex[:8]}"
    body = order(iid, **payload)
    await send_json(harness, subjects.intent("ib-1"), body)
    rejected = await harness.next_event()
    assert isinstance(rejected, m.OrderRejected) and rejected.reason is reason, rejected
    assert "could not be read" in rejected.message
    # Its id is read from its JSON, so the client learns which of its intents was refused.
    assert rejected.intent_id == (iid if body["intent_id"] else None)
    assert harness.routes.empty()


@pytest.mark.parametrize(("data", "headers"), [
    (b'{"kind": "OrderIntent", "account": ', JSON_HEADERS),  # truncated JSON
    (b"\x93garbage", JSON_HEADERS),  # MessagePack bytes that claim to be JSON
    (json.dumps(order("plain-json")).encode(), {}),  # JSON without the header: read as MessagePack
    (json.dumps(order("typed-text")).encode(), {"Content-Type": "text/plain"}),  # a type no intent comes in
])
async def test_unreadable_json_is_refused_malformed_and_the_consumer_goes_on(harness, data, headers):
    await send_json(harness, subjects.intent("ib-1"), data, headers=headers)
    rejected = await harness.next_event()
    assert isinstance(rejected, m.OrderRejected) and rejected.reason is m.RejectReason.MALFORMED, rejected
    good = f"good-{uuid.uuid4().hex[:8]}"
    await send_json(harness, subjects.intent("ib-1"), order(good))
    assert isinstance(await harness.outcome(good), m.OrderRouted)


async def test_a_json_cancel_cancels(harness):
    iid = f"json-{uuid.uuid4().hex[:8]}"
    await send_json(harness, subjects.intent("ib-1"), order(iid, type="LIMIT", limit_price=100.0, tif="GTC"))
    assert isinstance(await harness.outcome(iid), m.OrderRouted)
    await harness.next_route()
    cid = f"cxl-{uuid.uuid4().hex[:8]}"
    await send_json(harness, subjects.intent("ib-1"),
                    {"kind": "CancelIntent", "cancel_id": cid, "intent_id": iid, "account": "ib-1"},
                    msg_id=msgids.cancel("ib-1", cid))
    routed = await harness.outcome(iid)
    assert isinstance(routed, m.CancelRouted) and routed.cancel_id == cid
    subject, cancel = await harness.next_route()
    assert subject == "janus.route.ib.ib-1"
    assert isinstance(cancel, m.CancelOrder) and (cancel.intent_id, cancel.cancel_id) == (iid, cid)


async def test_a_json_account_command_on_the_control_subject(harness):
    changes: asyncio.Queue = asyncio.Queue()

    async def on_control(msg):
        await changes.put(m.CONTROL_EVENTS.decode(msg.data))

    sub = await harness.nc.subscribe(subjects.evt_control("ib-2"), cb=on_control)
    try:
        rid = f"halt-{uuid.uuid4().hex[:8]}"
        await send_json(harness, subjects.control("ib-2"),
                        {"kind": "TradingStateRequest", "request_id": rid, "account": "ib-2", "state": "HALTED",
                         "reason": "from JSON", "requested_by": "ts-client"})
        changed = await asyncio.wait_for(changes.get(), 10)
        assert isinstance(changed, m.TradingStateChanged)
        assert (changed.request_id, changed.state, changed.reason) == (rid, m.TradingState.HALTED, "from JSON")
        # ...and the account is halted for an order sent as JSON too.
        iid = f"json-{uuid.uuid4().hex[:8]}"
        await send_json(harness, subjects.intent("ib-2"), order(iid, account="ib-2"))
        refused = await harness.outcome(iid)
        assert isinstance(refused, m.OrderRejected) and refused.reason is m.RejectReason.ACCOUNT_HALTED
    finally:
        await sub.unsubscribe()
