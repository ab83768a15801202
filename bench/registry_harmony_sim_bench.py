"""Harmony over N registry entries against the IB SIMULATOR behind the real IB gateway
(`bench/registry_bench.py` measures the registry itself with an in-bench responder).

The simulator lists N synthetic US stocks (SIM0001 …); the registry starts with N static
mappings that carry no IB fields; `janus harmony`'s RPC then fills them from IB. ib_async keeps
IB requests under IB's 50/s, so IB's pacing sets the pace; the figure says how close we get.

    .venv/bin/python bench/registry_harmony_sim_bench.py [--entries 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import asyncpg
import yaml

from janus_client.discovery import wait_for_instances
from janus_common import bus, subjects
from janus_common import messages as m
from janus_common.embedded import EmbeddedNats, EmbeddedPostgres
from janus_common.logging import configure

SCRIPTS = Path(sysconfig.get_path("scripts"))


def name(n: int) -> str:
    return f"SIM{n:04d}"


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=1000)
    args = ap.parse_args()
    configure("harmony-sim-bench", level="WARNING")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with EmbeddedNats(tmp / "nats", die_with_parent=True) as nats_server, \
                EmbeddedPostgres(tmp / "pg", durable=False, die_with_parent=True) as pg:
            admin = await asyncpg.connect(pg.dsn())
            await admin.execute('CREATE DATABASE "janus"')
            await admin.close()
            contracts = [{"con_id": 800000 + n, "symbol": name(n), "sec_type": "STK", "primary_exchange": "NYSE",
                          "local_symbol": name(n), "trading_class": name(n), "long_name": f"SYNTHETIC {n}",
                          "price": 50.0, "valid_exchanges": ["SMART", "NYSE"]} for n in range(args.entries)]
            (tmp / "sim.yaml").write_text(yaml.safe_dump({"contracts": contracts}))
            sim = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "janus_ib_sim.main", "--port", "0", "--config", str(tmp / "sim.yaml"),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            port = None
            while port is None:
                line = await sim.stdout.readline()
                if b"ib_sim_listening" in line:
                    port = json.loads(line)["port"]
            asyncio.ensure_future(sim.stdout.read())
            config = tmp / "config.yaml"
            config.write_text(yaml.safe_dump({
                "accounts": {"ib-1": {"broker": "ib", "ib": {"port": port, "client_id": 11, "account": "DU1000001"}}},
                "registry": {"mappings": [{"symbol": name(n), "asset_class": "EQUITY"} for n in range(args.entries)]},
            }))
            env = {**os.environ, "JANUS_NATS_URL": nats_server.url, "JANUS_PG_DSN": pg.dsn("janus")}
            logs = open(tmp / "services.log", "ab")
            procs = [await asyncio.create_subprocess_exec(str(SCRIPTS / cmd[0]), *cmd[1:], "--config", str(config),
                                                          "--log-level", "WARNING", stdout=logs, stderr=logs, env=env)
                     for cmd in (["janus-registry"], ["janus-ib-gateway", "--account", "ib-1"])]
            nc = await bus.connect(nats_server.url, "bench")
            try:
                await wait_for_instances(nc, "janus-registry", 1, timeout=60)
                await wait_for_instances(nc, "janus-ib-gateway", 1, timeout=60)
                # the gateway answers PING once set up; its IB connection may still be on its way
                while not isinstance(await bus.request(nc, subjects.rpc_lookup("ib"),
                                                       m.LookupRequest(symbol=name(0), asset_class="EQUITY"),
                                                       m.LOOKUP_REPLY, timeout=10), m.LookupUnique):
                    await asyncio.sleep(0.2)
                started = time.perf_counter()
                summary = await bus.request(nc, subjects.RPC_HARMONY, m.HarmonyRequest(), m.HARMONY_REPLY,
                                            timeout=600)
                elapsed = time.perf_counter() - started
                again_started = time.perf_counter()
                again = await bus.request(nc, subjects.RPC_HARMONY, m.HarmonyRequest(), m.HARMONY_REPLY, timeout=600)
                again_elapsed = time.perf_counter() - again_started
            finally:
                await nc.close()
                for p in [*procs, sim]:
                    p.terminate()
                for p in [*procs, sim]:
                    await p.wait()
            ib = summary.per_broker.get("ib")
            print(f"harmony over {args.entries} entries against the IB simulator behind janus-ib-gateway:")
            print(f"  {elapsed:.2f} s, {args.entries / elapsed:.1f} entries/s; ok={summary.ok} "
                  f"checked={ib.checked if ib else 0} filled={ib.filled if ib else 0} "
                  f"ambiguous={ib.ambiguous if ib else 0} not_found={ib.not_found if ib else 0}")
            print(f"  baseline, IB's pacing limit: 50 requests/s = {args.entries / 50:.1f} s for {args.entries} look-ups")
            print(f"  harmony again (nothing missing): {again_elapsed:.3f} s, ok={again.ok}")


if __name__ == "__main__":
    asyncio.run(main())
