"""Shared helpers of the IB gateway tests (a module, not conftest: imported by name)."""

from __future__ import annotations

import contextlib
import uuid

from contract_months import front
from janus_common import bus, subjects
from janus_common import messages as m
from janus_common.config import from_dict
from gateway_harness import serving
from janus_gateway import kernel
from janus_ib_gateway.main import ib_arguments, setup


def new_id() -> str:
    return uuid.uuid4().hex


def config(port: int, **extra: dict) -> dict:
    return {
        **extra,
        "accounts": {
            "ib-1": {"broker": "ib", "allow_short": True,
                     "ib": {"host": "127.0.0.1", "port": port, "client_id": 11, "account": "DU1000001"}},
            "ib-2": {"broker": "ib", "ib": {"host": "127.0.0.1", "port": port, "client_id": 12, "account": "DU1000002"}},
        },
        "market_data_account": "ib-1",
    }


@contextlib.asynccontextmanager
async def running_gateway(nats_url: str, port: int, alias: str = "ib-1", **extra: dict):
    """``extra``: more top-level config sections."""
    args = kernel.namespace(ib_arguments, nats_url=nats_url, account=alias, heartbeat=0.5, dead_after=1.0,
                            route_ack_wait=3.0)
    async with serving("janus-ib-gateway", setup, args, from_dict(config(port, **extra), env={}),
                       metadata={"account": alias}, timeout=30) as ctx:
        yield ctx


AAPL = m.IbContract(symbol="AAPL", sec_type="STK", exchange="SMART", con_id=265598, primary_exchange="NASDAQ")
ES_MONTH = front("ES")  # today's front ES contract, as the IB simulator lists it
ES = m.IbContract(symbol="ES", sec_type="FUT", exchange="CME", con_id=ES_MONTH.con_id,
                  contract_month=ES_MONTH.yyyymm, multiplier=50.0)


def place(intent_id: str, **kw) -> m.PlaceOrder:
    base = dict(intent_id=intent_id, account="ib-1", broker=m.Broker.IB, symbol="AAPL", side=m.BrokerSide.BUY,
                order_type=m.OrderType.MARKET, qty=10.0, ib=AAPL)
    base.update(kw)
    return m.PlaceOrder(**base)


async def route(js, order, account="ib-1"):
    await bus.publish(js, subjects.route("ib", account), order, msg_id=getattr(order, "order_key", None))
