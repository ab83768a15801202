"""Order helpers over the SDK's v3 order API, and the unsigned /_sim admin interface."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

from webull.core.exception.exceptions import ServerException


def new_order(symbol: str, side: str, qty: int | str, order_type: str = "MARKET", *, tif: str = "DAY",
              limit: str | None = None, stop: str | None = None, coid: str | None = None) -> dict[str, Any]:
    order = {
        "combo_type": "NORMAL", "client_order_id": coid or uuid.uuid4().hex, "symbol": symbol,
        "instrument_type": "EQUITY", "market": "US", "side": side, "order_type": order_type,
        "quantity": str(qty), "time_in_force": tif, "entrust_type": "QTY", "support_trading_session": "CORE",
    }
    if limit is not None:
        order["limit_price"] = limit
    if stop is not None:
        order["stop_price"] = stop
    return order


def place(trade, account_id: str, *args: Any, **kw: Any) -> str:
    order = new_order(*args, **kw)
    res = trade.order_v3.place_order(account_id, [order])
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["client_order_id"] == order["client_order_id"] and body["order_id"]
    return order["client_order_id"]


def detail(trade, account_id: str, coid: str) -> dict[str, Any]:
    res = trade.order_v3.get_order_detail(account_id, coid)
    assert res.status_code == 200
    group = res.json()
    assert group["client_order_id"] == coid
    return group["orders"][0]


def position(trade, account_id: str, symbol: str) -> dict[str, Any] | None:
    rows = trade.account_v2.get_account_position(account_id).json()
    return next((r for r in rows if r["symbol"] == symbol), None)


def server_error(fn: Callable[[], Any]) -> ServerException:
    try:
        fn()
    except ServerException as exc:
        return exc
    raise AssertionError("expected a ServerException")


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
    """Poll a REST view until it satisfies ``predicate`` (how a client without events learns)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(interval)


def admin(http_port: int, method: str, name: str, body: dict | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(f"http://127.0.0.1:{http_port}/_sim/{name}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())
