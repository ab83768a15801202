"""IB simulator benchmark, through unmodified ib_async: connect time, place → Filled round trip
over N market orders (p50/p99), and ticks per second streamed to one client. Baseline in the
same run: reqCurrentTime round trips (the protocol's cheapest request/reply).

    .venv/bin/python bench/ib_tws_bench.py [--orders 1000] [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from harness import line
from ib_async import IB, MarketOrder, Stock

from janus_common import logging as janus_logging
from janus_ib_sim import IBSimulator


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    janus_logging.configure("ib-sim-bench", level="WARNING")
    # Both pacing guards off (ib_async's 45 requests/s throttle, TWS's 50 msgs/s): we measure
    # the simulator, not the rate limits real IB imposes.
    async with IBSimulator(seed=11, tick_interval=0.001, pacing_limit=None) as sim:
        connects = []
        for n in range(20):
            ib = IB()
            started = time.perf_counter()
            await ib.connectAsync("127.0.0.1", sim.port, clientId=100 + n, timeout=5, raiseSyncErrors=True)
            connects.append(time.perf_counter() - started)
            ib.disconnect()

        ib = IB()
        ib.client.MaxRequests = 0
        await ib.connectAsync("127.0.0.1", sim.port, clientId=1, timeout=5)
        [spy] = await ib.qualifyContractsAsync(Stock("SPY", "SMART", "USD"))

        baseline = []
        for _ in range(200):
            started = time.perf_counter()
            await ib.reqCurrentTimeAsync()
            baseline.append(time.perf_counter() - started)

        rtts = []
        for n in range(args.orders):
            started = time.perf_counter()
            trade = ib.placeOrder(spy, MarketOrder("BUY" if n % 2 == 0 else "SELL", 1))
            while not trade.isDone():
                await ib.updateEvent
            rtts.append(time.perf_counter() - started)

        ticks = 0

        def count(tickers) -> None:
            nonlocal ticks
            ticks += sum(len(t.ticks) for t in tickers)

        ib.pendingTickersEvent += count
        symbols = ["AAPL", "MSFT", "QQQ", "NVDA", "AMZN", "GOOGL", "META", "IBM", "JPM"]
        contracts = await ib.qualifyContractsAsync(*(Stock(s, "SMART", "USD") for s in symbols))
        for c in contracts:
            ib.reqMktData(c)
        started = time.perf_counter()
        await asyncio.sleep(args.seconds)  # a measurement window, not synchronisation
        rate = ticks / (time.perf_counter() - started)
        ib.disconnect()

    print(f"IB simulator through ib_async 2.1.0 ({args.orders} market orders, one client, pacing off)")
    print(line("connect (startup requests)", connects))
    print(line("baseline reqCurrentTime", baseline))
    print(line("place -> Filled", rtts))
    print(f"ratio place->Filled / reqCurrentTime: p50 x{statistics.median(rtts) / statistics.median(baseline):.1f}")
    print(f"ticks streamed to one client: {rate:,.0f} ticks/s ({len(contracts)} symbols, tick interval 1 ms)")


if __name__ == "__main__":
    asyncio.run(main())
