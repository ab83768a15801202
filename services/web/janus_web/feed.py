"""Keeps the console's model current from NATS: every stored account event (one ordered
consumer over EVENTS, from the first event, then live), the valuations (live, after the latest
of each account from KV), service health (``$SRV.STATS``) and the connection's state. Pushes
what changed to the browsers through the hub."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from janus_client import valuations
from janus_client.discovery import discover
from janus_common import messages as m
from janus_common import subjects
from janus_common.streams import EVENTS_STREAM

from .hub import Hub
from .model import Console

log = structlog.get_logger()

# Every account event: janus.evt.<family>.<account> (janus.evt.registry has no account).
ACCOUNT_EVENTS = f"{subjects.EVT_PREFIX}*.*"
HEALTH_EVERY_S = 5.0  # $SRV.STATS is a scatter-gather answered by every service: not too often
STATE_COALESCE_S = 0.1  # a burst of events is sent as one state, not one per event
CONNECTION_CHECK_S = 1.0
INITIAL_EVENTS = 300  # the recent events a browser gets first; more through /api/events


class Feed:
    def __init__(self, nc: NATS, console: Console, hub: Hub) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.console = console
        self.hub = hub
        self._dirty = asyncio.Event()
        self._subs: list[Any] = []
        self._events: Any = None
        self._resume: asyncio.Future[None] | None = None

    def changed(self) -> None:
        self._dirty.set()

    async def start(self) -> None:
        # Live valuations first (subscribed and flushed), then the latest from KV: none missed.
        self._subs.append(await self.nc.subscribe(subjects.ALL_VALUATIONS, cb=self._on_valuation))
        await self.nc.flush()
        for valuation in await valuations.latest(self.js):
            self.console.apply_valuation(valuation)
        self._events = await self._follow_events()
        info = await self._events.consumer_info()
        if info.num_pending == 0 and (info.delivered is None or info.delivered.consumer_seq == 0):
            self._loaded()  # nothing stored yet
        self.changed()

    async def _follow_events(self) -> Any:
        """One ordered consumer: the history from the first event the console lacks, then live."""
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=self.console.last_seq + 1)
        return await self.js.subscribe(ACCOUNT_EVENTS, stream=EVENTS_STREAM, ordered_consumer=True,
                                       config=config, cb=self._on_event)

    def reconnected(self) -> None:
        self._resume = asyncio.ensure_future(self._refollow())

    async def _refollow(self) -> None:
        """After a reconnect the old consumer may be gone with the server (a restart): follow
        again from the last event applied rather than wait for nats-py to notice missed
        heartbeats. Events seen twice are skipped by sequence (Console.apply_event)."""
        old = self._events
        try:
            self._events = await self._follow_events()
        except Exception as exc:  # the next reconnect tries again; nats-py's own reset too
            log.warning("events_refollow_failed", error=f"{type(exc).__name__}: {exc}")
            return
        with contextlib.suppress(Exception):
            await old.unsubscribe()
        log.info("events_refollowed", from_seq=self.console.last_seq + 1)

    def _loaded(self) -> None:
        if not self.console.loaded:
            self.console.loaded = True
            log.info("history_loaded", events=self.console.last_seq)
            # Browsers that connected while it loaded got no events yet: the recent ones now.
            self.hub.send("events", self.console.events_matching(limit=INITIAL_EVENTS))
            self.changed()

    async def _on_event(self, msg: Msg) -> None:
        try:
            event = m.codec_for_subject(msg.subject).decode(msg.data, subject=msg.subject)
        except (m.MessageDecodeError, KeyError) as exc:
            log.warning("event_unreadable", subject=msg.subject, error=str(exc))
            return
        row = self.console.apply_event(msg.metadata.sequence.stream, event)
        if row is not None and self.console.loaded:
            self.hub.send("event", row.json())
        if msg.metadata.num_pending == 0:
            self._loaded()
        self.changed()

    async def _on_valuation(self, msg: Msg) -> None:
        try:
            valuation = m.VALUATIONS.decode(msg.data, subject=msg.subject)
        except m.MessageDecodeError as exc:
            log.warning("valuation_unreadable", subject=msg.subject, error=str(exc))
            return
        if self.console.apply_valuation(valuation):
            self.changed()

    async def publish_states(self) -> None:
        """Send the whole state whenever something changed, at most every STATE_COALESCE_S."""
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            if self.console.loaded:
                self.hub.send("state", self.console.state(time.time_ns()))
            await asyncio.sleep(STATE_COALESCE_S)  # a rate limit on pushes, not a wait for anything

    async def watch_connection(self) -> None:
        """The page says when the bus is away (what it shows may then be behind)."""
        while True:
            now = "closed" if self.nc.is_closed else "connected" if self.nc.is_connected else "reconnecting"
            if now != self.console.nats:
                log.info("nats_connection", state=now)
                self.console.nats = now
                self.hub.send("nats", {"nats": now})
                self.changed()
            await asyncio.sleep(CONNECTION_CHECK_S)

    async def watch_health(self) -> None:
        while True:
            if self.nc.is_connected:
                with contextlib.suppress(Exception):  # an outage: the next round tries again
                    self.console.services = await discover(self.nc, verb="STATS", window=0.5)
                    self.changed()
            await asyncio.sleep(HEALTH_EVERY_S)

    async def stop(self) -> None:
        if self._resume is not None:
            self._resume.cancel()
        for sub in [*self._subs, self._events]:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
