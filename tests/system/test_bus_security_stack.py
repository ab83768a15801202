"""Issue 14's acceptance on what `make run` runs: the stack's NATS refuses a connection without
credentials; `demo-client` (config.yaml.example's client) trades ib-1 with its generated seed
but cannot publish a route or a fill, purge EVENTS, or read ib-2's events, and nothing of those
attempts is stored; every `janus` command still works as the operator."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import nats
import nats.errors
import pytest

from bus_probe import Probe
from cli_runner import janus
from janus_client.client import ends_order
from janus_common import bus, subjects
from janus_common import messages as m
from janus_common.streams import EVENTS_STREAM, ROUTES_STREAM
from stack_runner import start_stack

pytestmark = pytest.mark.system


async def test_demo_client_trades_its_account_and_is_refused_everything_else(tmp_path):
    stack = await start_stack(tmp_path)
    url = stack.nats_url
    creds = Path(stack.summary["credentials"])
    try:
        for name in ("operator", "demo-client", "router", "gateway-ib-1", "supervisor"):
            seed = creds / f"{name}.nk"
            assert seed.stat().st_mode & 0o777 == 0o600, name
        assert creds.stat().st_mode & 0o777 == 0o700

        said: list[str] = []

        async def heard(exc: Exception) -> None:
            said.append(str(exc))

        with pytest.raises(nats.errors.Error):
            await nats.connect(url, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=2,
                               error_cb=heard)
        assert any("Authorization Violation" in s for s in said), said

        client = await Probe.connect(url, creds / "demo-client.nk")
        try:
            mine = await client.nc.subscribe(subjects.evt_order("ib-1"))
            await client.nc.flush()
            intent = m.OrderIntent(account="ib-1", symbol="AAPL", side=m.Side.BUY, order_type=m.OrderType.MARKET, qty=3)
            await bus.publish(client.js, subjects.intent("ib-1"), intent, msg_id=f"ib-1:{intent.intent_id}")

            async def until_filled() -> list[object]:
                seen = []
                while True:
                    event = m.ORDER_EVENTS.decode((await mine.next_msg(timeout=60)).data)
                    if getattr(event, "intent_id", None) == intent.intent_id:
                        seen.append(event)
                        if ends_order(event):
                            return seen

            events = await asyncio.wait_for(until_filled(), 90)
            assert isinstance(events[0], m.OrderRouted), events
            assert isinstance(events[-1], m.OrderStatusChanged) and events[-1].status is m.OrderState.FILLED, events

            forged = m.OrderFilled(account="ib-1", intent_id="forged-by-client", broker=m.Broker.IB, leg=0,
                                   fill_id="forged", symbol="AAPL", side=m.Side.BUY, qty=1e6, price=0.01)
            await client.publish_refused(subjects.route("ib", "ib-1"), b"forged route")
            await client.publish_refused(subjects.evt_order("ib-1"), m.encode(forged))
            await client.publish_refused("$JS.API.STREAM.PURGE.EVENTS", b"{}", reply=client.nc.new_inbox())
            await client.subscribe_refused(subjects.evt_order("ib-2"))
            assert client.nc.is_connected
        finally:
            await client.close()

        # Nothing of it was stored: no route but the router's, no forged fill, EVENTS not purged.
        operator = await bus.connect(url, "inspector", initial_attempts=3)
        try:
            js = operator.jetstream()
            stored = await bus.stored(js, EVENTS_STREAM, subjects.evt_order("ib-1"))
            decoded = [m.ANY_EVENT.decode(r.data) for r in stored]
            assert not any(getattr(e, "intent_id", None) == "forged-by-client" for e in decoded)
            assert any(getattr(e, "intent_id", None) == intent.intent_id for e in decoded)  # not purged
            routes = await js.stream_info(ROUTES_STREAM)
            # Ever stored: the router's one route, nothing else (whether the gateway's ack has
            # taken it off the work queue yet is a race with the fill it reported).
            assert routes.state.last_seq == 1, routes.state
        finally:
            await operator.close()

        # Every janus command works as the operator (the CLI finds .janus/nats/operator.nk).
        code, out = await janus(url, "status", timeout=30)
        assert code == 0 and "janus-router" in out, out
        code, out = await janus(url, "halt", "ib-2", "--reason", "security test", timeout=30)
        assert code == 0 and "HALTED" in out, out
        code, out = await janus(url, "resume", "ib-2", timeout=30)
        assert code == 0 and "ACTIVE" in out, out
        code, out = await janus(url, "order", "--account", "ib-1", "SELL", "AAPL", "3", "--wait", timeout=90)
        assert code == 0 and "FILLED" in out, out
        code, out = await janus(url, "resolve", "MSFT", timeout=30)
        assert code == 0, out
        code, out = await janus(url, "positions", timeout=30)
        assert code == 0, out
        code, out = await janus(url, "audit", "replay", timeout=120)
        assert code == 0 and "OK" in out, out
    finally:
        stack.proc.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(stack.proc.wait(), 30)
        await stack.drain
    assert code == 0, stack.tail()
