"""Janus end to end on the IB side: the real registry (Postgres), router and IB gateways as
processes, the IB simulator as the broker, janus_client as the client; audit clean after."""

from __future__ import annotations

import asyncio
import os
import signal
import sysconfig
from pathlib import Path

import pytest
import yaml

from contract_months import front
from janus_client.client import JanusClient
from janus_client.discovery import wait_for_instances
from janus_common import audit, projections
from janus_common import messages as m
from janus_ib_sim import IBSimulator
from janus_webull_sim import SimConfig, WebullSimulator

pytestmark = pytest.mark.system
SCRIPTS = Path(sysconfig.get_path("scripts"))


def intent(account, side, qty, symbol="AAPL", **kw):
    return m.OrderIntent(account=account, symbol=symbol, side=side, order_type=m.OrderType.MARKET, qty=qty, **kw)


async def test_orders_flow_from_client_to_simulated_brokers_and_back(nats_url, js, pg_dsn, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing the Webull SDK writes lands in the repository
    async with IBSimulator(seed=4, tick_interval=0.02) as sim, \
            WebullSimulator(SimConfig(tick_interval=0.02, ping_interval=0.2), seed=4) as wb:
        config = tmp_path / "config.yaml"
        config.write_text(yaml.safe_dump({
            "postgres": {"dsn": pg_dsn},
            "accounts": {
                "ib-1": {"broker": "ib", "allow_short": True,
                         "ib": {"port": sim.port, "client_id": 11, "account": "DU1000001"}},
                "ib-2": {"broker": "ib", "allow_short": False,
                         "ib": {"port": sim.port, "client_id": 12, "account": "DU1000002"}},
                "wb-1": {"broker": "webull", "allow_short": True,
                         "webull": {"app_key": wb.app_key, "app_secret": wb.app_secret, "account_id": wb.account_id,
                                    "host": "127.0.0.1", "port": wb.http_port, "grpc_host": "127.0.0.1",
                                    "grpc_port": wb.grpc_port, "tls": False, "poll_interval_s": 0.25}},
            },
            "market_data_account": "ib-1",
            # no pricer in this test: the checks that need a reference price are skipped
            "risk": {"require_reference_price": False},
        }))
        env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy")}
        env.update(JANUS_NATS_URL=nats_url, JANUS_PG_DSN=pg_dsn, JANUS_WEBULL_TOKEN_DIR=str(tmp_path / "tokens"))
        commands = [["janus-registry"], ["janus-router"], ["janus-ib-gateway", "--account", "ib-1"],
                    ["janus-ib-gateway", "--account", "ib-2"], ["janus-webull-gateway", "--account", "wb-1"]]
        procs = []
        for n, cmd in enumerate(commands):
            log = open(tmp_path / f"p{n}.log", "ab")
            procs.append(await asyncio.create_subprocess_exec(str(SCRIPTS / cmd[0]), *cmd[1:], "--config", str(config),
                                                              stdout=log, stderr=log, env=env))
            log.close()
        try:
            async with await JanusClient.connect(nats_url) as client:
                snapshots: asyncio.Queue = asyncio.Queue()

                async def on_snapshot(msg):
                    await snapshots.put(m.POSITION_EVENTS.decode(msg.data))

                await client.nc.subscribe("janus.evt.position.ib-2", cb=on_snapshot)
                for name, count in (("janus-registry", 1), ("janus-router", 1), ("janus-ib-gateway", 2),
                                    ("janus-webull-gateway", 1)):
                    assert len(await wait_for_instances(client.nc, name, count, timeout=60)) == count, name

                bought = await client.submit(intent("ib-2", m.Side.BUY, 10), timeout=30)
                assert isinstance(bought, m.OrderRouted), bought
                final = await client.wait_terminal("ib-2", bought.intent_id, timeout=30)
                assert isinstance(final, m.OrderStatusChanged) and final.status is m.OrderState.FILLED

                # Two quick SELLs against one long of 10 on an account without shorts.
                first, second = intent("ib-2", m.Side.SELL, 10), intent("ib-2", m.Side.SELL, 10)
                a, b = await asyncio.gather(client.submit(first, timeout=30), client.submit(second, timeout=30))
                outcomes = sorted([a, b], key=lambda e: isinstance(e, m.OrderRejected))
                assert isinstance(outcomes[0], m.OrderRouted) and outcomes[0].decision.effect is m.PositionEffect.CLOSE_LONG
                assert isinstance(outcomes[1], m.OrderRejected) and outcomes[1].reason is m.RejectReason.SHORT_NOT_ALLOWED

                future = await client.submit(intent("ib-1", m.Side.BUY, 2, symbol=front("ES").canonical), timeout=30)
                assert isinstance(future, m.OrderRouted) and future.orders[0].ib.multiplier == 50.0
                unknown = await client.submit(intent("ib-1", m.Side.BUY, 1, symbol="ZZZZ"), timeout=30)
                assert isinstance(unknown, m.OrderRejected) and unknown.reason is m.RejectReason.UNKNOWN_SYMBOL

                # A buy stop above the market rests until the simulated price reaches it.
                sim.set_price("MSFT", 420.00)
                stop = await client.submit(m.OrderIntent(account="ib-1", symbol="MSFT", side=m.Side.BUY,
                                                         order_type=m.OrderType.STOP, qty=3, stop_price=425.00),
                                           timeout=30)
                assert isinstance(stop, m.OrderRouted) and stop.orders[0].stop_price == 425.00
                orders = await client.follow_orders("ib-1", from_start=True)
                while not ((e := await orders.next(30)).intent_id == stop.intent_id
                           and isinstance(e, m.OrderStatusChanged) and e.status is m.OrderState.PRE_SUBMITTED):
                    pass
                sim.set_price("MSFT", 426.00)
                await orders.close()

                # Webull: a SELL crossing zero becomes a closing SELL and an opening SHORT.
                long5 = await client.submit(intent("wb-1", m.Side.BUY, 5), timeout=30)
                assert (await client.wait_terminal("wb-1", long5.intent_id, timeout=30)).status is m.OrderState.FILLED
                crossing = await client.submit(intent("wb-1", m.Side.SELL, 8), timeout=30)
                assert crossing.decision.effect is m.PositionEffect.CLOSE_LONG_OPEN_SHORT
                assert [(o.side, o.qty) for o in crossing.orders] == [(m.BrokerSide.SELL, 5), (m.BrokerSide.SHORT, 3)]
                legs_filled: set[int] = set()
                wb_orders = await client.follow_orders("wb-1", from_start=True)
                while legs_filled != {0, 1}:
                    e = await wb_orders.next(30)
                    if (e.intent_id == crossing.intent_id and isinstance(e, m.OrderStatusChanged)
                            and e.status is m.OrderState.FILLED):
                        legs_filled.add(e.leg)
                await wb_orders.close()

                for routed in (outcomes[0], future, stop):
                    done = await client.wait_terminal(routed.account, routed.intent_id, timeout=30)
                    assert done.status is m.OrderState.FILLED
                async def flat() -> None:  # the broker reports the long closed
                    while True:
                        snapshot = await snapshots.get()
                        if not any(p.qty for p in snapshot.positions if p.symbol == "AAPL"):
                            return

                await asyncio.wait_for(flat(), 15)
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            codes = [await asyncio.wait_for(p.wait(), 20) for p in procs]
        assert codes == [0, 0, 0, 0, 0]

    from janus_client.audit_cmd import decode_all, read_events
    records = await read_events(js, account=None, since=None)
    ledger = projections.replay(decode_all(records))
    report = audit.check(ledger, chain_breaks=audit.chain_findings(records))
    assert report.clean, report.violations
    assert report.position_differences == []  # fills agree with what the broker reports
    assert (report.routed, report.rejected, report.open_orders) == (6, 2, 0)
