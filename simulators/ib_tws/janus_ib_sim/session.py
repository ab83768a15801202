"""One client connection: handshake, request dispatch, and what this client subscribed to.

Every request is answered with its End message or an error carrying its reqId, because a TWS
API client's awaitable for it otherwise waits forever. A protocol violation gets an error and,
if the stream can no longer be trusted (bad framing), the connection is closed; the simulator
keeps serving everyone else.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog

from . import orderwire
from . import outgoing as out
from . import refdata
from .book import OrderError
from .catalogue import EXCHANGE_REQUIRED, ORDER_EXCHANGE_REQUIRED, Query, lacks_exchange
from .wire import FrameReader, WireError, as_float, as_int, frame, parse_handshake

if TYPE_CHECKING:
    from .simulator import IBSimulator

log = structlog.get_logger()

WRITE_LIMIT = 4 * 1024 * 1024  # a client that lets this much pile up has stopped reading


@dataclass
class MarketSub:
    req_id: int
    con_id: int
    snapshot: bool
    delayed: bool


@dataclass
class Session:
    sim: "IBSimulator"
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    client_id: int | None = None
    version: int = 0
    md_type: int = 1
    market: dict[int, MarketSub] = field(default_factory=dict)
    bars: dict[int, int] = field(default_factory=dict)  # reqId -> conId
    live_bars: dict[int, tuple[int, asyncio.Task[None]]] = field(default_factory=dict)  # reqId -> (conId, task)
    account_updates: str | None = None
    positions: bool = False
    auto_open_orders: bool = False
    closed: bool = False
    _recent: deque = field(default_factory=deque)

    # --- output ---------------------------------------------------------------------------

    def send(self, fields: list[object]) -> None:
        if self.closed:
            return
        transport = self.writer.transport
        if transport.get_write_buffer_size() > WRITE_LIMIT:
            log.warning("client_not_reading", client_id=self.client_id)
            self.close()
            return
        self.writer.write(frame(fields))

    def error(self, req_id: int, code: int, text: str) -> None:
        self.send(out.error(req_id, code, text))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.writer.close()
            for _, task in self.live_bars.values():
                task.cancel()

    # --- input ----------------------------------------------------------------------------

    async def run(self) -> None:
        peer = self.writer.get_extra_info("peername")
        try:
            if not await self._handshake():
                return
            frames = FrameReader()
            while not self.closed:
                data = await self.reader.read(65536)
                if not data:
                    break
                try:
                    messages = frames.feed(data)
                except WireError as exc:
                    self.error(-1, exc.code, f"Bad message framing: {exc.reason}")
                    log.warning("bad_framing", client_id=self.client_id, reason=exc.reason)
                    break
                for fields in messages:
                    self._handle(fields)
                await self.writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.close()
            self.sim.forget(self)
            log.info("client_gone", client_id=self.client_id, peer=str(peer))

    async def _handshake(self) -> bool:
        prefix = await self.reader.readexactly(4)
        if prefix != b"API\0":
            log.warning("not_a_tws_client", prefix=prefix.hex())
            return False
        frames = FrameReader()
        messages: list[list[str]] = []
        while not messages:
            data = await self.reader.read(4096)
            if not data:
                return False
            messages = frames.feed(data)
        try:
            self.version = parse_handshake(messages[0])
        except WireError as exc:
            log.warning("handshake_refused", reason=exc.reason)
            return False
        conn_time = time.strftime("%Y%m%d %H:%M:%S UTC", time.gmtime())
        self.send([self.version, conn_time])
        # startApi may already be in this read, or follow.
        pending = messages[1:]
        while not pending:
            data = await self.reader.read(4096)
            if not data:
                return False
            pending = frames.feed(data)
        start, rest = pending[0], pending[1:]
        if start[0] != "71":
            self.error(-1, 321, "Expected startApi as the first request")
            return False
        client_id = as_int(start[2])
        if not self.sim.claim(client_id, self):
            self.error(-1, 326, "Unable to connect as the client id is already in use. Retry with a unique client id.")
            await self.writer.drain()
            return False
        self.client_id = client_id
        self.send([15, 1, ",".join(self.sim.account_numbers)])
        self.send([9, 1, self.sim.next_order_id(client_id)])
        for code, text in ((2104, "Market data farm connection is OK:usfarm"),
                           (2106, "HMDS data farm connection is OK:ushmds"),
                           (2158, "Sec-def data farm connection is OK:secdefnj")):
            self.error(-1, code, text)
        log.info("client_connected", client_id=client_id, version=self.version)
        for fields in rest:
            self._handle(fields)
        return True

    def _handle(self, fields: list[str]) -> None:
        if self.sim.scenario.frozen:
            return  # hung: read and ignored, like a TWS that stopped answering
        if self._paced():
            self._dispatch(fields)
        else:
            self.error(_req_id(fields), 100, "Max rate of messages per second has been exceeded:max=50")

    def _paced(self) -> bool:
        if self.sim.pacing_limit is None:
            return True
        now = time.monotonic()
        self._recent.append(now)
        while self._recent and now - self._recent[0] > 1.0:
            self._recent.popleft()
        limit = self.sim.pacing_limit
        return limit is None or len(self._recent) <= limit

    def _dispatch(self, fields: list[str]) -> None:
        try:
            msg_id = as_int(fields[0])
            handler = HANDLERS.get(msg_id)
            if handler is None:
                self.error(-1, 321, f"Unsupported or unknown request (message id {fields[0]!r})")
                return
            handler(self, fields)
        except (WireError, IndexError, ValueError, ArithmeticError) as exc:
            # A request we cannot read: tell the client which one, keep the connection.
            self.error(_req_id(fields), 321, f"Error validating request: {str(exc)[:200]}")
            log.warning("bad_request", client_id=self.client_id, msg_id=fields[0][:20] if fields else None,
                        error=type(exc).__name__)
        except Exception:  # noqa: BLE001 — no request may end a session, whatever it carries
            self.error(_req_id(fields), 322, "Error processing request.")
            log.exception("request_failed", client_id=self.client_id, msg_id=fields[0][:20] if fields else None)

    # --- requests -------------------------------------------------------------------------

    def _query(self, f: list[str], at: int) -> Query:
        return Query(con_id=as_int(f[at]), symbol=f[at + 1], sec_type=f[at + 2], last_trade=f[at + 3],
                     strike=as_float(f[at + 4], 0.0) or 0.0, right=f[at + 5], multiplier=f[at + 6],
                     exchange=f[at + 7], primary_exchange=f[at + 8], currency=f[at + 9],
                     local_symbol=f[at + 10], trading_class=f[at + 11])

    def refuse_without_exchange(self, req_id: int, q: Query, text: str = EXCHANGE_REQUIRED) -> bool:
        """IB's 321 for a contract it cannot route or price (no exchange, no conId); True if sent."""
        if lacks_exchange(q):
            self.error(req_id, 321, text)
            return True
        return False

    def contract_details(self, f: list[str]) -> None:
        req_id = as_int(f[2])
        q = self._query(f, 3)
        found = self.sim.lookup(q)
        if not found:
            self.error(req_id, 200, "No security definition has been found for the request")
            return
        for spec in found:
            self.send(out.contract_data(req_id, spec, q.exchange or None))
        self.send([52, 1, req_id])

    def market_data(self, f: list[str]) -> None:
        req_id = as_int(f[2])
        q = self._query(f, 3)
        at = 15
        if q.sec_type == "BAG":
            self.error(req_id, 321, "Combination market data is not supported by the simulator")
            return
        dnc = as_int(f[at])
        at += 4 if dnc else 1
        snapshot = f[at + 1] == "1"
        if self.refuse_without_exchange(req_id, q):
            return
        found = self.sim.lookup(q)
        if len(found) != 1:
            self.error(req_id, 200, "No security definition has been found for the request")
            return
        self.sim.start_market_data(self, req_id, found[0], snapshot)

    def cancel_market_data(self, f: list[str]) -> None:
        self.market.pop(as_int(f[2]), None)

    def market_data_type(self, f: list[str]) -> None:
        self.md_type = as_int(f[2], 1)

    def real_time_bars(self, f: list[str]) -> None:
        req_id = as_int(f[2])
        q = self._query(f, 3)
        if self.refuse_without_exchange(req_id, q):
            return
        found = self.sim.lookup(q)
        if len(found) != 1:
            self.error(req_id, 200, "No security definition has been found for the request")
            return
        self.bars[req_id] = found[0].con_id

    def cancel_real_time_bars(self, f: list[str]) -> None:
        self.bars.pop(as_int(f[2]), None)

    def place_order(self, f: list[str]) -> None:
        order_id = as_int(f[1])
        q = self._query(f, 2)
        req = orderwire.parse(f, self.version)
        if order_id <= 0:  # ids come from nextValidId and only grow
            self.error(order_id, 103, f"Duplicate order id {order_id}")
            return
        if self.refuse_without_exchange(order_id, q, ORDER_EXCHANGE_REQUIRED):
            return
        found = self.sim.lookup(q)
        if len(found) != 1:
            self.error(order_id, 200, "No security definition has been found for the request")
            return
        try:
            self.sim.place(self, order_id, found[0], req)
        except OrderError as exc:
            self.error(order_id, exc.code, exc.text)

    def cancel_order(self, f: list[str]) -> None:
        self.sim.cancel(self, as_int(f[2]))

    def open_orders(self, f: list[str]) -> None:
        self.sim.send_open_orders(self, everyone=False)

    def all_open_orders(self, f: list[str]) -> None:
        self.sim.send_open_orders(self, everyone=True)

    def auto_open(self, f: list[str]) -> None:
        self.auto_open_orders = f[2] == "1"

    def account_updates_req(self, f: list[str]) -> None:
        subscribe, account = f[2] == "1", f[3] or self.sim.account_numbers[0]
        self.account_updates = account if subscribe else None
        if subscribe:
            self.sim.send_account(self, account)

    def account_updates_multi(self, f: list[str]) -> None:
        req_id, account = as_int(f[2]), f[3]
        for acct in ([account] if account and account != "All" else self.sim.account_numbers):
            for key, value in self.sim.account_values(acct).items():
                self.send([73, 1, req_id, acct, "", key, value, "USD"])
        self.send([74, 1, req_id])

    def account_summary(self, f: list[str]) -> None:
        req_id = as_int(f[2])
        for acct in self.sim.account_numbers:
            for key, value in self.sim.account_values(acct).items():
                self.send([63, 1, req_id, acct, key, value, "USD"])
        self.send([64, 1, req_id])

    def positions_req(self, f: list[str]) -> None:
        self.positions = True
        self.sim.send_positions(self)

    def cancel_positions(self, f: list[str]) -> None:
        self.positions = False

    def positions_multi(self, f: list[str]) -> None:
        self.send([72, 1, as_int(f[2])])

    def executions(self, f: list[str]) -> None:
        req_id = as_int(f[2])
        self.sim.send_executions(self, req_id, client_filter=as_int(f[3]), account=f[4], symbol=f[6],
                                 sec_type=f[7], side=f[9] if len(f) > 9 else "")

    def completed_orders(self, f: list[str]) -> None:
        self.sim.send_completed(self)

    def ids(self, f: list[str]) -> None:
        assert self.client_id is not None
        self.send([9, 1, self.sim.next_order_id(self.client_id)])

    def current_time(self, f: list[str]) -> None:
        self.send([49, 1, int(time.time())])

    def managed_accounts(self, f: list[str]) -> None:
        self.send([15, 1, ",".join(self.sim.account_numbers)])

    def global_cancel(self, f: list[str]) -> None:
        self.sim.cancel_all()

    def ignore(self, f: list[str]) -> None:
        """Cancels of subscriptions we keep no state for: nothing to answer."""


NO_VERSION = ("3", "20", "78", "81", "87", "90")  # requests whose id comes right after the message id


def _req_id(fields: list[str]) -> int:
    """The request id of a message, where one can be read (most requests carry it third;
    placeOrder has no version field, so its order id is second)."""
    if fields and fields[0] in NO_VERSION:
        return int(fields[1]) if len(fields) > 1 and fields[1].lstrip("-").isdigit() and len(fields[1]) < 11 else -1
    if len(fields) > 2 and fields[2].lstrip("-").isdigit() and len(fields[2]) < 11:
        return int(fields[2])
    return -1


HANDLERS = {
    1: Session.market_data, 2: Session.cancel_market_data, 3: Session.place_order, 4: Session.cancel_order,
    5: Session.open_orders, 6: Session.account_updates_req, 7: Session.executions, 8: Session.ids,
    9: Session.contract_details, 15: Session.auto_open, 16: Session.all_open_orders,
    17: Session.managed_accounts, 49: Session.current_time, 50: Session.real_time_bars,
    51: Session.cancel_real_time_bars, 58: Session.global_cancel, 59: Session.market_data_type,
    61: Session.positions_req, 62: Session.account_summary, 63: Session.ignore, 64: Session.cancel_positions,
    74: Session.positions_multi, 75: Session.ignore, 76: Session.account_updates_multi, 77: Session.ignore,
    99: Session.completed_orders,
    20: refdata.historical_data, 25: refdata.cancel_historical, 78: refdata.option_params, 81: refdata.matching,
    87: refdata.head_timestamp, 90: Session.ignore,
}
