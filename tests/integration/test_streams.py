from __future__ import annotations

import asyncio
import dataclasses

import nats.js.errors
import pytest
from nats.js.api import RetentionPolicy

from janus_common.streams import KV_PRICES, KV_VALUATIONS, Topology, ensure_streams, stream_configs

pytestmark = pytest.mark.integration


async def test_ensure_streams_is_idempotent_and_concurrent_safe(nc):
    js = nc.jetstream()
    await asyncio.gather(*(ensure_streams(js) for _ in range(3)))
    await ensure_streams(js)
    names = {s.config.name for s in await js.streams_info()}
    assert {"INTENTS", "ROUTES", "EVENTS", "MARKET", "DEADLETTER"} <= names
    assert (await js.stream_info("ROUTES")).config.retention == RetentionPolicy.WORK_QUEUE
    intents = await js.stream_info("INTENTS")
    assert intents.config.duplicate_window == pytest.approx(Topology().intents_dedup_window_s)
    for bucket in (KV_PRICES, KV_VALUATIONS):
        kv = await js.key_value(bucket)
        await kv.put("k", b"v")
        assert (await kv.get("k")).value == b"v"


async def test_ensure_streams_updates_a_changed_configuration(nc):
    js = nc.jetstream()
    await ensure_streams(js, Topology(market_max_age_s=3600))
    await ensure_streams(js, Topology(market_max_age_s=7200))
    assert (await js.stream_info("MARKET")).config.max_age == pytest.approx(7200)


async def test_intents_and_events_refuse_message_deletes_and_purges(nc):
    js = nc.jetstream()
    await ensure_streams(js)
    for stream, subject in (("INTENTS", "janus.intent.ib-1"), ("EVENTS", "janus.evt.order.ib-1")):
        info = (await js.stream_info(stream)).config
        assert info.deny_delete and info.deny_purge
        ack = await js.publish(subject, b"kept")
        with pytest.raises(nats.js.errors.APIError):
            await js.delete_msg(stream, ack.seq)
        with pytest.raises(nats.js.errors.APIError):
            await js.purge_stream(stream)
        with pytest.raises(nats.js.errors.APIError):
            await js.purge_stream(stream, subject=subject)
        assert (await js.get_msg(stream, ack.seq)).data == b"kept"
        assert (await js.stream_info(stream)).state.messages == 1


async def test_an_existing_stream_without_the_deny_flags_gets_them_and_keeps_its_messages(nc):
    js = nc.jetstream()
    # As a stream made before the flags existed: the same configuration without them.
    for config in stream_configs():
        if config.name in ("INTENTS", "EVENTS"):
            await js.add_stream(dataclasses.replace(config, deny_delete=False, deny_purge=False))
    await js.publish("janus.evt.order.ib-1", b"old")
    assert not (await js.stream_info("EVENTS")).config.deny_delete
    await ensure_streams(js)
    for stream in ("INTENTS", "EVENTS"):
        config = (await js.stream_info(stream)).config
        assert config.deny_delete and config.deny_purge
    assert (await js.stream_info("EVENTS")).state.messages == 1
    with pytest.raises(nats.js.errors.APIError):
        await js.purge_stream("EVENTS")
    # And the server never lifts them again: an update without them is refused.
    events = next(c for c in stream_configs() if c.name == "EVENTS")
    with pytest.raises(nats.js.errors.APIError):
        await js.update_stream(dataclasses.replace(events, deny_delete=False))
