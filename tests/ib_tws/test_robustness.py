"""Abuse from raw sockets for a bounded time; the simulator keeps serving a normal client.
Also IB's official client (ibapi) and ib_async's blocking API against it."""

from __future__ import annotations

import asyncio
import json
import random
import sys
import threading
import time
from pathlib import Path

from ib_async import IB, MarketOrder, Stock

from ib_sim_process import listening
from janus_ib_sim import IBSimulator

ROOT = Path(__file__).resolve().parents[2]
IBAPI_PYTHON = ROOT / ".venv-ibapi" / "bin" / "python"


def _frame(fields: list[str]) -> bytes:
    payload = b"".join(f.encode() + b"\0" for f in fields)
    return len(payload).to_bytes(4, "big") + payload


def _garbage(rng: random.Random) -> bytes:
    kind = rng.randrange(7)
    if kind == 0:
        return rng.randbytes(rng.randrange(1, 200))  # noise before any handshake
    hello = b"API\0" + _frame([rng.choice(["v157..178", "v100..120", "v999", "x", ""])])
    start = _frame(["71", "2", str(rng.randrange(100, 10_000)), ""])
    if kind == 1:
        return hello + start + (0xFFFFFFFF).to_bytes(4, "big")  # absurd frame length
    if kind == 2:
        return hello + start + _frame(["3", "1"])[:-3]  # truncated mid-frame, then EOF
    if kind == 3:
        return hello + start + _frame([str(rng.randrange(0, 500))] + [str(rng.random())] * rng.randrange(0, 30))
    if kind == 4:
        return hello + start + b"".join(_frame(["9", "8", "x", *["?"] * rng.randrange(0, 20)]) for _ in range(5))
    if kind == 5:
        return hello + start + len(b"\xff\xfe").to_bytes(4, "big") + b"\xff\xfe"  # not UTF-8
    fields = [str(rng.choice([1, 3, 4, 7, 9, 50, 61, 76])), *(rng.choice(["", "-1", "1e308", "AAPL", "\x01"])
                                                             for _ in range(rng.randrange(0, 40)))]
    return hello + start + _frame(fields)


async def _abuse(port: int, payload: bytes) -> None:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
        writer.write(payload)
        await writer.drain()
        try:
            await asyncio.wait_for(reader.read(65536), 0.05)
        except asyncio.TimeoutError:
            pass
        writer.close()
    except (ConnectionError, asyncio.TimeoutError):
        pass


async def test_fuzzed_frames_leave_the_simulator_serving():
    rng = random.Random(20261124)
    async with IBSimulator(seed=3, tick_interval=0.02) as sim:
        deadline = time.monotonic() + 4.0  # bounded in time and count
        sent = 0
        while time.monotonic() < deadline and sent < 3000:
            await asyncio.gather(*(_abuse(sim.port, _garbage(rng)) for _ in range(10)))
            sent += 10
        ib = IB()
        await ib.connectAsync("127.0.0.1", sim.port, clientId=1, timeout=5, raiseSyncErrors=True)
        try:
            [aapl] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
            trade = ib.placeOrder(aapl, MarketOrder("BUY", 1))
            await asyncio.wait_for(_done(ib, trade), 5)
            assert trade.orderStatus.status == "Filled"
        finally:
            ib.disconnect()
    assert sent >= 100


async def _done(ib: IB, trade) -> None:
    while not trade.isDone():
        await ib.updateEvent


def _sim_in_thread(ready: threading.Event, box: dict, stop: threading.Event) -> None:
    async def main() -> None:
        async with IBSimulator(seed=5, tick_interval=0.02) as sim:
            box["port"] = sim.port
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)

    asyncio.run(main())


def test_ib_async_blocking_api_with_the_simulator_in_another_thread():
    ready, stop, box = threading.Event(), threading.Event(), {}
    thread = threading.Thread(target=_sim_in_thread, args=(ready, box, stop), daemon=True)
    thread.start()
    assert ready.wait(10)
    ib = IB()
    try:
        ib.connect("127.0.0.1", box["port"], clientId=9, timeout=5)
        [msft] = ib.qualifyContracts(Stock("MSFT", "SMART", "USD"))
        trade = ib.placeOrder(msft, MarketOrder("BUY", 3))
        while not trade.isDone():
            ib.waitOnUpdate(timeout=5)
        assert trade.orderStatus.filled == 3
        deadline = time.monotonic() + 5
        while not any(p.contract.conId == msft.conId for p in ib.positions()) and time.monotonic() < deadline:
            ib.waitOnUpdate(timeout=1)  # the position message follows the fill
        assert any(p.contract.conId == msft.conId and p.position == 3 for p in ib.positions())
    finally:
        ib.disconnect()
        stop.set()
        thread.join(5)


async def test_ibs_official_client_connects_qualifies_and_gets_ticks(tmp_path):
    assert IBAPI_PYTHON.exists(), "make setup creates .venv-ibapi with IB's official ibapi (ibapi-stable)"
    sim = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "janus_ib_sim.main", "--port", "0", "--tick-interval", "0.02",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        port = (await asyncio.wait_for(listening(sim), 15))["port"]
        probe = await asyncio.create_subprocess_exec(
            str(IBAPI_PYTHON), str(Path(__file__).with_name("ibapi_probe.py")), str(port),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(probe.communicate(), 60)
        seen = json.loads(out.decode().strip().splitlines()[-1])
        assert seen["ok"], (seen, err.decode()[-2000:])
        assert seen["version"] == 178 and seen["next_id"] is not None
        assert seen["details"] == [{"conId": 265598, "symbol": "AAPL", "primaryExchange": "NASDAQ"}]
        assert seen["ticks"] >= 5 and seen["errors"] == []
    finally:
        sim.terminate()
        await asyncio.wait_for(sim.wait(), 10)


async def test_admin_http_interface(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        admin_port = s.getsockname()[1]
    sim = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "janus_ib_sim.main", "--port", "0", "--admin-port", str(admin_port),
        "--account", "DU7", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        port = (await asyncio.wait_for(listening(sim), 15))["port"]

        async def http(method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
            reader, writer = await asyncio.open_connection("127.0.0.1", admin_port)
            data = json.dumps(body).encode() if body is not None else b""
            writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
            await writer.drain()
            raw = await reader.read()
            writer.close()
            head, _, payload = raw.partition(b"\r\n\r\n")
            return int(head.split()[1]), json.loads(payload)

        # The admin port is bound before the API port: once the API listens, so does it.
        code, state = await http("GET", "/state")
        assert code == 200 and state["port"] == port and list(state["accounts"]) == ["DU7"]
        code, quote = await http("POST", "/price", {"symbol": "AAPL", "price": 201.234})
        assert code == 200 and quote["last"] == 201.23  # on the tick grid
        code, order = await http("POST", "/order", {"symbol": "AAPL", "action": "BUY", "qty": 5, "lmt": 100})
        assert code == 200 and order["status"] == "Submitted"
        code, state = await http("GET", "/state")
        assert [o["perm_id"] for o in state["open_orders"]] == [order["perm_id"]]
        code, err = await http("POST", "/order", {"symbol": "AAPL", "action": "BUY", "qty": 5, "lmt": 100.001})
        assert code == 400 and err["code"] == 110
        code, err = await http("POST", "/scenario", {"name": "nonsense"})
        assert code == 400 and "unknown scenario" in err["error"]
        code, _ = await http("POST", "/scenario", {"name": "farm_down"})
        assert code == 200
    finally:
        sim.terminate()
        await asyncio.wait_for(sim.wait(), 10)
