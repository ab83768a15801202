"""Any field value of a placeOrder message: the session answers (an order or an IB error) and
stays up, nothing malformed enters the book, and the market keeps trading afterwards.

The simulator runs on its own thread; the test speaks the wire protocol over a blocking socket,
so hypothesis drives plain synchronous examples."""

from __future__ import annotations

import asyncio
import math
import socket
import struct
import threading

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ib_async import IB, MarketOrder, Stock

from janus_ib_sim import IBSimulator
from janus_ib_sim.book import MAX_QTY

# A plain AAPL limit order at server version 178: [0] msg id 3, [1] orderId, [2..13] contract,
# [14..15] secId, [16] action, [17] qty, [18] type, [19] lmt, [20] aux, [21] tif, [22] oca,
# [23] account, [24] openClose, [25] origin, [26] orderRef, then the rest of the 114 fields.
TEMPLATE = ["3", "0", "265598", "AAPL", "STK", "", "0.0", "", "", "SMART", "", "USD", "", "", "", "",
            "BUY", "10", "LMT", "150.0", "", "DAY", "", "DU1000001", "O", "0", "fuzz"] + [""] * 87

NASTY = ["", "0", "-0", "-1", "1", "1e308", "-1e308", "1e309", "1.7976931348623157E308", "nan", "NaN", "inf",
         "-inf", "Infinite", "-Infinite", "2147483648", "-2147483649", "99999999999999999999999", "0.001",
         "1e-320", "0x10", "1_000", " 5", "BUY", "SELL", "SSHORT", "MKT", "LMT", "STP", "STP LMT", "GTC", "IOC",
         "AAPL", "ES", "FUT", "OPT", "DU1000002", "DU9", "\u00e9", "A" * 300]
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
VALUE = st.one_of(st.sampled_from(NASTY), TEXT, st.floats().map(repr), st.integers().map(str))
EDITS = st.dictionaries(st.integers(min_value=1, max_value=40), VALUE, min_size=1, max_size=6)


def _frame(fields: list[str]) -> bytes:
    payload = b"".join(f.encode() + b"\0" for f in fields)
    return struct.pack(">I", len(payload)) + payload


class RawClient:
    """Just enough of the TWS client side: handshake, send frames, read frames."""

    def __init__(self, port: int, client_id: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""
        self.sock.sendall(b"API\0" + _frame(["v157..178"]))
        assert self.read()[0] == "178"
        self.sock.sendall(_frame(["71", "2", str(client_id), ""]))
        while self.read()[0] != "9":  # nextValidId: the session is open
            pass

    def read(self) -> list[str]:
        while len(self.buf) < 4 or len(self.buf) < 4 + struct.unpack(">I", self.buf[:4])[0]:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the simulator closed the session")
            self.buf += chunk
        size = struct.unpack(">I", self.buf[:4])[0]
        payload, self.buf = self.buf[4:4 + size], self.buf[4 + size:]
        return payload.decode().split("\0")[:-1]

    def request(self, fields: list[str]) -> list[list[str]]:
        """Send one message and then reqCurrentTime; return what came back before the time:
        everything the simulator answered to the message (it answers in order)."""
        self.sock.sendall(_frame(fields) + _frame(["49", "1"]))
        replies = []
        while (msg := self.read())[0] != "49":
            replies.append(msg)
        return replies


def _run_sim(box: dict, ready: threading.Event, stop: threading.Event) -> None:
    async def main() -> None:
        async with IBSimulator(seed=11, tick_interval=0.01, pacing_limit=None) as sim:
            box["sim"] = sim
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.1)  # a few ticks after the last example: matching must still run
            box["tick_ok"] = _tick_ok(sim)

    asyncio.run(main())


def _tick_ok(sim: IBSimulator) -> bool:
    sim.tick()  # raises if any stored order poisons matching
    return True


def test_any_place_order_field_value_is_answered_and_the_session_survives():
    box: dict = {}
    ready, stop = threading.Event(), threading.Event()
    thread = threading.Thread(target=_run_sim, args=(box, ready, stop), daemon=True)
    thread.start()
    assert ready.wait(10)
    sim: IBSimulator = box["sim"]
    client = RawClient(sim.port, 41)
    next_id = [100]

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
    @given(EDITS)
    def example(edits: dict[int, str]) -> None:
        fields = list(TEMPLATE)
        next_id[0] += 1
        fields[1] = str(next_id[0])
        for index, value in edits.items():
            fields[index] = value
        replies = client.request(fields)
        kinds = {r[0] for r in replies}
        # Every placeOrder is answered: the order (openOrder 5 / orderStatus 3) or an error (4) —
        # but an order sent with transmit=0 is only kept, unanswered, as TWS keeps it.
        assert kinds & {"5", "3", "4"} or (41, next_id[0]) in sim.staged, (fields[:29], replies)
        errors = [r for r in replies if r[0] == "4"]
        assert all(int(e[3]) not in (322,) for e in errors), errors  # no handler failed

    try:
        example()
        # The same session still trades: a well-formed market order on another account fills.
        fields = list(TEMPLATE)
        [valid_id] = [r[2] for r in client.request(["8", "1", "1"]) if r[0] == "9"]  # reqIds
        fields[1], fields[18], fields[19], fields[23] = valid_id, "MKT", "", "DU1000002"
        replies = client.request(fields)
        assert any(r[0] == "3" for r in replies), replies
    finally:
        client.sock.close()
        stop.set()
        thread.join(10)
    assert box.get("tick_ok"), "matching failed after the fuzzed orders"
    for order in sim.orders.values():  # nothing malformed was stored
        assert math.isfinite(order.qty) and 0 < order.qty <= MAX_QTY
        for price in (order.lmt, order.aux):
            assert price is None or (math.isfinite(price) and price > 0)


async def test_a_normal_client_trades_beside_a_hostile_one():
    async with IBSimulator(seed=12, tick_interval=0.02, pacing_limit=None) as sim:
        loop = asyncio.get_running_loop()
        hostile = await loop.run_in_executor(None, RawClient, sim.port, 42)
        try:
            for value in ("1e308", "-5", "nan", "Infinite", "1e999", "99999999999999999999"):
                for index in (1, 17, 19, 20):
                    fields = list(TEMPLATE)
                    fields[1] = str(500 + index)
                    fields[index] = value
                    if index == 20:
                        fields[18] = "STP LMT"  # a type that uses the stop price
                    replies = await loop.run_in_executor(None, hostile.request, fields)
                    assert any(r[0] == "4" for r in replies), (index, value, replies)
            ib = IB()
            await ib.connectAsync("127.0.0.1", sim.port, clientId=1, timeout=5)
            try:
                [aapl] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
                trade = ib.placeOrder(aapl, MarketOrder("BUY", 5))
                while not trade.isDone():
                    await asyncio.wait_for(ib.updateEvent, 5)
                assert trade.orderStatus.status == "Filled"
            finally:
                ib.disconnect()
        finally:
            hostile.sock.close()
