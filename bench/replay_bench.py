"""Audit replay benchmark: `janus audit replay` (the real command, as a user runs it) over a
history of --events events in EVENTS (and its intents in INTENTS), against the raw read rate of
the same stream (an ordered consumer that keeps the bytes and does nothing else), measured in
the same run on the same server.

    .venv/bin/python bench/replay_bench.py [--events 100000] [--json]

--json prints one object: events, replay_s, replay_per_s, raw_read_s, raw_read_per_s, ratio,
clean (the audit's exit code was 0). The issue's figure is --events 1000000.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time

from harness import SCRIPTS, embedded_bus
from history import write_history

from janus_common import bus
from janus_common import logging as janus_logging


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout, nothing else")
    args = ap.parse_args()
    janus_logging.configure("replay-bench", level="WARNING")

    async with embedded_bus() as b:
        started = time.perf_counter()
        written = await write_history(b.js, args.events, progress=not args.json)
        write_s = time.perf_counter() - started

        started = time.perf_counter()
        raw = await bus.stored(b.js, "EVENTS", "janus.evt.>", timeout=120)
        raw_s = time.perf_counter() - started
        del raw

        # No credentials: the bench's own server has no authorization.
        env = {k: v for k, v in os.environ.items() if k != "JANUS_NATS_CREDS"}
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            str(SCRIPTS / "janus"), "--nats-url", b.server.url, "--json", "audit", "replay",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
        out, err = await proc.communicate()
        replay_s = time.perf_counter() - started
        report = json.loads(out)["report"] if out.strip() else {}

    result = {"events": written, "replay_s": round(replay_s, 3), "replay_per_s": round(written / replay_s),
              "raw_read_s": round(raw_s, 3), "raw_read_per_s": round(written / raw_s),
              "ratio": round(raw_s / replay_s, 3), "clean": proc.returncode == 0,
              "write_per_s": round(written / write_s)}
    if args.json:
        print(json.dumps(result))
        return
    print(f"audit replay benchmark: {written:,} events in EVENTS ({report.get('intents', '?')} intents), embedded NATS")
    print(f"raw read (ordered consumer, bytes kept)   {raw_s:8.2f} s  {result['raw_read_per_s']:>10,}/s  (baseline)")
    print(f"janus audit replay (exit {proc.returncode})             {replay_s:8.2f} s  "
          f"{result['replay_per_s']:>10,}/s  = {result['ratio']:.2f} of the raw rate")
    if proc.returncode != 0:
        print(err.decode()[-2000:])


if __name__ == "__main__":
    asyncio.run(main())
