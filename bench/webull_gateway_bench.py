"""Webull gateway benchmark: route message → OrderSubmitted and route message → FILLED, p50/p99
over N market orders sent one after another, through a real janus-webull-gateway process and
the Webull simulator (its own process) behind the unmodified SDK. Baselines in the same run: a
bare JetStream publish → subscriber receive, and the SDK's own place_order round trip against the
same simulator (what the gateway cannot beat: it makes that call, plus an order-detail check).

    .venv/bin/python bench/webull_gateway_bench.py [--orders 1000]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid

import yaml
from harness import (SCRIPTS, baseline, embedded_bus, line, order_times, parse_args, start_service, start_sim,
                     stop)

from janus_common import messages as m
from janus_common import subjects

for _var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
    os.environ.pop(_var, None)


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
    args = parse_args("webull-gateway-bench", orders=1000)
    async with embedded_bus() as b:
        tmp = b.tmp
        sim, info = await start_sim(
            b"listening", str(SCRIPTS / "janus-webull-sim"), "--port", "0", "--grpc-port", "0",
            "--tick-interval", "0.005", "--ping-interval", "1", "--app-secret", "bench-secret",
            "--log-level", "INFO", cwd=tmp)

        config = tmp / "config.yaml"
        config.write_text(yaml.safe_dump({"accounts": {"wb-1": {"broker": "webull", "allow_short": True, "webull": {
            "app_key": info["app_key"], "app_secret": "bench-secret", "account_id": info["account_id"],
            "host": "127.0.0.1", "port": info["http_port"], "grpc_host": "127.0.0.1", "grpc_port": info["grpc_port"],
            "tls": False, "poll_interval_s": 1.0}}}}))
        times = await order_times(b)
        gateway = await start_service(
            "janus-webull-gateway", "--config", str(config), "--account", "wb-1",
            "--nats-url", b.server.url, "--log-level", "WARNING", log=tmp / "gateway.log", cwd=tmp,
            env={"JANUS_WEBULL_TOKEN_DIR": str(tmp / "tokens")})
        await times.until_ready(b, "janus-webull-gateway")

        base = await baseline(b, "janus.route.webull.baseline")
        sdk = await asyncio.to_thread(sdk_baseline, info["http_port"], info["app_key"], "bench-secret",
                                      info["account_id"], 300, str(tmp / "tokens"))

        def order(intent: str, n: int) -> m.PlaceOrder:
            # BUY then SELL of 1 share: the position stays flat, so the SELL is never refused.
            return m.PlaceOrder(intent_id=intent, account="wb-1", broker=m.Broker.WEBULL, symbol="SPY",
                                side=m.BrokerSide.BUY if n % 2 == 0 else m.BrokerSide.SELL,
                                order_type=m.OrderType.MARKET, qty=1.0, webull=m.WebullInstrument(symbol="SPY"))

        total = await times.run(b, subjects.route("webull", "wb-1"), args.orders, order)

        print(f"Webull gateway benchmark: {args.orders} market orders one after another; simulator "
              f"(tick 5 ms) and gateway in their own processes")
        print(line("baseline JS publish -> receive", base))
        print(line("baseline SDK place_order call", sdk))
        print(line("route -> OrderSubmitted", list(times.submitted.values())))
        print(line("route -> FILLED", list(times.filled.values())))
        print(f"ratio route->OrderSubmitted / SDK place_order: p50 "
              f"x{statistics.median(times.submitted.values()) / statistics.median(sdk):.1f}")
        print(f"{args.orders / total:.1f} orders/s end to end")
        await stop(gateway, sim)


if __name__ == "__main__":
    asyncio.run(main())
