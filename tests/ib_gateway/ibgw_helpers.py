"""Shared helpers of the IB gateway tests (a module, not conftest: imported by name)."""

from __future__ import annotations

import uuid

from janus_common import bus, subjects
from janus_common import messages as m


def new_id() -> str:
    return uuid.uuid4().hex


AAPL = m.IbContract(symbol="AAPL", sec_type="STK", exchange="SMART", con_id=265598, primary_exchange="NASDAQ")
ES = m.IbContract(symbol="ES", sec_type="FUT", exchange="CME", con_id=551601561, contract_month="202603",
                  multiplier=50.0)


def place(intent_id: str, **kw) -> m.PlaceOrder:
    base = dict(intent_id=intent_id, account="ib-1", broker=m.Broker.IB, symbol="AAPL", side=m.BrokerSide.BUY,
                order_type=m.OrderType.MARKET, qty=10.0, ib=AAPL)
    base.update(kw)
    return m.PlaceOrder(**base)


async def route(js, order, account="ib-1"):
    await bus.publish(js, subjects.route("ib", account), order, msg_id=getattr(order, "order_key", None))
