"""Start-up benchmark: seconds from a service's process start until it answers `$SRV.PING` (it
answers only once its state is rebuilt and it serves), with --events events already in EVENTS,
beside the same start on an empty stream measured in the same run. The router is measured from
its ledger snapshot (written by a first start that replays everything, also reported), the IB
gateway (its account's order history; no broker needed to serve) and the pricer (the last
price and position per subject).

    .venv/bin/python bench/startup_bench.py [--events 100000] [--json]

--json prints one object: events, and per service ready_s, ready_s_empty (router also
ready_s_full_replay). The issue's figure is --events 1000000.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import yaml
from harness import embedded_bus, start_service, stop
from history import ACCOUNTS, write_history
from nats.aio.client import Client

from janus_client.discovery import discover
from janus_common import logging as janus_logging
from janus_common import snapshots
from janus_router.follower import SNAPSHOT

SERVICES = {  # console script -> (micro service name, extra flags)
    "janus-router": ("janus-router", ["--snapshot-every-s", "0"]),
    "janus-ib-gateway": ("janus-ib-gateway", ["--account", ACCOUNTS[0]]),
    "janus-pricer": ("janus-pricer", []),
}


async def ready_after(nc: Client, url: str, config: Path, script: str, log: Path,
                      timeout: float = 600) -> tuple[float, object]:
    name, flags = SERVICES[script]
    started = time.perf_counter()
    proc = await start_service(script, "--config", str(config), "--nats-url", url, "--log-level", "WARNING",
                               *flags, log=log)
    deadline = started + timeout
    while time.perf_counter() < deadline:
        if await discover(nc, verb=f"PING.{name}", expect=1, window=0.05):
            return time.perf_counter() - started, proc
        if proc.returncode is not None:
            raise SystemExit(f"{script} exited {proc.returncode}: see {log}")
    raise SystemExit(f"{script} not ready within {timeout}s: see {log}")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout, nothing else")
    args = ap.parse_args()
    janus_logging.configure("startup-bench", level="WARNING")
    result: dict[str, object] = {}
    async with embedded_bus() as b:
        config = b.tmp / "config.yaml"
        config.write_text(yaml.safe_dump({
            "accounts": {a: {"broker": "ib", "ib": {"port": 1, "client_id": i + 1}} for i, a in enumerate(ACCOUNTS)},
            "market_data_account": ACCOUNTS[0]}))
        figures: dict[str, dict[str, float]] = {script: {} for script in SERVICES}
        for script in SERVICES:  # empty stream
            ready, proc = await ready_after(b.nc, b.server.url, config, script, b.tmp / f"{script}.log")
            figures[script]["ready_s_empty"] = ready
            await stop(proc)
        await b.js.delete_stream("EVENTS")  # and the snapshot objects written meanwhile go stale
        from janus_common.streams import ensure_streams
        await ensure_streams(b.js)
        written = await write_history(b.js, args.events, progress=not args.json)
        result["events"] = written

        # The router: a first start replays everything and writes the snapshot ...
        ready, proc = await ready_after(b.nc, b.server.url, config, "janus-router", b.tmp / "router-full.log")
        figures["janus-router"]["ready_s_full_replay"] = ready
        deadline = time.perf_counter() + 600
        while time.perf_counter() < deadline:
            saved = await snapshots.info(b.js, SNAPSHOT)
            if saved is not None and saved.seq >= written * 0.99:
                break
            await asyncio.sleep(0.2)  # polling the store for the background save
        await stop(proc)
        # ... the next starts from it.
        for script in SERVICES:
            ready, proc = await ready_after(b.nc, b.server.url, config, script, b.tmp / f"{script}-full.log")
            figures[script]["ready_s"] = ready
            await stop(proc)
    result.update({script.removeprefix("janus-"): {k: round(v, 3) for k, v in f.items()} for script, f in figures.items()})
    if args.json:
        print(json.dumps(result))
        return
    print(f"start-up benchmark: {written:,} events in EVENTS, embedded NATS (ready = answers $SRV.PING)")
    for script, f in figures.items():
        extra = f"   full replay {f['ready_s_full_replay']:7.2f} s" if "ready_s_full_replay" in f else ""
        print(f"{script:<18} ready {f['ready_s']:7.2f} s   empty stream {f['ready_s_empty']:7.2f} s (baseline)"
              f"   x{f['ready_s'] / f['ready_s_empty']:.2f}{extra}")


if __name__ == "__main__":
    asyncio.run(main())
