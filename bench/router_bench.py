"""Order-router benchmark: intents/s one replica decides, and intent → OrderRouted latency
(p50/p99) at a paced 1,000 intents/s, against a JetStream publish → receive baseline measured
in the same run on the same machine. Real NATS (embedded), a real janus-router process, and a
registry peer answering resolves from memory.

    .venv/bin/python bench/router_bench.py [--intents 5000] [--rate 1000] [--seconds 3] [--json]

--json prints one object: throughput_per_s, rate, p50_ms, p99_ms, baseline_p50_ms, baseline_p99_ms, and
router_cpu_ms_per_intent (the router process's CPU time over the throughput run, per intent: a
figure the shared machine's other load does not move much).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time

import yaml
from harness import embedded_bus, line, pct, start_service, stop
from nats.micro import add_service
from nats.micro.service import EndpointConfig

from janus_client.discovery import wait_for_instances
from janus_common import bus, subjects
from janus_common import logging as janus_logging
from janus_common import messages as m

ACCOUNTS = [f"acct-{i}" for i in range(10)]
RECORD = m.RegistryRecord(symbol="AAPL", asset_class="EQUITY", ib=m.IbContract(symbol="AAPL", sec_type="STK"))


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process has used: what a decision costs, whatever else
    the shared machine is doing meanwhile."""
    fields = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fmt(name: str, values: list[float]) -> str:
    return line(name, values, 34)


async def paced(rate: float, count: int, send) -> None:
    start = time.perf_counter()
    for n in range(count):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing the load generator, not synchronising
        await send(n)


async def baseline(nc, js, rate: float, count: int) -> list[float]:
    """JetStream publish (with ack) → core subscriber receive of an intent-sized message."""
    sent: dict[str, float] = {}
    lat: list[float] = []
    done = asyncio.Event()

    async def on_msg(msg):
        i = m.INTENTS.decode(msg.data)
        lat.append(time.perf_counter() - sent.pop(i.intent_id))
        if len(lat) >= count:
            done.set()

    sub = await nc.subscribe("janus.intent.baseline", cb=on_msg)

    async def send(n: int) -> None:
        intent = m.OrderIntent(account="baseline", symbol="AAPL", side=m.Side.BUY,
                               order_type=m.OrderType.MARKET, qty=1)
        sent[intent.intent_id] = time.perf_counter()
        await bus.publish(js, "janus.intent.baseline", intent, msg_id=intent.intent_id)

    await paced(rate, count, send)
    await asyncio.wait_for(done.wait(), 60)
    await sub.unsubscribe()
    return lat


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--intents", type=int, default=5000)
    ap.add_argument("--rate", type=float, default=1000)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout, nothing else")
    args = ap.parse_args()
    janus_logging.configure("router-bench", level="WARNING")

    async with embedded_bus() as b:
        nc, js = b.nc, b.js

        async def resolve(req):
            return m.Resolved(record=RECORD, source="bench")

        registry = await add_service(nc, name="bench-registry", version="0.0.1")
        await registry.add_endpoint(EndpointConfig(name="resolve", subject=subjects.RPC_RESOLVE,
                                                   handler=bus.rpc_handler(m.RESOLVE_REQUEST, resolve)))
        config = b.tmp / "config.yaml"
        config.write_text(yaml.safe_dump({"accounts": {
            a: {"broker": "ib", "allow_short": True, "ib": {"port": 1, "client_id": i}} for i, a in enumerate(ACCOUNTS)},
            # the decision path at full speed: no pricer here, and more orders than a real account's limits
            "risk": {"require_reference_price": False, "max_orders_per_minute": 10**9, "max_open_orders": 10**9}}))
        router = await start_service("janus-router", "--config", str(config), "--nats-url", b.server.url,
                                     "--log-level", "WARNING", log=b.tmp / "router.log")
        await wait_for_instances(nc, "janus-router", 1)

        sent: dict[str, float] = {}
        lat: list[float] = []
        target = {"n": 0}
        done = asyncio.Event()

        async def on_event(msg):
            event = m.ORDER_EVENTS.decode(msg.data)
            if isinstance(event, (m.OrderRouted, m.OrderRejected)) and event.intent_id in sent:
                lat.append(time.perf_counter() - sent.pop(event.intent_id))
                if len(lat) >= target["n"]:
                    done.set()

        await nc.subscribe(subjects.ALL_ORDER_EVENTS, cb=on_event)

        async def send(n: int) -> None:
            intent = m.OrderIntent(account=ACCOUNTS[n % len(ACCOUNTS)], symbol="AAPL", side=m.Side.BUY,
                                   order_type=m.OrderType.MARKET, qty=1)
            sent[intent.intent_id] = time.perf_counter()
            await bus.publish(js, subjects.intent(intent.account), intent, msg_id=intent.intent_id)

        # 1. throughput: everything at once, time to the last outcome
        target["n"] = args.intents
        started, cpu_before = time.perf_counter(), cpu_s(router.pid)
        await asyncio.gather(*(send(n) for n in range(args.intents)))
        await asyncio.wait_for(done.wait(), 300)
        elapsed = time.perf_counter() - started
        throughput = args.intents / elapsed
        cpu_per_intent_ms = (cpu_s(router.pid) - cpu_before) / args.intents * 1e3

        # 2. latency at a paced rate, and the same-run baseline
        lat.clear()
        done.clear()
        count = int(args.rate * args.seconds)
        target["n"] = count
        await paced(args.rate, count, send)
        await asyncio.wait_for(done.wait(), 300)
        routed = list(lat)
        base = await baseline(nc, js, args.rate, count)

        await stop(router)
        if args.json:
            print(json.dumps({
                "throughput_per_s": round(throughput), "intents": args.intents, "accounts": len(ACCOUNTS),
                "router_cpu_ms_per_intent": round(cpu_per_intent_ms, 3),
                "rate": args.rate, "p50_ms": round(statistics.median(routed) * 1e3, 3),
                "p99_ms": round(pct(routed, 0.99) * 1e3, 3), "baseline_p50_ms": round(statistics.median(base) * 1e3, 3),
                "baseline_p99_ms": round(pct(base, 0.99) * 1e3, 3)}))
            return
        print(f"router benchmark: 1 replica, {len(ACCOUNTS)} accounts, embedded NATS, registry in memory")
        print(f"throughput: {args.intents} intents decided in {elapsed:.2f}s = {throughput:,.0f} intents/s per replica "
              f"(router CPU {cpu_per_intent_ms:.3f} ms per intent)")
        print(fmt(f"intent -> OrderRouted @ {args.rate:.0f}/s", routed))
        print(fmt(f"baseline JS publish -> receive @ {args.rate:.0f}/s", base))
        print(f"ratio (router / baseline): p50 x{statistics.median(routed) / statistics.median(base):.1f}, "
              f"p99 x{pct(routed, 0.99) / pct(base, 0.99):.1f}")


if __name__ == "__main__":
    asyncio.run(main())
