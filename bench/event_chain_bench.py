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

from harness import embedded_bus, line, timed

from janus_common import bus
from janus_common import logging as janus_logging
from janus_common import messages as m


def fmt(name: str, values: list[float], base: float | None = None) -> str:
    return line(name, values, 44, 7, base)


def event(n: int) -> m.OrderRejected:
    return m.OrderRejected(account="bench", intent_id=f"i{n}", reason=m.RejectReason.INTERNAL, message="bench")


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=2000)
    args = p.parse_args()
    janus_logging.configure("bench", level="WARNING")
    async with embedded_bus(prefix="janus-bench-") as b:
        other = await bus.connect(b.server.url, "bench-1")
        js = [b.js, other.jetstream()]
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
        await other.close()


if __name__ == "__main__":
    asyncio.run(main())
