"""IB gateway benchmark: route message → OrderSubmitted and route message → OrderFilled,
p50/p99 over N market orders sent one after another, against the IB simulator (a separate
process) through a real janus-ib-gateway process. Baseline in the same run: a bare NATS
JetStream publish → subscriber receive.

ib_async keeps requests under IB's 50 messages/s (45/s); from the 46th order in a second the
gateway waits for that pacing, as it must with real IB — the p99 shows it.

    .venv/bin/python bench/ib_gateway_bench.py [--orders 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import yaml

from janus_client.discovery import wait_for_instances
from janus_common import bus, subjects
from janus_common import logging as janus_logging
from janus_common import messages as m
from janus_common.embedded import EmbeddedNats
from janus_common.streams import ensure_streams

SCRIPTS = Path(sysconfig.get_path("scripts"))
SPY = m.IbContract(symbol="SPY", sec_type="STK", exchange="SMART", con_id=756733, primary_exchange="ARCA")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def line(name: str, values: list[float]) -> str:
    return (f"{name:<30} n={len(values):<6} p50={statistics.median(values) * 1e3:8.3f} ms  "
            f"p99={pct(values, 0.99) * 1e3:8.3f} ms")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=1000)
    args = ap.parse_args()
    janus_logging.configure("ib-gateway-bench", level="WARNING")
    with tempfile.TemporaryDirectory() as tmp, EmbeddedNats(Path(tmp) / "nats", die_with_parent=True) as server:
        port = None
        sim = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "janus_ib_sim.main", "--port", "0", "--tick-interval", "0.005",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        while port is None:
            raw = await sim.stdout.readline()
            if b"ib_sim_listening" in raw:
                port = json.loads(raw)["port"]
        asyncio.ensure_future(sim.stdout.read())  # keep its pipe drained

        config = Path(tmp) / "config.yaml"
        config.write_text(yaml.safe_dump({"accounts": {"ib-1": {"broker": "ib", "ib": {
            "host": "127.0.0.1", "port": port, "client_id": 11, "account": "DU1000001"}}}}))
        nc = await bus.connect(server.url, "bench")
        js = nc.jetstream()
        await ensure_streams(js)
        ready = asyncio.Event()
        sent: dict[str, float] = {}
        submitted: dict[str, float] = {}
        filled: dict[str, float] = {}
        done: dict[str, asyncio.Event] = {}

        async def on_event(msg):
            event = m.ANY_EVENT.decode(msg.data)
            if isinstance(event, m.GatewayConnection) and event.state is m.ConnectionState.READY:
                ready.set()
            key = getattr(event, "intent_id", None)
            if key not in sent:
                return
            now = time.perf_counter()
            if isinstance(event, m.OrderSubmitted):
                submitted[key] = now - sent[key]
            elif isinstance(event, m.OrderStatusChanged) and event.status is m.OrderState.FILLED:
                filled[key] = now - sent[key]
                done[key].set()

        await nc.subscribe("janus.evt.>", cb=on_event)
        log = open(Path(tmp) / "gateway.log", "ab")
        gateway = await asyncio.create_subprocess_exec(
            str(SCRIPTS / "janus-ib-gateway"), "--config", str(config), "--account", "ib-1",
            "--nats-url", server.url, "--log-level", "WARNING", stdout=log, stderr=log, env={**os.environ})

        await wait_for_instances(nc, "janus-ib-gateway", 1)
        await asyncio.wait_for(ready.wait(), 30)

        base: list[float] = []
        got = asyncio.Event()

        async def on_base(msg):
            got.set()

        await nc.subscribe("janus.route.ib.baseline", cb=on_base)
        for _ in range(300):
            got.clear()
            started = time.perf_counter()
            await js.publish("janus.route.ib.baseline", b"x" * 300)
            await got.wait()
            base.append(time.perf_counter() - started)

        started_all = time.perf_counter()
        for n in range(args.orders):
            intent = m.new_id()
            done[intent] = asyncio.Event()
            order = m.PlaceOrder(intent_id=intent, account="ib-1", broker=m.Broker.IB, symbol="SPY",
                                 side=m.BrokerSide.BUY if n % 2 == 0 else m.BrokerSide.SELL,
                                 order_type=m.OrderType.MARKET, qty=1.0, ib=SPY)
            sent[intent] = time.perf_counter()
            await bus.publish(js, subjects.route("ib", "ib-1"), order, msg_id=intent)
            await asyncio.wait_for(done[intent].wait(), 30)
        total = time.perf_counter() - started_all

        print(f"IB gateway benchmark: {args.orders} market orders one after another, simulator and gateway "
              f"in their own processes")
        print(line("baseline JS publish -> receive", base))
        print(line("route -> OrderSubmitted", list(submitted.values())))
        print(line("route -> FILLED", list(filled.values())))
        print(f"ratio route->FILLED / baseline: p50 x{statistics.median(filled.values()) / statistics.median(base):.1f}")
        print(f"{args.orders / total:.1f} orders/s end to end (ib_async paces IB requests at 45/s)")
        gateway.terminate()
        await gateway.wait()
        sim.terminate()
        await sim.wait()
        await nc.close()


if __name__ == "__main__":
    asyncio.run(main())
