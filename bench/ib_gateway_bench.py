"""IB gateway benchmark: route message → OrderSubmitted and route message → OrderFilled,
p50/p99 over N market orders sent one after another, against the IB simulator (a separate
process) through a real janus-ib-gateway process. Baseline in the same run: a bare NATS
JetStream publish → subscriber receive.

ib_async keeps requests under IB's 50 messages/s (45/s); from the 46th order in a second the
gateway waits for that pacing, as it must with real IB — the p99 shows it.

    .venv/bin/python bench/ib_gateway_bench.py [--orders 1000]
"""

from __future__ import annotations

import asyncio
import statistics
import sys

import yaml
from harness import baseline, embedded_bus, line, order_times, parse_args, start_service, start_sim, stop

from janus_common import messages as m
from janus_common import subjects

SPY = m.IbContract(symbol="SPY", sec_type="STK", exchange="SMART", con_id=756733, primary_exchange="ARCA")


async def main() -> None:
    args = parse_args("ib-gateway-bench", orders=1000)
    async with embedded_bus() as b:
        sim, banner = await start_sim(b"ib_sim_listening", sys.executable, "-m", "janus_ib_sim.main",
                                      "--port", "0", "--tick-interval", "0.005")
        port = banner["port"]

        config = b.tmp / "config.yaml"
        config.write_text(yaml.safe_dump({"accounts": {"ib-1": {"broker": "ib", "ib": {
            "host": "127.0.0.1", "port": port, "client_id": 11, "account": "DU1000001"}}}}))
        times = await order_times(b)
        gateway = await start_service(
            "janus-ib-gateway", "--config", str(config), "--account", "ib-1",
            "--nats-url", b.server.url, "--log-level", "WARNING", log=b.tmp / "gateway.log")
        await times.until_ready(b, "janus-ib-gateway")

        base = await baseline(b, "janus.route.ib.baseline")

        def order(intent: str, n: int) -> m.PlaceOrder:
            return m.PlaceOrder(intent_id=intent, account="ib-1", broker=m.Broker.IB, symbol="SPY",
                                side=m.BrokerSide.BUY if n % 2 == 0 else m.BrokerSide.SELL,
                                order_type=m.OrderType.MARKET, qty=1.0, ib=SPY)

        total = await times.run(b, subjects.route("ib", "ib-1"), args.orders, order)

        print(f"IB gateway benchmark: {args.orders} market orders one after another, simulator and gateway "
              f"in their own processes")
        print(line("baseline JS publish -> receive", base, 30))
        print(line("route -> OrderSubmitted", list(times.submitted.values()), 30))
        print(line("route -> FILLED", list(times.filled.values()), 30))
        print(f"ratio route->FILLED / baseline: p50 x{statistics.median(times.filled.values()) / statistics.median(base):.1f}")
        print(f"{args.orders / total:.1f} orders/s end to end (ib_async paces IB requests at 45/s)")
        await stop(gateway, sim)


if __name__ == "__main__":
    asyncio.run(main())
