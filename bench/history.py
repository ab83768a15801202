"""A large, realistic, correctly chained history written straight into EVENTS and INTENTS (a
module, not a bench: `make bench` skips it). Each order is an intent, its OrderRouted, the
broker's OrderSubmitted, one OrderFilled and the FILLED status, on 10 accounts; each account's
position snapshot follows every 50 orders. Published pipelined (the hash chain is computed here,
as `bus.publish` would), so a million events take seconds, not the hours of one-by-one appends.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

import msgspec
from nats.js import JetStreamContext

from janus_common import chain, msgids, subjects
from janus_common import messages as m

ACCOUNTS = [f"acct-{i}" for i in range(10)]
EVENTS_PER_ORDER = 4
WINDOW = 2_000  # publishes in flight at once


async def write_history(js: JetStreamContext, events: int, *, progress: bool = False) -> int:
    """At least ``events`` events (whole orders); returns how many were written."""
    tips: dict[str, str] = defaultdict(lambda: chain.GENESIS)
    pending: list[asyncio.Future] = []
    written = 0
    positions: dict[str, float] = defaultdict(float)
    started = time.perf_counter()

    async def send(subject: str, message, msg_id: str, *, chained: bool = True) -> None:
        nonlocal written
        if chained:
            message = msgspec.structs.replace(message, prev_hash=tips[subject])
        data = m.encode(message)
        if chained:
            tips[subject] = chain.link(data)
            written += 1
        pending.append(await js.publish_async(subject, data, headers={"Nats-Msg-Id": msg_id}))
        if len(pending) >= WINDOW:
            await asyncio.gather(*pending)
            pending.clear()

    n = 0
    while written < events:
        account = ACCOUNTS[n % len(ACCOUNTS)]
        intent = m.OrderIntent(intent_id=f"h{n}", account=account, symbol="AAPL", side=m.Side.BUY,
                               order_type=m.OrderType.MARKET, qty=1, ts=time.time_ns())
        order = m.PlaceOrder(intent_id=intent.intent_id, account=account, broker=m.Broker.IB, leg=0,
                             symbol="AAPL", side=m.BrokerSide.BUY, qty=1, order_type=m.OrderType.MARKET)
        decision = m.PositionDecision(broker_position=positions[account], in_flight=0,
                                      projected_position=positions[account] + 1, allow_short=False,
                                      locate_required=False, effect=m.PositionEffect.OPEN_LONG)
        evt = subjects.evt_order(account)
        base = {"account": account, "intent_id": intent.intent_id, "broker": m.Broker.IB, "leg": 0}
        await send(subjects.intent(account), intent, msgids.intent(account, intent.intent_id), chained=False)
        await send(evt, m.OrderRouted(account=account, intent_id=intent.intent_id, intent=intent,
                                      broker=m.Broker.IB, decision=decision, orders=[order]),
                   msgids.outcome(account, intent.intent_id))
        await send(evt, m.OrderSubmitted(**base, broker_order_id=str(n)), f"{account}:sub:{n}")
        await send(evt, m.OrderFilled(**base, fill_id=f"x{n}", symbol="AAPL", side=m.BrokerSide.BUY, qty=1,
                                      price=100.0), f"{account}:fill:{n}")
        await send(evt, m.OrderStatusChanged(**base, status=m.OrderState.FILLED, filled=1, remaining=0),
                   f"{account}:st:{n}")
        positions[account] += 1
        if n % 50 == 49:
            await send(subjects.evt_position(account), m.PositionSnapshot(
                account=account, broker=m.Broker.IB,
                positions=[m.Position(symbol="AAPL", asset_class="EQUITY", qty=positions[account], avg_cost=100.0)]),
                f"{account}:pos:{n}")
        n += 1
        if progress and n % 20_000 == 0:
            rate = written / (time.perf_counter() - started)
            print(f"  history: {written:,} events written ({rate:,.0f}/s)", flush=True)
    await asyncio.gather(*pending)
    return written
