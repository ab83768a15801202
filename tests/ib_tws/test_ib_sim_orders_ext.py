"""The order surface beyond MKT/LMT/STP: trailing stops, auction orders, times in force, the
session clock, brackets, OCA groups, modifies and whatIf — through unmodified ib_async 2.1.0."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta, timezone

import pytest
from ib_async import IB, LimitOrder, MarketOrder, Order, Stock, StopOrder

from janus_ib_sim import IBSimulator
from janus_ib_sim.admin import serve_admin
from test_ib_sim import errors, until


async def aapl_at(ib: IB, sim, price: float):
    [aapl] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
    sim.set_price("AAPL", price)
    return aapl


async def observed(sim, perm_id: int, client_id: int):
    """The order as a fresh client decodes it from openOrder (ib_async keeps the placing
    client's own Order object and copies only prices and size into it)."""
    observer = IB()
    observer.RaiseRequestErrors = False
    await observer.connectAsync("127.0.0.1", sim.port, clientId=client_id, timeout=5)
    try:
        await observer.reqAllOpenOrdersAsync()
        return next((t for t in observer.openTrades() if t.order.permId == perm_id), None)
    finally:
        observer.disconnect()


def status(trade) -> str:
    return trade.orderStatus.status


# --- trailing stops -----------------------------------------------------------------------


async def test_trail_sell_follows_a_rising_price_and_fills_on_the_way_down(sim, ib):
    aapl = await aapl_at(ib, sim, 190.00)
    trade = ib.placeOrder(aapl, Order(action="SELL", totalQuantity=10, orderType="TRAIL", auxPrice=5.00))
    await until(ib, lambda: status(trade) == "PreSubmitted")
    perm = trade.order.permId
    first = await observed(sim, perm, 20)
    assert first is not None and first.order.orderType == "TRAIL" and first.order.auxPrice == 5.00
    assert 180 <= first.order.trailStopPrice <= 190  # last − 5, give or take the walk

    sim.set_price("AAPL", 200.00)
    after_rise = await observed(sim, perm, 21)
    assert after_rise.order.trailStopPrice >= 195.00  # it followed the price up
    sim.set_price("AAPL", 198.00)
    assert sim.orders[perm].trail_stop >= 195.00  # it never moves down
    assert status(trade) == "PreSubmitted"

    sim.set_price("AAPL", 190.00)  # through the stop: a market order
    await until(ib, trade.isDone)
    assert status(trade) == "Filled" and trade.orderStatus.avgFillPrice < 195.00


async def test_trail_percent_buy_with_an_initial_stop(sim, ib):
    aapl = await aapl_at(ib, sim, 100.00)
    order = Order(action="BUY", totalQuantity=5, orderType="TRAIL", trailingPercent=10.0, trailStopPrice=120.00)
    trade = ib.placeOrder(aapl, order)
    await until(ib, lambda: status(trade) == "PreSubmitted")
    perm = trade.order.permId
    assert sim.orders[perm].trail_stop <= 120.00  # the walk may already have pulled it down
    sim.set_price("AAPL", 80.00)
    seen = await observed(sim, perm, 22)
    assert 87.00 <= seen.order.trailStopPrice <= 88.00 and seen.order.trailingPercent == 10.0
    sim.set_price("AAPL", 90.00)
    await until(ib, trade.isDone)
    assert status(trade) == "Filled"


async def test_trail_limit_becomes_a_limit_below_its_stop(sim, ib):
    aapl = await aapl_at(ib, sim, 190.00)
    order = Order(action="SELL", totalQuantity=10, orderType="TRAIL LIMIT", auxPrice=5.00, lmtPriceOffset=1.00)
    trade = ib.placeOrder(aapl, order)
    await until(ib, lambda: status(trade) == "PreSubmitted")
    perm = trade.order.permId
    sim.set_price("AAPL", 200.00)
    stop = sim.orders[perm].trail_stop
    seen = await observed(sim, perm, 23)
    assert seen.order.orderType == "TRAIL LIMIT" and seen.order.lmtPriceOffset == 1.00
    assert seen.order.trailStopPrice == stop >= 195.00
    sim.set_price("AAPL", 150.00)  # gaps far below the limit: triggered, but not marketable
    await until(ib, lambda: status(trade) == "Submitted")
    assert sim.orders[perm].lmt == pytest.approx(stop - 1.00)
    assert trade.filled() == 0
    sim.set_price("AAPL", stop)
    await until(ib, trade.isDone)
    assert trade.orderStatus.avgFillPrice >= stop - 1.00


async def test_trailing_fields_are_validated_as_ib_does(sim, ib):
    aapl = await aapl_at(ib, sim, 190.00)
    seen = errors(ib)
    both = ib.placeOrder(aapl, Order(action="SELL", totalQuantity=1, orderType="TRAIL", auxPrice=1.0,
                                     trailingPercent=1.0))
    neither = ib.placeOrder(aapl, Order(action="SELL", totalQuantity=1, orderType="TRAIL"))
    pct = ib.placeOrder(aapl, Order(action="SELL", totalQuantity=1, orderType="TRAIL", trailingPercent=100.0))
    tick = ib.placeOrder(aapl, Order(action="SELL", totalQuantity=1, orderType="TRAIL", auxPrice=0.005))
    no_offset = ib.placeOrder(aapl, Order(action="SELL", totalQuantity=1, orderType="TRAIL LIMIT", auxPrice=1.0))
    ids = {t.order.orderId: t for t in (both, neither, pct, tick, no_offset)}
    await until(ib, lambda: {r for r, _, _ in seen} >= set(ids))
    codes = {r: c for r, c, _ in seen}
    assert codes[tick.order.orderId] == 110
    assert all(codes[t.order.orderId] == 321 for t in (both, neither, pct, no_offset))
    assert not any(o.order_type.startswith("TRAIL") for o in sim.orders.values())


# --- the session clock --------------------------------------------------------------------


async def test_moc_and_loc_execute_at_the_close(sim, ib):
    aapl = await aapl_at(ib, sim, 190.00)
    moc = ib.placeOrder(aapl, Order(action="BUY", totalQuantity=10, orderType="MOC"))
    loc_in = ib.placeOrder(aapl, Order(action="BUY", totalQuantity=10, orderType="LOC", lmtPrice=195.00))
    loc_out = ib.placeOrder(aapl, Order(action="BUY", totalQuantity=10, orderType="LOC", lmtPrice=150.00))
    await until(ib, lambda: all(status(t) == "Submitted" for t in (moc, loc_in, loc_out)))
    sim.set_price("AAPL", 191.00)
    assert moc.filled() == 0  # not before the close
    sim.set_price("AAPL", 192.50)
    sim.close_session()
    await until(ib, lambda: moc.isDone() and loc_in.isDone() and loc_out.isDone())
    assert status(moc) == "Filled" and moc.orderStatus.avgFillPrice == 192.50
    assert status(loc_in) == "Filled" and loc_in.orderStatus.avgFillPrice == 192.50
    assert status(loc_out) == "Cancelled"  # its limit did not allow the closing price
    [ticker] = await ib.reqTickersAsync(aapl)
    assert ticker.close == 192.50


async def test_moc_after_the_close_waits_for_the_next_close(sim, ib):
    aapl = await aapl_at(ib, sim, 190.00)
    sim.close_session()
    seen = errors(ib)
    moc = ib.placeOrder(aapl, Order(action="BUY", totalQuantity=5, orderType="MOC"))
    await until(ib, lambda: status(moc) == "PreSubmitted" and any(c == 399 for _, c, _ in seen))
    bad = ib.placeOrder(aapl, Order(action="BUY", totalQuantity=5, orderType="MOC", tif="GTC"))
    await until(ib, bad.isDone)
    assert any(r == bad.order.orderId and c == 113 for r, c, _ in seen)
    sim.open_session()
    await until(ib, lambda: status(moc) == "Submitted")
    sim.set_price("AAPL", 189.00)
    sim.close_session()
    await until(ib, moc.isDone)
    assert status(moc) == "Filled" and moc.orderStatus.avgFillPrice == 189.00


async def test_day_limit_expires_at_the_close_while_gtc_stays(sim, ib):
    aapl = await aapl_at(ib, sim, 190.00)
    day = ib.placeOrder(aapl, LimitOrder("BUY", 10, 150.00))
    gtc = ib.placeOrder(aapl, LimitOrder("BUY", 10, 150.00, tif="GTC"))
    await until(ib, lambda: status(day) == "Submitted" and status(gtc) == "Submitted")
    sim.close_session()
    await until(ib, day.isDone)
    assert status(day) == "Cancelled"
    await until(ib, lambda: status(gtc) == "PreSubmitted")  # held outside the session
    assert sim.snapshot()["session"]["phase"] == "closed"
    sim.set_price("AAPL", 149.00)
    assert gtc.filled() == 0  # no outsideRth: nothing trades after the close
    sim.open_session()
    await until(ib, gtc.isDone)
    assert status(gtc) == "Filled"


async def test_gtd_order_expires_at_its_time(sim, ib):
    aapl = await aapl_at(ib, sim, 190.00)
    soon = (datetime.now(timezone.utc) + timedelta(seconds=2)).replace(microsecond=0)
    later = datetime.now(timezone.utc) + timedelta(hours=2)
    expiring = ib.placeOrder(aapl, LimitOrder("BUY", 10, 150.00, tif="GTD",
                                              goodTillDate=soon.strftime("%Y%m%d-%H:%M:%S")))
    staying = ib.placeOrder(aapl, LimitOrder("BUY", 10, 150.00, tif="GTD",
                                             goodTillDate=later.strftime("%Y%m%d %H:%M:%S UTC")))
    await until(ib, lambda: status(expiring) == "Submitted" and status(staying) == "Submitted")
    seen = await observed(sim, expiring.order.permId, 24)
    assert seen.order.tif == "GTD" and seen.order.goodTillDate == soon.strftime("%Y%m%d-%H:%M:%S")
    await until(ib, expiring.isDone, timeout=10)
    assert status(expiring) == "Cancelled" and time.time() >= soon.timestamp()
    assert status(staying) == "Submitted"


async def test_gtd_in_the_past_or_unreadable_is_refused(sim, ib):
    aapl = await aapl_at(ib, sim, 190.00)
    seen = errors(ib)
    past = (datetime.now(timezone.utc) - timedelta(minutes=5)).strftime("%Y%m%d %H:%M:%S UTC")
    eastern = (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%Y%m%d %H:%M:%S") + " US/Eastern"
    old = ib.placeOrder(aapl, LimitOrder("BUY", 1, 150.00, tif="GTD", goodTillDate=past))
    garbled = ib.placeOrder(aapl, LimitOrder("BUY", 1, 150.00, tif="GTD", goodTillDate="tomorrow"))
    missing = ib.placeOrder(aapl, LimitOrder("BUY", 1, 150.00, tif="GTD"))
    fine = ib.placeOrder(aapl, LimitOrder("BUY", 1, 150.00, tif="GTD", goodTillDate=eastern))
    refused = {t.order.orderId for t in (old, garbled, missing)}
    await until(ib, lambda: {r for r, _, _ in seen} >= refused and status(fine) == "Submitted")
    codes = {r: c for r, c, _ in seen}
    assert codes[old.order.orderId] == 201
    # ib_async takes 321 for a warning (the trade shows ValidationError) — as it does with IB.
    assert codes[garbled.order.orderId] == 321 and codes[missing.order.orderId] == 321
    assert len(sim.orders) == 1


async def test_fok_that_cannot_fill_entirely_is_cancelled(sim, ib):
    aapl = await aapl_at(ib, sim, 190.00)
    touch = sim.quotes[aapl.conId].ask_size
    too_big = ib.placeOrder(aapl, MarketOrder("BUY", touch * 10, tif="FOK"))
    await until(ib, too_big.isDone)
    assert status(too_big) == "Cancelled" and too_big.filled() == 0
    sim.set_price("AAPL", 190.00)
    small = ib.placeOrder(aapl, MarketOrder("BUY", 1, tif="FOK"))
    await until(ib, small.isDone)
    assert status(small) == "Filled"
    away = ib.placeOrder(aapl, LimitOrder("BUY", 1, 150.00, tif="IOC"))
    await until(ib, away.isDone)
    assert status(away) == "Cancelled"


async def test_opening_orders_execute_at_the_open(sim, ib):
    aapl = await aapl_at(ib, sim, 190.00)
    seen = errors(ib)
    opg = ib.placeOrder(aapl, MarketOrder("BUY", 10, tif="OPG"))
    opg_lmt = ib.placeOrder(aapl, LimitOrder("BUY", 10, 150.00, tif="OPG"))
    stp = ib.placeOrder(aapl, StopOrder("BUY", 10, 200.00, tif="OPG"))
    await until(ib, lambda: status(opg) == "PreSubmitted" and status(opg_lmt) == "PreSubmitted" and stp.isDone())
    assert any(r == stp.order.orderId and c == 111 for r, c, _ in seen)  # OPG is for MKT and LMT only
    sim.set_price("AAPL", 185.00)
    assert opg.filled() == 0  # the session is open, but an opening order waits for the next open
    sim.close_session()
    sim.set_price("AAPL", 187.25)
    sim.open_session()
    await until(ib, opg.isDone)
    assert status(opg) == "Filled" and opg.orderStatus.avgFillPrice == 187.25
    assert opg_lmt.filled() == 0  # its limit was below the opening price
    sim.close_session()  # an opening order left over from the open ends with the day
    await until(ib, opg_lmt.isDone)
    assert status(opg_lmt) == "Cancelled"


async def test_outside_rth_orders_work_after_the_close(sim, ib):
    aapl = await aapl_at(ib, sim, 190.00)
    sim.close_session()
    seen = errors(ib)
    extended = ib.placeOrder(aapl, LimitOrder("BUY", 10, 185.00, outsideRth=True, tif="GTC"))
    regular = ib.placeOrder(aapl, LimitOrder("BUY", 10, 185.00, tif="GTC"))
    stop = ib.placeOrder(aapl, StopOrder("BUY", 10, 186.00, tif="GTC"))
    market = ib.placeOrder(aapl, MarketOrder("BUY", 1, outsideRth=True))
    await until(ib, lambda: status(extended) == "Submitted"  # works outside the session
                and all(status(t) == "PreSubmitted" for t in (regular, stop, market)))
    assert any(r == market.order.orderId and c == 2109 for r, c, _ in seen)  # the flag is ignored for MKT
    sim.set_price("AAPL", 184.00)
    await until(ib, extended.isDone)
    assert status(extended) == "Filled"
    sim.set_price("AAPL", 187.00)  # through the stop: outside the session it does not trigger
    assert regular.filled() == 0 and market.filled() == 0 and status(stop) == "PreSubmitted"
    assert (await observed(sim, regular.order.permId, 25)).order.outsideRth is False
    sim.open_session()
    await until(ib, market.isDone)
    assert status(market) == "Filled"


async def test_a_session_ends_by_itself_after_its_length():
    async with IBSimulator(seed=3, tick_interval=0.02, session_length=1.0, session_gap=1.0) as sim:
        ib = IB()
        await ib.connectAsync("127.0.0.1", sim.port, clientId=1, timeout=5)
        try:
            aapl = await aapl_at(ib, sim, 190.00)
            day = ib.placeOrder(aapl, LimitOrder("BUY", 1, 150.00))
            await until(ib, day.isDone, timeout=5)  # the close came by the clock
            assert status(day) == "Cancelled"
            ib.reqMktData(aapl)  # ticks keep the client hearing from the simulator meanwhile
            await until(ib, lambda: sim.hours.is_open, timeout=5)  # and the next session after the gap
            market = ib.placeOrder(aapl, MarketOrder("BUY", 1))
            await until(ib, market.isDone)
            assert status(market) == "Filled"
        finally:
            ib.disconnect()


async def test_admin_http_drives_the_session(sim):
    server = await serve_admin(sim, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    async def call(method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        data = json.dumps(body).encode() if body is not None else b""
        writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        head, _, payload = raw.partition(b"\r\n\r\n")
        return int(head.split()[1]), json.loads(payload)

    try:
        code, state = await call("GET", "/state")
        assert code == 200 and state["session"]["phase"] == "open" and "closes_at" in state["session"]
        closes = datetime.fromisoformat(state["session"]["closes_at"])
        assert timedelta(hours=6, minutes=29) < closes - datetime.now(timezone.utc) <= timedelta(hours=6, minutes=30)
        code, session = await call("POST", "/session", {"action": "close"})
        assert code == 200 and session["phase"] == "closed" and "opens_at" in session
        assert sim.hours.phase == "closed"
        code, session = await call("POST", "/session", {"action": "open"})
        assert code == 200 and session["phase"] == "open"
        code, _ = await call("POST", "/session", {"action": "nap"})
        assert code == 400
    finally:
        server.close()


# --- brackets, OCA, untransmitted ----------------------------------------------------------


async def test_bracket_children_wait_for_the_parent_then_one_cancels_the_other(sim, ib):
    aapl = await aapl_at(ib, sim, 190.00)
    bracket = ib.bracketOrder("BUY", 10, limitPrice=180.00, takeProfitPrice=200.00, stopLossPrice=160.00)
    parent, profit, loss = (ib.placeOrder(aapl, o) for o in bracket)
    await until(ib, lambda: status(parent) == "Submitted" and status(profit) == "PreSubmitted"
                and status(loss) == "PreSubmitted")
    sim.set_price("AAPL", 201.00)  # the take-profit's price, but its parent has not filled
    assert profit.filled() == 0 and status(profit) == "PreSubmitted"
    seen = await observed(sim, profit.order.permId, 26)
    assert seen.order.parentId == parent.order.orderId

    sim.set_price("AAPL", 179.00)
    await until(ib, lambda: parent.isDone() and status(profit) == "Submitted")
    assert status(parent) == "Filled" and status(loss) == "PreSubmitted"  # the stop waits for its trigger
    sim.set_price("AAPL", 201.00)
    await until(ib, lambda: profit.isDone() and loss.isDone())
    assert status(profit) == "Filled" and status(loss) == "Cancelled"
    assert sim.accounts["DU1000001"].holdings[aapl.conId].qty == 0


async def test_a_cancelled_parent_cancels_its_children(sim, ib):
    aapl = await aapl_at(ib, sim, 190.00)
    parent, profit, loss = (ib.placeOrder(aapl, o) for o in ib.bracketOrder("BUY", 5, 150.00, 200.00, 140.00))
    await until(ib, lambda: status(parent) == "Submitted" and status(loss) == "PreSubmitted")
    ib.cancelOrder(parent.order)
    await until(ib, lambda: parent.isDone() and profit.isDone() and loss.isDone())
    assert {status(parent), status(profit), status(loss)} == {"Cancelled"}


async def test_an_untransmitted_order_stays_pending_submit(sim, ib):
    aapl = await aapl_at(ib, sim, 190.00)
    held = ib.placeOrder(aapl, LimitOrder("BUY", 10, 195.00, transmit=False))  # marketable, if it were sent
    sim.set_price("AAPL", 190.00)
    await ib.reqOpenOrdersAsync()
    assert status(held) == "PendingSubmit" and held.filled() == 0
    assert held.order.permId == 0 and (1, held.order.orderId) in sim.staged
    ib.cancelOrder(held.order)
    await until(ib, held.isDone)
    assert status(held) == "Cancelled" and not sim.staged


async def test_oca_group_of_two_one_fill_cancels_the_other(sim, ib):
    aapl = await aapl_at(ib, sim, 190.00)
    near, far = ib.oneCancelsAll([LimitOrder("BUY", 10, 180.00), LimitOrder("BUY", 10, 170.00)], "exit-1", 1)
    a, b = ib.placeOrder(aapl, near), ib.placeOrder(aapl, far)
    await until(ib, lambda: status(a) == "Submitted" and status(b) == "Submitted")
    seen = await observed(sim, b.order.permId, 27)
    assert seen.order.ocaGroup == "exit-1" and seen.order.ocaType == 1
    sim.set_price("AAPL", 179.00)
    await until(ib, lambda: a.isDone() and b.isDone())
    assert status(a) == "Filled" and status(b) == "Cancelled"
    completed = {t.order.permId: t for t in await ib.reqCompletedOrdersAsync(False)}
    assert completed[b.order.permId].order.ocaGroup == "exit-1" and completed[b.order.permId].order.ocaType == 1
    assert completed[b.order.permId].orderStatus.status == "Cancelled"


async def test_an_attached_trailing_stop_trails_from_when_its_parent_fills(sim, ib):
    aapl = await aapl_at(ib, sim, 190.00)
    parent = LimitOrder("BUY", 10, 180.00, orderId=ib.client.getReqId(), transmit=False)
    trail = Order(action="SELL", totalQuantity=10, orderType="TRAIL", auxPrice=3.00, parentId=parent.orderId,
                  orderId=ib.client.getReqId())
    p, t = ib.placeOrder(aapl, parent), ib.placeOrder(aapl, trail)
    await until(ib, lambda: status(p) == "Submitted" and status(t) == "PreSubmitted")
    sim.set_price("AAPL", 179.00)  # below the stop it had at placement (about 187): it must not fire
    await until(ib, p.isDone)
    assert status(t) == "PreSubmitted" and 175.00 <= sim.orders[t.order.permId].trail_stop <= 176.50
    sim.set_price("AAPL", 170.00)
    await until(ib, t.isDone)
    assert status(t) == "Filled"
    completed = {c.order.permId: c for c in await ib.reqCompletedOrdersAsync(False)}
    done = completed[t.order.permId].order
    assert done.orderType == "TRAIL" and done.auxPrice == 3.00 and 175.00 <= done.trailStopPrice <= 176.50


# --- modify -------------------------------------------------------------------------------


async def test_modify_a_working_limit_then_it_fills_at_the_new_price(sim, ib):
    aapl = await aapl_at(ib, sim, 190.00)
    trade = ib.placeOrder(aapl, LimitOrder("BUY", 10, 150.00, tif="DAY"))
    await until(ib, lambda: status(trade) == "Submitted")
    trade.order.lmtPrice = 170.00
    trade.order.totalQuantity = 12
    trade.order.tif = "GTC"
    ib.placeOrder(aapl, trade.order)
    await until(ib, lambda: sim.orders[trade.order.permId].lmt == 170.00)
    [mine] = [t for t in ib.openTrades() if t.order.permId == trade.order.permId]
    assert mine.order.lmtPrice == 170.00 and mine.order.totalQuantity == 12
    seen = await observed(sim, trade.order.permId, 28)
    assert seen.order.lmtPrice == 170.00 and seen.order.tif == "GTC"
    sim.set_price("AAPL", 169.00)
    await until(ib, trade.isDone)
    assert status(trade) == "Filled" and trade.filled() == 12


async def test_modify_a_trail_size_keeps_its_stop_a_new_amount_restarts_it(sim, ib):
    aapl = await aapl_at(ib, sim, 190.00)
    trade = ib.placeOrder(aapl, Order(action="SELL", totalQuantity=5, orderType="TRAIL", auxPrice=2.00))
    await until(ib, lambda: status(trade) == "PreSubmitted")
    perm = trade.order.permId
    sim.set_price("AAPL", 200.00)
    high = sim.orders[perm].trail_stop
    assert high >= 198.00
    sim.set_price("AAPL", 199.00)  # below the high, above the stop
    trade.order.totalQuantity = 7
    ib.placeOrder(aapl, trade.order)
    await until(ib, lambda: sim.orders[perm].qty == 7)
    assert sim.orders[perm].trail_stop >= high  # only the size changed: the trail goes on
    trade.order.auxPrice = 10.00
    ib.placeOrder(aapl, trade.order)
    await until(ib, lambda: sim.orders[perm].aux == 10.00)
    assert 188.00 <= sim.orders[perm].trail_stop <= 190.00  # from the market (about 199) again, 10 below
    seen = await observed(sim, perm, 29)
    assert seen.order.auxPrice == 10.00 and seen.order.trailStopPrice == sim.orders[perm].trail_stop


async def test_modify_refusals_filled_cancelled_and_changed_side(sim, ib):
    aapl = await aapl_at(ib, sim, 190.00)
    seen = errors(ib)
    filled = ib.placeOrder(aapl, MarketOrder("BUY", 5))
    await until(ib, filled.isDone)
    # ib_async refuses to re-place a finished trade itself; the wire request is what a client sends.
    ib.client.placeOrder(filled.order.orderId, aapl, MarketOrder("BUY", 6))
    await until(ib, lambda: any(r == filled.order.orderId for r, _, _ in seen))
    assert [(c, t) for r, c, t in seen if r == filled.order.orderId][0][0] == 104
    seen.clear()
    ib.client.cancelOrder(filled.order.orderId, "")
    await until(ib, lambda: any(r == filled.order.orderId for r, _, _ in seen))
    assert [c for r, c, _ in seen if r == filled.order.orderId] == [10148]

    cancelled = ib.placeOrder(aapl, LimitOrder("BUY", 5, 150.00))
    await until(ib, lambda: status(cancelled) == "Submitted")
    ib.cancelOrder(cancelled.order)
    await until(ib, cancelled.isDone)
    seen.clear()
    ib.client.placeOrder(cancelled.order.orderId, aapl, LimitOrder("BUY", 5, 151.00))
    await until(ib, lambda: any(r == cancelled.order.orderId for r, _, _ in seen))
    assert [c for r, c, _ in seen if r == cancelled.order.orderId] == [201]

    working = ib.placeOrder(aapl, LimitOrder("BUY", 5, 150.00))
    await until(ib, lambda: status(working) == "Submitted")
    ib.client.placeOrder(working.order.orderId, aapl, LimitOrder("SELL", 5, 250.00, orderId=working.order.orderId))
    await until(ib, lambda: any(r == working.order.orderId for r, _, _ in seen))
    assert [c for r, c, _ in seen if r == working.order.orderId] == [105]
    assert sim.orders[working.order.permId].action == "BUY" and sim.orders[working.order.permId].lmt == 150.00


# --- whatIf -------------------------------------------------------------------------------


async def test_what_if_reports_margin_and_commission_and_changes_nothing(sim, ib):
    sim.set_price("AAPL", 190.00)
    orders_before, cash_before = dict(sim.orders), sim.accounts["DU1000001"].cash
    state = await asyncio.wait_for(ib.whatIfOrderAsync(Stock("AAPL", "SMART", "USD"), MarketOrder("BUY", 100)), 5)
    assert state.commission > 0 and state.commissionCurrency == "USD"
    assert float(state.initMarginChange) > 0
    assert float(state.initMarginAfter) == pytest.approx(float(state.initMarginBefore) + float(state.initMarginChange))
    assert float(state.initMarginChange) == pytest.approx(100 * 190.00 * 0.25, rel=0.02)
    assert sim.orders == orders_before and sim.accounts["DU1000001"].cash == cash_before
    assert not ib.openTrades()


async def test_what_if_is_refused_like_a_real_order(sim, ib):
    sim.set_price("AAPL", 190.00)
    seen = errors(ib)
    too_big = await asyncio.wait_for(ib.whatIfOrderAsync(Stock("AAPL", "SMART", "USD"),
                                                         MarketOrder("BUY", 1_000_000)), 5)
    off_tick = await asyncio.wait_for(ib.whatIfOrderAsync(Stock("AAPL", "SMART", "USD"),
                                                          LimitOrder("BUY", 1, 190.001)), 5)
    assert not too_big and not off_tick  # ib_async ends a failed whatIf with no state (an empty result)
    assert [c for _, c, _ in seen] == [201, 110]
