"""Webull gateway benchmark: route message → OrderSubmitted and route message → FILLED, p50/p99
over N market orders sent one after another, through a real janus-webull-gateway process and
the Webull simulator (its own process) behind the unmodified SDK. Baselines in the same run: a
bare JetStream publish → subscriber receive, and the SDK's own place_order round trip against the
same simulator (what the gateway cannot beat: it makes that call, plus an order-detail check).

    .venv/bin/python bench/webull_gateway_bench.py [--orders 1000]
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
import uuid
from pathlib import Path

import yaml

from janus_client.discovery import wait_for_instances
from janus_common import bus, subjects
from janus_common import logging as janus_logging
from janus_common import messages as m
from janus_common.embedded import EmbeddedNats
from janus_common.streams import ensure_streams

SCRIPTS = Path(sysconfig.get_path("scripts"))
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
    os.environ.pop(_var, None)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def line(name: str, values: list[float]) -> str:
    return (f"{name:<32} n={len(values):<6} p50={statistics.median(values) * 1e3:8.3f} ms  "
            f"p99={pct(values, 0.99) * 1e3:8.3f} ms")


def sdk_baseline(http_port: int, app_key: str, app_secret: str, account_id: str, n: int, token_dir: str) -> list[float]:
    from janus_common.config import WebullConnection
    from janus_webull_gateway.mapping import new_order
    from janus_webull_gateway.webull_api import WebullApi

    api = WebullApi(WebullConnection(app_key=app_key, app_secret=app_secret, account_id=account_id,
                                     host="127.0.0.1", port=http_port, tls=False), token_dir)
    api.connect()
    out = []
    for _ in range(n):
        coid = uuid.uuid4().hex
        order = m.PlaceOrder(intent_id=coid, account="x", broker=m.Broker.WEBULL, symbol="SPY",
                             side=m.BrokerSide.BUY, order_type=m.OrderType.MARKET, qty=1.0)
        started = time.perf_counter()
        api.place(new_order(order, coid))
        out.append(time.perf_counter() - started)
    return out


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=1000)
    args = ap.parse_args()
    janus_logging.configure("webull-gateway-bench", level="WARNING")
    with tempfile.TemporaryDirectory() as tmp, EmbeddedNats(Path(tmp) / "nats", die_with_parent=True) as server:
        sim = await asyncio.create_subprocess_exec(
            str(SCRIPTS / "janus-webull-sim"), "--port", "0", "--grpc-port", "0", "--tick-interval", "0.005",
            "--ping-interval", "1", "--app-secret", "bench-secret", "--log-level", "INFO",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=tmp)
        info = None
        while info is None:
            raw = await sim.stdout.readline()
            if not raw:
                raise SystemExit("the simulator did not start")
            if b"listening" in raw:
                info = json.loads(raw)
        asyncio.ensure_future(sim.stdout.read())  # keep its pipe drained

        config = Path(tmp) / "config.yaml"
        config.write_text(yaml.safe_dump({"accounts": {"wb-1": {"broker": "webull", "allow_short": True, "webull": {
            "app_key": info["app_key"], "app_secret": "bench-secret", "account_id": info["account_id"],
            "host": "127.0.0.1", "port": info["http_port"], "grpc_host": "127.0.0.1", "grpc_port": info["grpc_port"],
            "tls": False, "poll_interval_s": 1.0}}}}))
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
            str(SCRIPTS / "janus-webull-gateway"), "--config", str(config), "--account", "wb-1",
            "--nats-url", server.url, "--log-level", "WARNING", stdout=log, stderr=log, cwd=tmp,
            env={**os.environ, "JANUS_WEBULL_TOKEN_DIR": str(Path(tmp) / "tokens")})
        await wait_for_instances(nc, "janus-webull-gateway", 1)
        await asyncio.wait_for(ready.wait(), 30)

        base: list[float] = []
        got = asyncio.Event()

        async def on_base(msg):
            got.set()

        await nc.subscribe("janus.route.webull.baseline", cb=on_base)
        for _ in range(300):
            got.clear()
            started = time.perf_counter()
            await js.publish("janus.route.webull.baseline", b"x" * 300)
            await got.wait()
            base.append(time.perf_counter() - started)
        sdk = await asyncio.to_thread(sdk_baseline, info["http_port"], info["app_key"], "bench-secret",
                                      info["account_id"], 300, str(Path(tmp) / "tokens"))

        started_all = time.perf_counter()
        for n in range(args.orders):
            intent = m.new_id()
            done[intent] = asyncio.Event()
            # BUY then SELL of 1 share: the position stays flat, so the SELL is never refused.
            order = m.PlaceOrder(intent_id=intent, account="wb-1", broker=m.Broker.WEBULL, symbol="SPY",
                                 side=m.BrokerSide.BUY if n % 2 == 0 else m.BrokerSide.SELL,
                                 order_type=m.OrderType.MARKET, qty=1.0, webull=m.WebullInstrument(symbol="SPY"))
            sent[intent] = time.perf_counter()
            await bus.publish(js, subjects.route("webull", "wb-1"), order, msg_id=intent)
            await asyncio.wait_for(done[intent].wait(), 30)
        total = time.perf_counter() - started_all

        print(f"Webull gateway benchmark: {args.orders} market orders one after another; simulator "
              f"(tick 5 ms) and gateway in their own processes")
        print(line("baseline JS publish -> receive", base))
        print(line("baseline SDK place_order call", sdk))
        print(line("route -> OrderSubmitted", list(submitted.values())))
        print(line("route -> FILLED", list(filled.values())))
        print(f"ratio route->OrderSubmitted / SDK place_order: p50 "
              f"x{statistics.median(submitted.values()) / statistics.median(sdk):.1f}")
        print(f"{args.orders / total:.1f} orders/s end to end")
        gateway.terminate()
        await gateway.wait()
        sim.terminate()
        await sim.wait()
        await nc.close()


if __name__ == "__main__":
    asyncio.run(main())
