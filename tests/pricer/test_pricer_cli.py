"""`janus positions` and `janus watch` over a running pricer."""

from __future__ import annotations

import asyncio
import json
import sysconfig
from pathlib import Path

import pytest
from cli_runner import janus

from janus_common import bus, subjects
from janus_common import messages as m

pytestmark = pytest.mark.integration
JANUS = Path(sysconfig.get_path("scripts")) / "janus"


async def test_positions_and_watch_show_valuations_with_provenance(js, nc, nats_url, pricer_factory):
    async with pricer_factory():
        code, out = await janus(nats_url, "positions")
        assert code == 1  # nothing valued yet: says so, exit 1
        watcher = await asyncio.create_subprocess_exec(
            str(JANUS), "--nats-url", nats_url, "--json", "watch", "--account", "wb-1",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        await bus.publish(js, subjects.evt_position("wb-1"), m.PositionSnapshot(
            account="wb-1", broker=m.Broker.WEBULL,
            positions=[m.Position(symbol="AAPL", asset_class="EQUITY", qty=7, avg_cost=180.0)]))
        await nc.publish(subjects.md_tick("AAPL"), m.encode(m.Tick(symbol="AAPL", source=m.Broker.IB, last=190.0,
                                                                    bid=189.99, ask=190.01)))
        try:
            # The broker's position is shown at once (unvalued), then valued when the pricer is.
            seen = []
            while not seen or seen[-1]["positions"][0]["valued"] != "VALUED":
                [live] = json.loads(await asyncio.wait_for(watcher.stdout.readline(), 20))
                assert live["account"] == "wb-1" and live["positions"][0]["qty"] == 7
                seen.append(live)
        finally:
            watcher.terminate()
            await watcher.wait()

        code, out = await janus(nats_url, "--json", "positions", "--account", "wb-1")
        assert code == 0
        [valuation] = json.loads(out)
        [aapl] = valuation["positions"]
        assert aapl["qty"] == 7 and aapl["price"] == 190.0 and aapl["derived"] is True  # IB price, Webull position
        assert aapl["market_value"] == pytest.approx(1330.0) and aapl["unrealized_pnl"] == pytest.approx(70.0)
        code, table = await janus(nats_url, "positions")
        assert code == 0 and "AAPL" in table and "wb-1" in table and "derived" in table.lower()
