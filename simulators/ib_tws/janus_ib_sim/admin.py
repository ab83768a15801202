"""The control interface over HTTP (JSON), for people and scripts driving a running simulator.

    GET  /state                               accounts, open orders, clients, stats, and the trading
                                              session: {"phase": "open" | "closed", "since",
                                              "closes_at" (open) | "opens_at" (closed)}, UTC ISO times
    POST /session      {"action": "close"}    the close now: MOC/LOC execute at the last price,
                                              DAY orders expire; outside the session only
                                              outsideRth LMT / STP LMT orders work
    POST /session      {"action": "open"}     the next session opens now: OPG orders execute at
                                              the last price; it closes by itself after its length
    POST /price        {"symbol": "AAPL", "price": 191.25}
    POST /order        {"symbol": "AAPL", "action": "BUY", "qty": 100, "type": "LMT", "lmt": 190}
    POST /scenario     {"name": "connection_lost" | "connection_restored" | "farm_down" | "farm_up" |
                        "require_subscription" | "delayed_only" | "hold_for_locate" |
                        "withhold_commissions" | "duplicate_status" | "drop_on_place" | "freeze" |
                        "restart", ...arguments}
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import structlog

from .book import OrderError
from .simulator import IBSimulator

log = structlog.get_logger()


async def _scenario(sim: IBSimulator, body: dict[str, Any]) -> Any:
    name = body.get("name")
    if name == "connection_lost":
        sim.connection_lost()
    elif name == "connection_restored":
        sim.connection_restored(data_lost=bool(body.get("data_lost")))
    elif name == "farm_down":
        sim.farm_down()
    elif name == "farm_up":
        sim.farm_up()
    elif name == "require_subscription":
        sim.require_subscription(body["symbol"])
    elif name == "delayed_only":
        sim.delayed_only(body["symbol"])
    elif name == "hold_for_locate":
        sim.hold_next_short_for_locate(int(body.get("count", 1)))
    elif name == "withhold_commissions":
        sim.withhold_commission_reports(int(body.get("count", 1)))
    elif name == "drop_on_place":
        sim.drop_on_place(str(body["order_ref"]))
    elif name == "freeze":
        sim.freeze(bool(body.get("frozen", True)))
    elif name == "duplicate_status":
        sim.duplicate_status(int(body["perm_id"]))
    elif name == "restart":
        await sim.restart(float(body.get("downtime", 0.5)))
    else:
        raise KeyError(f"unknown scenario {name!r}")
    return {"ok": True, "scenario": name}


async def handle(sim: IBSimulator, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    try:
        if method == "GET" and path == "/state":
            return 200, sim.snapshot()
        if method == "POST" and path == "/price":
            q = sim.set_price(body["symbol"], float(body["price"]))
            return 200, {"bid": q.bid, "ask": q.ask, "last": q.last}
        if method == "POST" and path == "/order":
            o = sim.external_order(body["symbol"], str(body["action"]).upper(), float(body["qty"]),
                                   str(body.get("type", "LMT")).upper(), body.get("lmt"), body.get("aux"),
                                   body.get("account", ""), body.get("order_ref", ""))
            return 200, {"perm_id": o.perm_id, "status": o.status}
        if method == "POST" and path == "/session":
            action = body.get("action")
            if action == "close":
                sim.close_session()
            elif action == "open":
                sim.open_session()
            else:
                raise ValueError(f"action must be 'open' or 'close', not {action!r}")
            return 200, sim.snapshot()["session"]
        if method == "POST" and path == "/scenario":
            return 200, await _scenario(sim, body)
        return 404, {"error": f"no route {method} {path}"}
    except OrderError as exc:
        return 400, {"error": exc.text, "code": exc.code}
    except (KeyError, ValueError, TypeError) as exc:
        return 400, {"error": str(exc)}


async def serve_admin(sim: IBSimulator, host: str, port: int) -> asyncio.base_events.Server:
    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            length = next((int(l.split(":", 1)[1]) for l in lines[1:] if l.lower().startswith("content-length:")), 0)
            raw = await reader.readexactly(length) if length else b""
            body = json.loads(raw) if raw else {}
            status, payload = await handle(sim, method.upper(), path, body if isinstance(body, dict) else {})
        except (ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError) as exc:
            status, payload = 400, {"error": f"bad request: {exc}"}
        data = json.dumps(payload).encode()
        writer.write(f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode() + data)
        try:
            await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(on_client, host, port)
    log.info("ib_sim_admin_listening", host=host, port=server.sockets[0].getsockname()[1])
    return server
