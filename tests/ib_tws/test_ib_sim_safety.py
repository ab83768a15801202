"""What the simulator refuses, as IB does, through unmodified ib_async: prices and sizes no
contract can take, orders beyond the account's buying power, expired and unknown contracts.
Each refusal is an IB error code and the connection stays up."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from ib_async import IB, Future, LimitOrder, MarketOrder, Stock

from contract_months import front, last_year, today
from janus_ib_sim import IBSimulator
from janus_ib_sim.expiries import FUTURE_ROOTS, last_trade


async def until(ib: IB, predicate, timeout: float = 5.0) -> None:
    async def wait() -> None:
        while not predicate():
            await ib.updateEvent
    await asyncio.wait_for(wait(), timeout)


def errors(ib: IB) -> dict[int, tuple[int, str]]:
    seen: dict[int, tuple[int, str]] = {}
    ib.errorEvent += lambda req_id, code, text, contract: seen.setdefault(req_id, (code, text))
    return seen


async def account_values(ib: IB, account: str) -> dict[str, float]:
    await ib.reqAccountSummaryAsync()  # asked afresh each time (ib_async caches the first answer)
    return {v.tag: float(v.value) for v in ib.wrapper.acctSummary.values()
            if v.account == account and v.currency == "USD"}


async def test_bad_values_and_buying_power_get_ib_codes_and_the_connection_stays_up(sim, ib):
    [aapl] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
    [msft] = await ib.qualifyContractsAsync(Stock("MSFT", "SMART", "USD"))
    seen = errors(ib)
    account = "DU1000002"
    power = (await account_values(ib, account))["BuyingPower"]
    price = sim.set_price("MSFT", 420.00).ask
    too_many = int(power / price) + 100

    def order(o):
        o.account = account
        return o

    huge = ib.placeOrder(aapl, order(LimitOrder("BUY", 10, 1e308)))
    infinite = ib.placeOrder(aapl, order(LimitOrder("BUY", 10, float("inf"))))
    negative = ib.placeOrder(aapl, order(MarketOrder("BUY", -5)))
    zero = ib.placeOrder(aapl, order(MarketOrder("BUY", 0)))
    beyond = ib.placeOrder(msft, order(MarketOrder("BUY", too_many)))
    refused = [huge, infinite, negative, zero, beyond]
    await until(ib, lambda: all(t.order.orderId in seen for t in refused))
    codes = {name: seen[t.order.orderId][0] for name, t in zip(("huge", "inf", "neg", "zero", "beyond"), refused)}
    assert codes == {"huge": 110, "inf": 110, "neg": 321, "zero": 434, "beyond": 201}
    assert "EQUITY WITH LOAN VALUE" in seen[beyond.order.orderId][1]
    # ib_async marks 321/434 refusals ValidationError, the others Cancelled: none is live
    assert all(t.orderStatus.status in ("Cancelled", "ValidationError") and not t.fills for t in refused)
    assert not any(o.account == account for o in sim.orders.values())  # nothing was accepted

    assert ib.isConnected()
    fine = ib.placeOrder(aapl, order(MarketOrder("BUY", 10)))
    await until(ib, fine.isDone)
    assert fine.orderStatus.status == "Filled" and fine.orderStatus.filled == 10


async def test_working_orders_count_against_buying_power_and_the_values_agree(sim, ib):
    [msft] = await ib.qualifyContractsAsync(Stock("MSFT", "SMART", "USD"))
    account = "DU1000002"
    seen = errors(ib)
    last = sim.set_price("MSFT", 400.00).last
    power = (await account_values(ib, account))["BuyingPower"]
    qty = int(power * 0.6 / last)  # each alone fits; both do not
    first = LimitOrder("BUY", qty, last - 50)
    first.account = account
    resting = ib.placeOrder(msft, first)
    await until(ib, lambda: resting.orderStatus.status == "Submitted")
    second = LimitOrder("BUY", qty, last - 50)
    second.account = account
    refused = ib.placeOrder(msft, second)
    await until(ib, lambda: refused.order.orderId in seen)
    assert seen[refused.order.orderId][0] == 201
    ib.cancelOrder(resting.order)
    await until(ib, resting.isDone)
    third = LimitOrder("BUY", qty, last - 50)
    third.account = account
    again = ib.placeOrder(msft, third)  # the same order fits once the first is gone
    await until(ib, lambda: again.orderStatus.status == "Submitted")
    ib.cancelOrder(again.order)

    bought = MarketOrder("BUY", 100)
    bought.account = account
    fill = ib.placeOrder(msft, bought)
    await until(ib, fill.isDone)
    v = await account_values(ib, account)
    assert v["InitMarginReq"] > 0
    assert abs(v["AvailableFunds"] - (v["NetLiquidation"] - v["InitMarginReq"])) < 0.02
    assert abs(v["BuyingPower"] - 4 * v["AvailableFunds"]) < 0.1


async def test_live_futures_qualify_and_last_year_does_not(ib):
    seen = errors(ib)
    for root, exchange, count in (("ES", "CME", 4), ("NQ", "CME", 4), ("CL", "NYMEX", 6)):
        for offset in range(count):
            month = front(root, offset)
            [fut] = await ib.qualifyContractsAsync(Future(root, month.yyyymm, exchange))
            assert fut is not None, f"{month.canonical} should be listed"
            assert fut.localSymbol == month.local_symbol and fut.conId == month.con_id
            assert fut.lastTradeDateOrContractMonth == month.last_trade_date
    [via_globex] = await ib.qualifyContractsAsync(Future("ES", front("ES", 1).yyyymm, "GLOBEX"))
    assert via_globex is not None and via_globex.conId == front("ES", 1).con_id
    expired = last_year("ES")
    assert await ib.qualifyContractsAsync(Future("ES", expired.yyyymm, "CME")) == [None]
    assert 200 in {code for code, _ in seen.values()}


async def test_the_calendar_rolls_with_the_clock_and_expired_contracts_answer_200():
    es = next(r for r in FUTURE_ROOTS if r.root == "ES")
    front_es = front("ES")
    expiry = last_trade(es, front_es.year, front_es.month)
    clock = [expiry]
    async with IBSimulator(clock=lambda: clock[0], tick_interval=0.05) as sim:
        ib = IB()
        await ib.connectAsync("127.0.0.1", sim.port, clientId=3, timeout=5)
        try:
            seen = errors(ib)
            [contract] = await ib.qualifyContractsAsync(Future("ES", front_es.yyyymm, "CME"))
            assert contract is not None and contract.conId == front_es.con_id  # its last trading day
            resting = ib.placeOrder(contract, LimitOrder("BUY", 1, 1000.00))
            await until(ib, lambda: resting.orderStatus.status == "Submitted")
            clock[0] = expiry + timedelta(days=1)
            await until(ib, resting.isDone)  # the next tick ends it with its contract
            assert resting.orderStatus.status == "Cancelled" and not resting.fills
            assert seen[resting.order.orderId] == (202, "Order Canceled - reason:contract expired")
            assert await ib.qualifyContractsAsync(Future("ES", front_es.yyyymm, "CME")) == [None]
            trade = ib.placeOrder(contract, MarketOrder("BUY", 1))  # by conId, as a client that kept it
            await until(ib, lambda: trade.order.orderId in seen)
            assert seen[trade.order.orderId][0] == 200 and not trade.fills
            new_front = front("ES", 0, on=clock[0])
            fifth = front("ES", 4, on=expiry)  # not listed yesterday, listed today
            [rolled] = await ib.qualifyContractsAsync(Future("ES", fifth.yyyymm, "CME"))
            assert rolled is not None and new_front.yyyymm != front_es.yyyymm
            [kept] = await ib.qualifyContractsAsync(Future("ES", new_front.yyyymm, "CME"))
            assert kept.conId == front("ES", 1, on=expiry).con_id  # the same contract keeps its conId
            assert ib.isConnected()
        finally:
            ib.disconnect()


def test_today_is_what_the_helper_derives_from():
    assert isinstance(today(), date)
