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
# The order surface past the fixed fields: types and tifs with their own fields, and any value at
# any later position — the counts and flags that make the reader skip blocks included.
KINDS = ["TRAIL", "TRAIL LIMIT", "MOC", "LOC", "GTD", "OPG", "FOK", "20991231 23:59:59 UTC", "20200101-00:00:00",
         "1", "2", "3", "4", "0.25", "5", "99.5"]
LATE_VALUE = st.one_of(VALUE, st.sampled_from(KINDS))
# Where ib_async puts what the simulator reads past the fixed fields (plain, non-BAG order).
LATE = {"goodTillDate": 38, "ocaType": 46, "trailStopPrice": 68, "trailingPercent": 69, "whatIf": 84,
        "lmtPriceOffset": 92}
GTD = LATE["goodTillDate"]
# Well-formed orders of each new kind (fields by position), which the edits then spoil.
BASES = st.sampled_from([
    {18: "TRAIL", 20: "0.5", 16: "SELL"}, {18: "TRAIL", 20: "", LATE["trailingPercent"]: "2.5"},
    {18: "TRAIL LIMIT", 20: "0.5", LATE["lmtPriceOffset"]: "0.1"}, {18: "MOC", 19: ""}, {18: "LOC"},
    {21: "GTD", GTD: "20991231 23:59:59 UTC"}, {21: "OPG"}, {21: "FOK", 18: "MKT"}, {33: "1"},
    {22: "oca-f", LATE["ocaType"]: "1"}, {LATE["whatIf"]: "1"}, {27: "0"}, {28: "1"}])
LATE_EDITS = st.builds(lambda base, edits: {**base, **edits}, BASES, st.dictionaries(
    st.sampled_from([18, 20, 21, 22, 27, 28, 33, *LATE.values()]) | st.integers(35, 113), LATE_VALUE, max_size=6))


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
        async with IBSimulator(seed=box.get("seed", 1), tick_interval=0.01, pacing_limit=None) as sim:
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
    _fuzz(EDITS, seed=11, client_id=41)


def test_any_value_of_the_later_order_fields_is_answered_and_the_session_survives():
    template = list(TEMPLATE)
    assert template[LATE["goodTillDate"]] == "" and len(template) > LATE["lmtPriceOffset"]
    sim = _fuzz(LATE_EDITS, seed=13, client_id=43)
    # Not only refusals: orders of the new kinds were taken too.
    assert {o.order_type for o in sim.orders.values()} & {"TRAIL", "MOC", "LOC"}
    assert {o.tif for o in sim.orders.values()} & {"GTD", "OPG"}


def _fuzz(edits_strategy, *, seed: int, client_id: int) -> IBSimulator:
    box: dict = {"seed": seed}
    ready, stop = threading.Event(), threading.Event()
    thread = threading.Thread(target=_run_sim, args=(box, ready, stop), daemon=True)
    thread.start()
    assert ready.wait(10)
    sim: IBSimulator = box["sim"]
    client = RawClient(sim.port, client_id)
    next_id = [100]

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
    @given(edits_strategy)
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
        assert kinds & {"5", "3", "4"} or (client_id, next_id[0]) in sim.staged, (edits, replies)
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
        for price in (order.lmt, order.aux, order.trail_stop, order.trailing_pct):
            assert price is None or (math.isfinite(price) and price > 0)
        assert order.lmt_offset is None or (math.isfinite(order.lmt_offset) and order.lmt_offset >= 0)
    return sim


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
