"""What the benches share (a module, not a bench: `make bench` skips it): an embedded NATS with
Janus's streams, p50/p99 stats and the printed line, and — for the gateway benches — a simulator's
start-up, a gateway process, the JetStream baseline and the one-order-after-another loop.

Each bench runs as a script (`bench/` is on sys.path), so it imports this as `harness`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sysconfig
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from janus_client.discovery import wait_for_instances
from janus_common import bus
from janus_common import logging as janus_logging
from janus_common import messages as m
from janus_common.embedded import EmbeddedNats
from janus_common.streams import ensure_streams

SCRIPTS = Path(sysconfig.get_path("scripts"))


def parse_args(name: str, **defaults: int | float) -> argparse.Namespace:
    """`--flag N` for each default (of the default's type); the bench logs as `name`, WARNING up."""
    ap = argparse.ArgumentParser()
    for flag, default in defaults.items():
        ap.add_argument(f"--{flag}", type=type(default), default=default)
    janus_logging.configure(name, level="WARNING")
    return ap.parse_args()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def line(name: str, values: list[float], width: int = 32, digits: int = 8, base: float | None = None) -> str:
    """`name  n=…  p50=… ms  p99=… ms`, and the p50 as a multiple of `base` when given."""
    p50 = statistics.median(values)
    ratio = f"  x{p50 / base:5.2f} of baseline p50" if base else ""
    return (f"{name:<{width}} n={len(values):<6} p50={p50 * 1e3:{digits}.3f} ms  "
            f"p99={pct(values, 0.99) * 1e3:{digits}.3f} ms{ratio}")


@dataclass
class Bus:
    tmp: Path
    server: EmbeddedNats
    nc: Client
    js: JetStreamContext


@contextlib.asynccontextmanager
async def embedded_bus(*, prefix: str | None = None, die_with_parent: bool = True) -> AsyncIterator[Bus]:
    """A temp dir, an embedded NATS in it, a connection named "bench" and Janus's streams."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp, \
            EmbeddedNats(Path(tmp) / "nats", die_with_parent=die_with_parent) as server:
        nc = await bus.connect(server.url, "bench")
        js = nc.jetstream()
        await ensure_streams(js)
        try:
            yield Bus(Path(tmp), server, nc, js)
        finally:
            await nc.close()


async def start_sim(marker: bytes, *cmd: str, cwd: Path | None = None) -> tuple[asyncio.subprocess.Process, dict[str, Any]]:
    """A simulator process and its JSON start-up line (the first with `marker`)."""
    sim = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE,
                                               stderr=asyncio.subprocess.STDOUT, cwd=cwd)
    return sim, await sim_banner(sim, marker)


async def sim_banner(sim: asyncio.subprocess.Process, marker: bytes) -> dict[str, Any]:
    """The process's JSON start-up line (the first with `marker`); its pipe is kept drained after."""
    assert sim.stdout is not None
    while True:
        raw = await sim.stdout.readline()
        if not raw:
            raise SystemExit("the simulator did not start")
        if marker in raw:
            asyncio.ensure_future(sim.stdout.read())  # keep its pipe drained
            return dict(json.loads(raw))


async def start_service(script: str, *args: str, log: Path, **kw: Any) -> asyncio.subprocess.Process:
    """A Janus console script of this venv, its output appended to `log`."""
    out = open(log, "ab")
    return await asyncio.create_subprocess_exec(str(SCRIPTS / script), *args, stdout=out, stderr=out,
                                                env={**os.environ, **kw.pop("env", {})}, **kw)


async def stop(*procs: asyncio.subprocess.Process) -> None:
    for proc in procs:
        proc.terminate()
        await proc.wait()


async def baseline(b: Bus, subject: str, count: int = 300) -> list[float]:
    """A bare JetStream publish (300 bytes) → core subscriber receive, one after another."""
    got = asyncio.Event()
    out: list[float] = []

    async def on_msg(msg: Msg) -> None:
        got.set()

    sub = await b.nc.subscribe(subject, cb=on_msg)
    for _ in range(count):
        got.clear()
        started = time.perf_counter()
        await b.js.publish(subject, b"x" * 300)
        await got.wait()
        out.append(time.perf_counter() - started)
    await sub.unsubscribe()
    return out


@dataclass
class OrderTimes:
    """route → OrderSubmitted and route → FILLED per intent, from the gateway's events."""
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    sent: dict[str, float] = field(default_factory=dict)
    submitted: dict[str, float] = field(default_factory=dict)
    filled: dict[str, float] = field(default_factory=dict)
    done: dict[str, asyncio.Event] = field(default_factory=dict)

    async def on_event(self, msg: Msg) -> None:
        event = m.ANY_EVENT.decode(msg.data)
        if isinstance(event, m.GatewayConnection) and event.state is m.ConnectionState.READY:
            self.ready.set()
        key = getattr(event, "intent_id", None)
        if key not in self.sent:
            return
        now = time.perf_counter()
        if isinstance(event, m.OrderSubmitted):
            self.submitted[key] = now - self.sent[key]
        elif isinstance(event, m.OrderStatusChanged) and event.status is m.OrderState.FILLED:
            self.filled[key] = now - self.sent[key]
            self.done[key].set()

    async def until_ready(self, b: Bus, service: str) -> None:
        await wait_for_instances(b.nc, service, 1)
        await asyncio.wait_for(self.ready.wait(), 30)

    async def run(self, b: Bus, subject: str, count: int, order: Callable[[str, int], m.PlaceOrder]) -> float:
        """`count` orders, each sent when the previous one filled; the seconds it all took."""
        started_all = time.perf_counter()
        for n in range(count):
            intent = m.new_id()
            self.done[intent] = asyncio.Event()
            self.sent[intent] = time.perf_counter()
            await bus.publish(b.js, subject, order(intent, n), msg_id=intent)
            await asyncio.wait_for(self.done[intent].wait(), 30)
        return time.perf_counter() - started_all


async def order_times(b: Bus) -> OrderTimes:
    """Listening on janus.evt.> (before the gateway starts, so its READY is seen)."""
    times = OrderTimes()
    await b.nc.subscribe("janus.evt.>", cb=times.on_event)
    return times


async def timed(call: Callable[[int], Awaitable[object]], count: int) -> list[float]:
    """The latency of each of `count` awaited calls, one after another."""
    out = []
    for n in range(count):
        started = time.perf_counter()
        await call(n)
        out.append(time.perf_counter() - started)
    return out
