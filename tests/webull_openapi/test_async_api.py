"""The asyncio embedding API, with the blocking SDK on worker threads; signed malformed bodies."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timezone

import requests
from webull.trade.trade_client import TradeClient

from conftest import FAST, EventListener, make_api
from helpers import place
from janus_webull_sim import WebullSimulator
from janus_webull_sim.signing import hmac_sign, rest_string_to_sign


async def test_async_with_and_wait_subscribers():
    async with WebullSimulator(FAST, seed=3) as sim:
        trade = await asyncio.to_thread(lambda: TradeClient(make_api(sim)))
        listener = EventListener(sim).start()  # type: ignore[arg-type]
        try:
            await sim.wait_subscribers(1, timeout=10)
            coid = await asyncio.to_thread(place, trade, sim.account_id, "AAPL", "BUY", 1)
            ev = await asyncio.to_thread(listener.next_event, 5.0, client_order_id=coid)
            assert ev["scene_type"] == "FINAL_FILLED"
        finally:
            listener.closing = True
            sim.drop_stream()
            await asyncio.to_thread(listener._thread.join, 5)


def _signed_post(port: int, path: str, body: bytes, secret: str = "sim-app-secret") -> requests.Response:
    headers = {
        "x-app-key": "sim-app-key", "x-signature-version": "1.0", "x-signature-algorithm": "HMAC-SHA256",
        "x-signature-nonce": uuid.uuid4().hex,
        "x-timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    headers["x-signature"] = hmac_sign(rest_string_to_sign(path, headers, "127.0.0.1", [], body), secret)
    return requests.post(f"http://127.0.0.1:{port}{path}", data=body, headers=headers, timeout=5,
                         proxies={"http": None})


def test_signed_but_malformed_bodies(sim):
    res = _signed_post(sim.http_port, "/trading/orders/place", b"{not json")
    assert (res.status_code, res.json()["error_code"]) == (400, "INVALID_JSON")
    res = _signed_post(sim.http_port, "/trading/orders/place", b"[1, 2]")
    assert (res.status_code, res.json()["error_code"]) == (400, "INVALID_PARAMETER")
    res = _signed_post(sim.http_port, "/trading/orders/place", b'{"account_id": 5, "new_orders": []}')
    assert res.status_code == 400 and set(res.json()) == {"error_code", "message"}
    res = _signed_post(sim.http_port, "/trading/orders/nowhere", b"{}")
    assert (res.status_code, res.json()["error_code"]) == (404, "NOT_FOUND")
    res = _signed_post(sim.http_port, "/trading/accounts/list", b"{}")
    assert res.status_code == 405
    res = _signed_post(sim.http_port, "/trading/orders/place", b"{}", secret="nope")
    assert (res.status_code, res.json()["error_code"]) == (401, "INVALID_SIGNATURE")
