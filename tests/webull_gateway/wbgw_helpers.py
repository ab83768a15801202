"""Shared helpers of the Webull gateway tests (a module, not conftest: imported by name)."""

from __future__ import annotations

import contextlib
import uuid

from janus_common import bus, subjects
from janus_common import messages as m
from janus_common.config import from_dict
from gateway_harness import serving
from janus_gateway import kernel
from janus_webull_gateway.main import setup, webull_arguments

ALIAS = "wb-1"


def new_id() -> str:
    return uuid.uuid4().hex


def config(sim, poll: float = 0.25) -> dict:
    return {
        "accounts": {
            ALIAS: {"broker": "webull", "allow_short": True,
                    "webull": {"app_key": sim.app_key, "app_secret": sim.app_secret, "account_id": sim.account_id,
                               "host": "127.0.0.1", "port": sim.http_port, "grpc_host": "127.0.0.1",
                               "grpc_port": sim.grpc_port, "tls": False, "poll_interval_s": poll}},
        },
    }


@contextlib.asynccontextmanager
async def running_gateway(nats_url: str, sim, *, poll: float = 0.25, dead_after: float = 2.0):
    args = kernel.namespace(webull_arguments, nats_url=nats_url, account=ALIAS, stream_dead_after=dead_after,
                            route_ack_wait=2.0)
    async with serving("janus-webull-gateway", setup, args, from_dict(config(sim, poll), env={})) as ctx:
        yield ctx


def place(intent_id: str, **kw) -> m.PlaceOrder:
    base = dict(intent_id=intent_id, account=ALIAS, broker=m.Broker.WEBULL, symbol="AAPL", side=m.BrokerSide.BUY,
                order_type=m.OrderType.MARKET, qty=10.0, webull=m.WebullInstrument(symbol="AAPL"))
    base.update(kw)
    if "symbol" in kw and "webull" not in kw:
        base["webull"] = m.WebullInstrument(symbol=kw["symbol"])
    return m.PlaceOrder(**base)


async def route(js, order, account=ALIAS):
    await bus.publish(js, subjects.route("webull", account), order, msg_id=getattr(order, "order_key", None))
