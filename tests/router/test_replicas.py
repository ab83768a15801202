"""Two router replicas (real processes) under a steady intent load; one is killed outright.
Every intent gets exactly one outcome and each account's intents are decided in order."""

from __future__ import annotations

import asyncio
import os
import signal
import sysconfig
from pathlib import Path

import pytest
import yaml
from nats.js.api import DeliverPolicy

from janus_client.discovery import wait_for_instances
from janus_common import bus, subjects
from janus_common import messages as m

pytestmark = pytest.mark.system

ROUTER = Path(sysconfig.get_path("scripts")) / "janus-router"
ACCOUNTS = ["ib-1", "ib-2", "wb-1"]


async def _start_replica(config: Path, nats_url: str, log: Path):
    out = open(log, "ab")
    try:
        return await asyncio.create_subprocess_exec(
            str(ROUTER), "--config", str(config), "--nats-url", nats_url, "--ack-wait", "2",
            stdout=out, stderr=out, env={**os.environ, "JANUS_LOG_LEVEL": "INFO"})
    finally:
        out.close()


async def test_killing_one_of_two_replicas_loses_nothing_and_keeps_order(nc, js, nats_url, tmp_path,
                                                                          router_config, registry_peer):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(router_config))
    replicas = [await _start_replica(config, nats_url, tmp_path / f"router-{i}.log") for i in range(2)]
    try:
        assert len(await wait_for_instances(nc, "janus-router", 2)) == 2

        sent: dict[str, list[str]] = {a: [] for a in ACCOUNTS}
        outcomes: dict[str, list[str]] = {a: [] for a in ACCOUNTS}
        every = asyncio.Event()
        total = 150

        async def on_event(msg):
            event = m.ORDER_EVENTS.decode(msg.data)
            if isinstance(event, (m.OrderRouted, m.OrderRejected)):
                outcomes[event.account].append(event.intent_id)
                if sum(len(v) for v in outcomes.values()) >= total:
                    every.set()

        for n in range(total):
            account = ACCOUNTS[n % len(ACCOUNTS)]
            intent = m.OrderIntent(account=account, symbol="AAPL", side=m.Side.BUY,
                                   order_type=m.OrderType.MARKET, qty=1.0)
            sent[account].append(intent.intent_id)
            await bus.publish(js, subjects.intent(account), intent, msg_id=intent.intent_id)
            if n == total // 3:
                replicas[0].send_signal(signal.SIGKILL)  # dies holding whatever it had
            await asyncio.sleep(0.01)  # a steady load (~100 intents/s), not a synchronisation

        # The audit view: the EVENTS stream itself, read from the start.
        sub = await js.subscribe(subjects.ALL_ORDER_EVENTS, stream="EVENTS", ordered_consumer=True,
                                 deliver_policy=DeliverPolicy.ALL, cb=on_event)
        await asyncio.wait_for(every.wait(), 60)
        await sub.unsubscribe()

        for account in ACCOUNTS:
            assert outcomes[account] == sent[account], f"{account}: outcomes out of order or missing"
        # A replica killed between an intent's outcome and its broker order leaves the order to
        # the replica that gets the intent again after --ack-wait: wait for it, then count.
        deadline = asyncio.get_running_loop().time() + 30
        while (info := await js.stream_info("ROUTES")).state.messages < total:
            assert asyncio.get_running_loop().time() < deadline, info.state
            await asyncio.sleep(0.1)  # polling the stream's count: the condition itself
        assert info.state.messages == total  # one broker order per intent, none doubled
    finally:
        for proc in replicas:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in replicas:
            await asyncio.wait_for(proc.wait(), 15)
    assert replicas[0].returncode == -signal.SIGKILL and replicas[1].returncode == 0
