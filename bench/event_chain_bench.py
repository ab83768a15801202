"""What the per-subject hash chain costs a publisher: event publish latency (p50/p99) through
`bus.publish` on a `janus.evt.*` subject — one publisher (the tip stays cached: one round trip),
and two publishers taking turns on one subject (router and gateway on `janus.evt.order.{a}`: a
stale tip costs a refused publish and a read) — against a plain JetStream publish of the same
event to an unchained subject, measured in the same run. Real NATS (embedded).

    .venv/bin/python bench/event_chain_bench.py [--events 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from janus_common import bus
from janus_common import logging as janus_logging
from janus_common import messages as m
from janus_common.embedded import EmbeddedNats
from janus_common.streams import ensure_streams


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def fmt(name: str, values: list[float], base: float | None = None) -> str:
    p50 = statistics.median(values)
    ratio = f"  x{p50 / base:5.2f} of baseline p50" if base else ""
    return f"{name:<44} n={len(values):<6} p50={p50 * 1e3:7.3f} ms  p99={pct(values, 0.99) * 1e3:7.3f} ms{ratio}"


def event(n: int) -> m.OrderRejected:
    return m.OrderRejected(account="bench", intent_id=f"i{n}", reason=m.RejectReason.INTERNAL, message="bench")


async def timed(publish, count: int) -> list[float]:
    lat = []
    for n in range(count):
        start = time.perf_counter()
        await publish(n)
        lat.append(time.perf_counter() - start)
    return lat


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=2000)
    args = p.parse_args()
    janus_logging.configure("bench", level="WARNING")
    with tempfile.TemporaryDirectory(prefix="janus-bench-") as tmp, EmbeddedNats(Path(tmp) / "nats") as server:
        ncs = [await bus.connect(server.url, f"bench-{i}") for i in range(2)]
        js = [nc.jetstream() for nc in ncs]
        await ensure_streams(js[0])
        # The baseline stream holds the same bytes on a subject outside the chain.
        await js[0].add_stream(name="BASELINE", subjects=["bench.baseline"])

        base = await timed(lambda n: js[0].publish("bench.baseline", m.encode(event(n))), args.events)
        one = await timed(lambda n: bus.publish(js[0], "janus.evt.order.one", event(n)), args.events)
        # Two connections alternate on one subject: every publish finds its cached tip stale.
        turns = await timed(lambda n: bus.publish(js[n % 2], "janus.evt.order.two", event(n)), args.events)

        b50 = statistics.median(base)
        print(fmt("baseline: plain JetStream publish", base))
        print(fmt("chained, one publisher per subject", one, b50))
        print(fmt("chained, two publishers alternating", turns, b50))
        for nc in ncs:
            await nc.close()


if __name__ == "__main__":
    asyncio.run(main())
