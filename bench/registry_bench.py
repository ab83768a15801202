"""Registry benchmark: cached resolves over NATS, and harmony over 1,000 entries.

Runs ``janus-registry`` as a real subprocess on embedded NATS and Postgres (temp dir), then:

* cached resolves: sequential round trips (median, p99) and throughput with 32 in flight,
  against a baseline measured in the same run: a bare NATS request/reply echo served by a
  separate process, same payload size;
* harmony over 1,000 entries missing their IB and Webull fields, the look-ups answered by an
  IN-BENCH RESPONDER (a fake IB and Webull gateway answering from a fixed table on real NATS),
  not by the IB simulator behind the IB gateway.

Usage: ``.venv/bin/python bench/registry_bench.py [--seq 3000] [--total 20000] [--entries 1000]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import zlib
from pathlib import Path

from harness import pct
from nats.micro import add_service
from nats.micro.service import EndpointConfig

from janus_common import bus, subjects
from janus_common import messages as m
from janus_common.embedded import EmbeddedNats, EmbeddedPostgres
from janus_common.logging import configure
from janus_common.messages import Broker, IbContract, WebullInstrument

ECHO_SERVER = """
import asyncio, sys, nats
async def main():
    nc = await nats.connect(sys.argv[1])
    async def echo(msg):
        await msg.respond(msg.data)
    await nc.subscribe("bench.echo", queue="echo", cb=echo)
    await nc.flush()
    print("ready", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


async def sequential(call, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        await call()
        out.append((time.perf_counter() - t0) * 1e6)
    return out


async def throughput(call, total: int, inflight: int = 32) -> float:
    left = total

    async def worker():
        nonlocal left
        while left > 0:
            left -= 1
            await call()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(inflight)))
    return total / (time.perf_counter() - t0)


async def serve_lookups(nc, entries: int) -> dict[str, int]:
    calls = {"ib": 0, "webull": 0}

    async def ib(req: m.LookupRequest) -> m.LookupReply:
        calls["ib"] += 1
        n = zlib.crc32(req.symbol.encode()) % 10_000_000
        return m.LookupUnique(candidate=m.LookupCandidate(ib=IbContract(
            symbol=req.symbol, sec_type="STK", exchange="SMART", primary_exchange="NASDAQ",
            currency="USD", con_id=10_000_000 + n, trading_class="NMS")))

    async def webull(req: m.LookupRequest) -> m.LookupReply:
        calls["webull"] += 1
        return m.LookupUnique(candidate=m.LookupCandidate(webull=WebullInstrument(
            symbol=req.symbol, instrument_id=f"9{zlib.crc32(req.symbol.encode())}")))

    for broker, handler in ((Broker.IB, ib), (Broker.WEBULL, webull)):
        service = await add_service(nc, name=f"janus-{broker}-gateway", version="0.0.1")
        await service.add_endpoint(EndpointConfig(name="lookup", subject=subjects.rpc_lookup(broker),
                                                  handler=bus.rpc_handler(m.LOOKUP_REQUEST, handler)))
    return calls


async def wait_line(stream, needle: str, timeout: float = 60) -> None:
    async def read():
        while True:
            line = await stream.readline()
            if not line:
                raise RuntimeError(f"process ended before printing {needle!r}")
            if needle in line.decode(errors="replace"):
                return
    await asyncio.wait_for(read(), timeout)


async def run(args, nats_url: str, dsn: str, tmp: Path) -> None:
    nc = await bus.connect(nats_url, "bench", initial_attempts=3)
    calls = await serve_lookups(nc, args.entries)
    mappings = [{"symbol": "BRK.B", "ib": {"symbol": "BRK B", "sec_type": "STK"}}]
    mappings += [{"symbol": f"B{i:04d}"} for i in range(args.entries)]
    config = tmp / "config.yaml"
    config.write_text(json.dumps({
        "nats": {"url": nats_url}, "postgres": {"dsn": dsn},
        "accounts": {"ib-1": {"broker": "ib", "ib": {"port": 1}}},
        "registry": {"mappings": mappings, "lookup_timeout_s": 10}}))
    registry = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "janus-registry"), "--config", str(config),
        "--nats-url", nats_url, "--log-level", "WARNING", stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL)
    echo = await asyncio.create_subprocess_exec(sys.executable, "-c", ECHO_SERVER, nats_url,
                                                stdout=asyncio.subprocess.PIPE)
    try:
        await wait_line(echo.stdout, "ready")
        deadline = time.monotonic() + 60
        while True:  # another process starting (it pings before its endpoints exist): poll
            try:
                await bus.request(nc, subjects.RPC_RESOLVE, m.ResolveRequest(symbol="BRK.B"),
                                  m.RESOLVE_REPLY, timeout=1)
                break
            except (bus.RpcNoResponders, bus.RpcTimeout):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

        request = m.ResolveRequest(symbol="BRK.B")
        payload = m.encode(request)

        async def resolve():
            reply = await bus.request(nc, subjects.RPC_RESOLVE, request, m.RESOLVE_REPLY)
            assert isinstance(reply, m.Resolved) and reply.source == "cache", reply

        async def echo_call():
            await nc.request("bench.echo", payload, timeout=5)

        for call in (resolve, echo_call):  # warm-up
            await sequential(call, 200)
        r_lat = await sequential(resolve, args.seq)
        e_lat = await sequential(echo_call, args.seq)
        r_tps = await throughput(resolve, args.total)
        e_tps = await throughput(echo_call, args.total)

        print(f"cached resolve, sequential ({args.seq}): median {statistics.median(r_lat):.0f} us, "
              f"p99 {pct(r_lat, 0.99):.0f} us")
        print(f"baseline bare NATS echo, sequential ({args.seq}): median {statistics.median(e_lat):.0f} us, "
              f"p99 {pct(e_lat, 0.99):.0f} us")
        print(f"cached resolve throughput (32 in flight, {args.total}): {r_tps:,.0f}/s; "
              f"echo baseline {e_tps:,.0f}/s; ratio resolve/echo {r_tps / e_tps:.2f}")
        print(f"latency ratio resolve/echo: median {statistics.median(r_lat) / statistics.median(e_lat):.2f}, "
              f"p99 {pct(r_lat, 0.99) / pct(e_lat, 0.99):.2f}")

        t0 = time.perf_counter()
        summary = await bus.request(nc, subjects.RPC_HARMONY, m.HarmonyRequest(requested_by="bench"),
                                    m.HARMONY_REPLY, timeout=300)
        took = time.perf_counter() - t0
        assert isinstance(summary, m.HarmonySummary) and summary.ok, summary
        print(f"harmony over {args.entries + 1} entries against the IN-BENCH RESPONDER "
              f"(fake IB + Webull gateways, not the IB simulator): {took:.2f} s, "
              f"{calls['ib']} IB + {calls['webull']} Webull look-ups, "
              f"filled ib={summary.per_broker['ib'].filled} webull={summary.per_broker['webull'].filled}")
        t0 = time.perf_counter()
        again = await bus.request(nc, subjects.RPC_HARMONY, m.HarmonyRequest(requested_by="bench"),
                                  m.HARMONY_REPLY, timeout=300)
        print(f"harmony again (nothing missing, no look-ups): {time.perf_counter() - t0:.3f} s, "
              f"checked ib={again.per_broker['ib'].checked}")
    finally:
        for proc in (registry, echo):
            if proc.returncode is None:
                proc.terminate()
                await proc.wait()
        await nc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq", type=int, default=3000)
    parser.add_argument("--total", type=int, default=20000)
    parser.add_argument("--entries", type=int, default=1000)
    args = parser.parse_args()
    configure("registry-bench", level="WARNING")
    with tempfile.TemporaryDirectory(prefix="janus-registry-bench-") as tmp:
        tmp_path = Path(tmp)
        with EmbeddedNats(tmp_path / "nats") as server, \
                EmbeddedPostgres(tmp_path / "pg", durable=False) as pg:
            asyncio.run(run(args, server.url, pg.dsn(), tmp_path))


if __name__ == "__main__":
    main()
