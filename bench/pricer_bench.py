"""Pricer throughput: ticks/s one ``janus-pricer`` absorbs while publishing valuations, as a
ratio to the rate one plain nats-py subscriber decodes the same ticks, in the same run.

Each round publishes the same pre-encoded burst of ticks (spread over the symbols three
accounts hold) as fast as nats-py can, once to a bare subscriber process that only decodes
(`MARKET_DATA.decode`) and counts, once to a `janus-pricer` process (the console script).
A round ends for the subscriber when it reports the last tick decoded, for the pricer when a
valuation priced with the burst's last tick arrives (so the pricer's figure includes up to one
debounce window, 200 ms here, and every valuation it published meanwhile). Both are timed
by this controller from the first publish. A paced phase then measures tick → valuation
latency. Prints medians and p99 per side and the ratio of the medians.

    python bench/pricer_bench.py [--ticks 100000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import sysconfig
import tempfile
import time
from datetime import date
from pathlib import Path

import yaml

from janus_common import bus, subjects
from janus_common import logging as janus_logging
from janus_common import messages as m
from janus_common.servers import provide_nats
from janus_common.streams import ensure_streams
from janus_common.symbols import AssetClass
from janus_ib_sim.expiries import front_month

_NQ_YEAR, _NQ_MONTH = front_month("NQ", date.today())  # a live contract, whatever today is
SYMBOLS = [f"S{i}" for i in range(20)] + [f"NQ.{_NQ_YEAR % 100:02d}{_NQ_MONTH:02d}"]
ACCOUNTS = {"ib-1": m.Broker.IB, "ib-2": m.Broker.IB, "wb-1": m.Broker.WEBULL}
DONE = "bench.baseline.done"
SCRIPT = Path(sysconfig.get_path("scripts")) / "janus-pricer"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


# --- the baseline: one nats-py subscriber that decodes ----------------------------------


async def baseline_subscriber(url: str, expected: int) -> None:
    janus_logging.configure("bench-baseline", level="WARNING")  # stdout is the control channel
    nc = await bus.connect(url, "bench-baseline")
    count = 0
    done = asyncio.Event()

    async def on_tick(msg) -> None:
        nonlocal count
        m.MARKET_DATA.decode(msg.data, subject=msg.subject)
        count += 1
        if count == expected:
            done.set()

    await nc.subscribe(subjects.ALL_MARKET_DATA, cb=on_tick)
    await nc.flush()
    print("ready", flush=True)
    await done.wait()
    await nc.publish(DONE, str(count).encode())
    await nc.flush()
    await nc.close()


# --- the controller ---------------------------------------------------------------------


def burst(n: int, round_no: int) -> tuple[list[tuple[str, bytes]], float]:
    out = []
    for i in range(n - 1):
        symbol = SYMBOLS[i % len(SYMBOLS)]
        price = 100.0 + (i % 1000) * 0.01
        out.append((subjects.md_tick(symbol), m.encode(m.Tick(symbol=symbol, last=price,
                                                              bid=price - 0.01, ask=price + 0.01))))
    marker = 1_000_000.0 + round_no
    out.append((subjects.md_tick(SYMBOLS[0]), m.encode(m.Tick(symbol=SYMBOLS[0], last=marker))))
    return out, marker


async def publish_all(nc, messages: list[tuple[str, bytes]]) -> None:
    for subject, data in messages:
        await nc.publish(subject, data)
    await nc.flush()


async def run_baseline(url: str, messages) -> float:
    nc = await bus.connect(url, "bench-controller-b")
    got: asyncio.Future = asyncio.get_running_loop().create_future()

    async def on_done(msg) -> None:
        if not got.done():
            got.set_result(int(msg.data))

    await nc.subscribe(DONE, cb=on_done)
    await nc.flush()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--baseline-subscriber", url, str(len(messages)),
        stdout=asyncio.subprocess.PIPE)
    try:
        assert (await asyncio.wait_for(proc.stdout.readline(), 30)).strip() == b"ready"
        start = time.perf_counter()
        await publish_all(nc, messages)
        count = await asyncio.wait_for(got, 120)
        elapsed = time.perf_counter() - start
        await asyncio.wait_for(proc.wait(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    await nc.close()
    assert count == len(messages)
    return len(messages) / elapsed


async def run_pricer(url: str, config: Path, messages, marker: float) -> tuple[float, int, int]:
    nc = await bus.connect(url, "bench-controller-p")
    valued: asyncio.Queue = asyncio.Queue()

    async def on_val(msg) -> None:
        valued.put_nowait(m.VALUATIONS.decode(msg.data))

    await nc.subscribe(subjects.ALL_VALUATIONS, cb=on_val)
    await nc.flush()
    proc = await asyncio.create_subprocess_exec(
        str(SCRIPT), "--config", str(config), "--nats-url", url, "--log-level", "INFO",
        stderr=asyncio.subprocess.PIPE)
    stderr_task = asyncio.create_task(proc.stderr.read())
    try:
        ready: set[str] = set()
        while ready != set(ACCOUNTS):  # every account valued once: positions loaded
            ready.add((await asyncio.wait_for(valued.get(), 30)).account)
        start = time.perf_counter()
        await publish_all(nc, messages)
        published = 0
        while True:
            v = await asyncio.wait_for(valued.get(), 120)
            published += 1
            if v.account == "ib-1" and any(p.symbol == SYMBOLS[0] and p.price == marker
                                           for p in v.positions):
                break
        elapsed = time.perf_counter() - start
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 30)
    stats = {}
    for line in (await stderr_task).splitlines():
        with_stats = json.loads(line)
        if with_stats.get("event") == "pricer_stats":
            stats = with_stats
    await nc.close()
    return len(messages) / elapsed, published, stats.get("ticks", -1)


async def paced_latency(url: str, config: Path, n: int = 150, rate: float = 50.0) -> list[float]:
    """Tick publish → valuation carrying that tick, for ticks paced slower than the window."""
    nc = await bus.connect(url, "bench-controller-l")
    arrivals: dict[float, int] = {}
    seen = asyncio.Event()
    ready = asyncio.Event()

    async def on_val(msg) -> None:
        now = time.time_ns()
        v = m.VALUATIONS.decode(msg.data)
        if v.account == "ib-1":
            ready.set()
            for p in v.positions:
                if p.symbol == SYMBOLS[1] and p.price is not None and p.price not in arrivals:
                    arrivals[p.price] = now
                    seen.set()

    await nc.subscribe(subjects.ALL_VALUATIONS, cb=on_val)
    proc = await asyncio.create_subprocess_exec(
        str(SCRIPT), "--config", str(config), "--nats-url", url, "--log-level", "WARNING",
        stderr=asyncio.subprocess.DEVNULL)
    sent: dict[float, int] = {}
    try:
        await asyncio.wait_for(ready.wait(), 30)  # positions loaded, cache restored
        for i in range(n):
            price = 500.0 + i
            sent[price] = time.time_ns()
            await nc.publish(subjects.md_tick(SYMBOLS[1]),
                             m.encode(m.Tick(symbol=SYMBOLS[1], last=price, ts=sent[price])))
            await asyncio.sleep(1 / rate)
        deadline = time.monotonic() + 5
        while sent.keys() - arrivals.keys() and time.monotonic() < deadline:
            seen.clear()
            try:
                await asyncio.wait_for(seen.wait(), 1)
            except asyncio.TimeoutError:
                break
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 30)
        await nc.close()
    # a valuation carries only the newest price of its window: ticks it skipped have none
    return [(arrivals[p] - sent[p]) / 1e6 for p in sent if p in arrivals]


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp, \
            provide_nats(Path(tmp) / "nats", env_var="JANUS_BENCH_NATS_URL") as server:
        url = server.url
        config = Path(tmp) / "config.yaml"
        config.write_text(yaml.safe_dump({
            "accounts": {"ib-1": {"broker": "ib", "ib": {"port": 7497, "client_id": 1}},
                         "ib-2": {"broker": "ib", "ib": {"port": 7497, "client_id": 2}},
                         "wb-1": {"broker": "webull", "webull": {"app_key": "k", "app_secret": "s"}}},
            "pricer": {"debounce_ms": 200, "stale_after_s": 60},
        }))
        nc = await bus.connect(url, "bench-setup")
        js = nc.jetstream()
        await ensure_streams(js)
        for account, broker in ACCOUNTS.items():
            positions = [m.Position(symbol=s, asset_class=AssetClass.FUTURE if "." in s else
                                    AssetClass.EQUITY, qty=10 + i, avg_cost=100.0,
                                    multiplier=20.0 if "." in s else 1.0)
                         for i, s in enumerate(SYMBOLS)]
            await bus.publish(js, subjects.evt_position(account),
                              m.PositionSnapshot(account=account, broker=broker, positions=positions))

        base_rates, pricer_rates, published, absorbed = [], [], [], []
        for r in range(args.rounds):
            messages, marker = burst(args.ticks, r)
            await js.purge_stream("MARKET")
            base_rates.append(await run_baseline(url, messages))
            await js.purge_stream("MARKET")
            rate, count, ticks = await run_pricer(url, config, messages, marker)
            pricer_rates.append(rate)
            published.append(count)
            absorbed.append(ticks)
            print(f"round {r + 1}: baseline {base_rates[-1]:,.0f} ticks/s, pricer {rate:,.0f} "
                  f"ticks/s, {count} valuations seen, pricer counted {ticks} ticks", flush=True)
        latencies = await paced_latency(url, config)
        await nc.close()

    med_b, med_p = statistics.median(base_rates), statistics.median(pricer_rates)
    print()
    print(f"ticks per round: {args.ticks:,} over {len(SYMBOLS)} symbols held by "
          f"{len(ACCOUNTS)} accounts; {args.rounds} rounds; debounce 200 ms")
    print(f"baseline nats-py subscriber (decode only): median {med_b:,.0f} ticks/s, "
          f"p99 {percentile(base_rates, 1):,.0f} ticks/s (slowest 1%)")
    print(f"janus-pricer (cache + valuations):       median {med_p:,.0f} ticks/s, "
          f"p99 {percentile(pricer_rates, 1):,.0f} ticks/s (slowest 1%)")
    print(f"valuations published per burst: median {statistics.median(published):.0f}")
    print(f"ratio pricer / baseline (medians): {med_p / med_b:.2f}")
    if latencies:
        print(f"paced tick -> valuation latency: median {statistics.median(latencies):.1f} ms, "
              f"p99 {percentile(latencies, 99):.1f} ms ({len(latencies)} samples)")
    assert all(t >= args.ticks for t in absorbed), f"pricer missed ticks: {absorbed}"


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--baseline-subscriber":
        asyncio.run(baseline_subscriber(sys.argv[2], int(sys.argv[3])))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=int(os.environ.get("PRICER_BENCH_TICKS", 100_000)))
    parser.add_argument("--rounds", type=int, default=5)
    asyncio.run(main(parser.parse_args()))
