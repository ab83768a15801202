from __future__ import annotations

import asyncio

import pytest
from nats.js.api import RetentionPolicy

from janus_common.streams import KV_PRICES, KV_VALUATIONS, Topology, ensure_streams

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
