"""Every string the catalogue carries is bounded, ids follow one pattern, and every id Janus
generates fits them."""

from __future__ import annotations

import re

import msgspec
import msgspec.inspect as mi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from janus_common import msgids
from janus_common import messages as m
from janus_common.messages import codec

UNIONS = [m.Intent, m.RouteCommand, m.OrderLifeEvent, m.PositionEvent, m.AccountEvent, m.RegistryEvent,
          m.MarketData, m.Valuation, m.DeadLetter, m.ResolveRequest, m.ResolveReply, m.LookupRequest,
          m.LookupReply, m.HarmonyRequest, m.HarmonyReply, m.SyncRequest, m.SyncReply, m.MarketDataRequest,
          m.MarketDataReply, m.AccountCommand, m.ControlEvent, m.CapabilitiesRequest, m.CapabilitiesReply]


def _strings(t: mi.Type, where: str, seen: set[type]):
    """Every string type reachable from ``t``, with where it is."""
    if isinstance(t, mi.StrType):
        yield where, t
    elif isinstance(t, mi.UnionType):
        for member in t.types:
            yield from _strings(member, where, seen)
    elif isinstance(t, (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)):
        yield from _strings(t.item_type, f"{where}[]", seen)
    elif isinstance(t, mi.DictType):
        yield from _strings(t.key_type, f"{where}{{key}}", seen)
        yield from _strings(t.value_type, f"{where}{{value}}", seen)
    elif isinstance(t, mi.StructType):
        if t.cls in seen:
            return
        seen.add(t.cls)
        for f in t.fields:
            yield from _strings(f.type, f"{t.cls.__name__}.{f.name}", seen)


def test_every_string_field_of_the_catalogue_has_a_length_bound():
    found = [(where, s) for union in UNIONS for where, s in _strings(mi.type_info(union), "", set())]
    assert len(found) > 80
    unbounded = [where for where, s in found if s.max_length is None]
    assert unbounded == []
    assert all(s.max_length <= m.TEXT_MAX for _, s in found)


def test_the_families_decoded_are_the_ones_checked():
    members = {t for u in UNIONS for t in getattr(u, "__args__", (u,))}
    for c in vars(codec).values():
        if isinstance(c, m.Codec):
            assert set(getattr(c.union, "__args__", (c.union,))) <= members, c.family


MODEL = re.compile(r"[A-Za-z0-9_-]{1,64}")


@settings(max_examples=1000, deadline=None)
@given(st.one_of(st.text(max_size=80), st.text(alphabet="abcXYZ019_-.:# ", max_size=70)))
def test_an_intent_id_decodes_exactly_when_the_model_says_it_is_an_id(intent_id):
    raw = msgspec.msgpack.encode({"kind": "OrderIntent", "intent_id": intent_id, "account": "ib-1",
                                  "symbol": "AAPL", "side": "BUY", "type": "MARKET", "qty": 1})
    ok = MODEL.fullmatch(intent_id) is not None
    if ok:
        assert m.INTENTS.decode(raw).intent_id == intent_id
    else:
        with pytest.raises(m.MessageDecodeError):
            m.INTENTS.decode(raw)


def test_ids_janus_generates_fit_the_bounds():
    for _ in range(100):
        assert MODEL.fullmatch(m.new_id())
    longest = "a" * 64
    key = m.order_key(longest, 1)  # IB orderRef / Webull key, not a field: only headers and refs
    assert m.split_order_key(key) == (longest, 1)
    # msg-ids are headers: bounded by the ids they are made of, well under any header limit
    for mid in (msgids.intent(longest, longest), msgids.duplicate(longest, longest, 2**63),
                msgids.route(longest, key), msgids.malformed(longest, 2**63)):
        assert len(mid) < 256
    event = m.OrderRejected(account=longest, intent_id=longest, reason=m.RejectReason.STALE, message="x" * m.TEXT_MAX)
    assert m.ORDER_EVENTS.decode(m.encode(event)) == event


@pytest.mark.parametrize("field,value", [("symbol", "S" * 33), ("account", "a.b"), ("locate_ref", "l" * 65)])
def test_an_out_of_bounds_intent_is_a_typed_decode_error(field, value):
    raw = {"kind": "OrderIntent", "intent_id": "i", "account": "ib-1", "symbol": "AAPL", "side": "BUY",
           "type": "MARKET", "qty": 1, field: value}
    with pytest.raises(m.MessageDecodeError) as exc:
        m.INTENTS.decode(msgspec.msgpack.encode(raw))
    assert f"$.{field}" in exc.value.reason
