"""The IB simulator keeps accounts, orders, executions and prices across a restart (`--state`),
seen through unmodified ib_async, and a state file it cannot read is set aside, never fatal."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from ib_async import IB, LimitOrder, MarketOrder, Stock

from ib_sim_process import listening
from janus_ib_sim import IBSimulator, state


async def until(ib: IB, predicate, timeout: float = 5.0) -> None:
    async def wait() -> None:
        while not predicate():
            await ib.updateEvent
    await asyncio.wait_for(wait(), timeout)


async def connected(port: int, client_id: int = 1) -> IB:
    ib = IB()
    await ib.connectAsync("127.0.0.1", port, clientId=client_id, timeout=5)
    return ib


async def test_a_restarted_simulator_has_the_same_books_orders_and_ids(tmp_path):
    path = tmp_path / "ib-sim.state.json"
    async with IBSimulator(seed=3, tick_interval=0.02) as first:
        first.set_price("AAPL", 190.00)
        ib = await connected(first.port)
        [aapl] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
        bought = ib.placeOrder(aapl, MarketOrder("BUY", 10, orderRef="intent-filled", tif="GTC"))
        resting = ib.placeOrder(aapl, LimitOrder("BUY", 5, 150.00, orderRef="intent-resting", tif="GTC"))
        await until(ib, lambda: bought.orderStatus.status == "Filled" and resting.orderStatus.status == "Submitted")
        perm_ids = {bought.order.permId, resting.order.permId}
        ib.disconnect()
        state.save(first, path)

    async with IBSimulator(seed=3, tick_interval=0.02) as second:
        state.load(second, path)
        ib = await connected(second.port)
        try:
            [position] = [p for p in await ib.reqPositionsAsync() if p.contract.symbol == "AAPL"]
            assert position.position == 10 and position.account == "DU1000001"
            open_orders = await ib.reqAllOpenOrdersAsync()
            assert [(t.order.orderRef, t.order.permId) for t in open_orders] == [("intent-resting", resting.order.permId)]
            fills = await ib.reqExecutionsAsync()
            assert [(f.execution.orderRef, f.execution.shares) for f in fills] == [("intent-filled", 10)]
            [again] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
            new = ib.placeOrder(again, MarketOrder("SELL", 4, orderRef="intent-new"))
            await until(ib, lambda: new.orderStatus.status == "Filled")
            assert new.order.permId not in perm_ids and new.order.permId > max(perm_ids)
            assert new.fills[0].execution.execId not in {f.execution.execId for f in fills}
            # The order that rested before the restart still works: it fills when marketable.
            second.set_price("AAPL", 149.00)
            await until(ib, lambda: any(p.contract.symbol == "AAPL" and p.position == 11 for p in ib.positions()))
        finally:
            ib.disconnect()


def test_snapshot_restore_round_trips_and_skips_what_is_not_configured():
    sim = IBSimulator(accounts=[("DU1", 5_000.0), ("DU2", 7_000.0)])
    sim.accounts["DU1"].cash = 1234.5
    data = state.snapshot(sim)
    fewer = IBSimulator(accounts=[("DU1", 1.0)])
    assert state.restore(fewer, data) == ["account DU2"]
    assert fewer.accounts["DU1"].cash == 1234.5 and list(fewer.accounts) == ["DU1"]
    assert state.snapshot(fewer) != data  # DU2 was left out


async def test_the_process_saves_on_sigterm_and_sets_an_unreadable_file_aside(tmp_path):
    path = tmp_path / "state.json"

    async def run_once() -> int:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "janus_ib_sim.main", "--port", "0", "--account", "DU9", "--state", str(path),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            port = (await asyncio.wait_for(listening(proc), 15))["port"]
            ib = await connected(port, client_id=3)
            try:
                [aapl] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
                trade = ib.placeOrder(aapl, MarketOrder("BUY", 1))
                await until(ib, lambda: trade.orderStatus.status == "Filled")
                return sum(p.position for p in await ib.reqPositionsAsync() if p.contract.symbol == "AAPL")
            finally:
                ib.disconnect()
        finally:
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 10) == 0

    assert await run_once() == 1
    assert await run_once() == 2  # the first run's share was kept
    path.write_bytes(b"{not json")
    assert await run_once() == 1  # started fresh
    assert Path(str(path) + ".bad").read_bytes() == b"{not json"
