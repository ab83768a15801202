"""Rough throughput of the Webull simulator through the official SDK.

    .venv/bin/python bench/webull_sim_bench.py [N]

Places N market orders with the SDK (one thread, each request signed and verified), waits for
each FINAL_FILLED event on the gRPC stream, and prints requests per second and event latency.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import tempfile
import threading
import time
import uuid

from webull.core import request as core_request
from webull.core.client import ApiClient
from webull.core.http import protocol_type
from webull.trade.trade_client import TradeClient
from webull.trade.trade_events_client import TradeEventsClient

from janus_common.logging import configure
from janus_webull_sim import SimConfig, ThreadedSimulator


def main(n: int) -> None:
    configure("webull-sim-bench", level="WARNING")
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(var, None)
    os.chdir(tempfile.mkdtemp())
    core_request.set_default_protocol_type(protocol_type.HTTP)
    config = SimConfig(tick_interval=0.01, fill_chunk=10**9, volatility_ticks=0)
    with ThreadedSimulator(config) as sim:
        api = ApiClient(sim.app_key, sim.app_secret, "us", port=sim.http_port)
        api.add_endpoint("us", "127.0.0.1")
        api.set_stream_logger(log_level=logging.CRITICAL, stream=open(os.devnull, "w"))
        trade = TradeClient(api)
        done: dict[str, float] = {}
        connected = threading.Event()
        finals: queue.Queue = queue.Queue()

        def on_event(et, st, payload, resp):
            if payload.get("scene_type") == "FINAL_FILLED":
                done[payload["client_order_id"]] = time.perf_counter()
                finals.put(1)

        events = TradeEventsClient(sim.app_key, sim.app_secret, "us", host="127.0.0.1", port=sim.grpc_port,
                                   tls_enable=False)
        events.on_connect = lambda *a: connected.set()
        events.on_events_message = on_event
        threading.Thread(target=events.do_subscribe, args=([sim.account_id],), daemon=True).start()
        connected.wait(10)

        placed: dict[str, float] = {}
        t0 = time.perf_counter()
        for _ in range(n):
            coid = uuid.uuid4().hex
            placed[coid] = time.perf_counter()
            trade.order_v3.place_order(sim.account_id, [{
                "combo_type": "NORMAL", "client_order_id": coid, "symbol": "AAPL", "instrument_type": "EQUITY",
                "market": "US", "side": "BUY", "order_type": "MARKET", "quantity": "1",
                "time_in_force": "DAY", "entrust_type": "QTY", "support_trading_session": "CORE"}])
        elapsed = time.perf_counter() - t0
        for _ in range(n):
            finals.get(timeout=30)
        lat = sorted(done[c] - placed[c] for c in placed)
        print(f"{n} signed place_order calls in {elapsed:.2f}s: {n / elapsed:.0f}/s")
        print(f"place -> FINAL_FILLED event: p50 {lat[n // 2] * 1000:.1f} ms, p99 {lat[int(n * .99) - 1] * 1000:.1f} ms"
              " (includes up to one 10 ms tick)")
        sim.drop_stream()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
