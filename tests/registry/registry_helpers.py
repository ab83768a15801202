"""Helpers for the registry tests: the registry run in-process by the real service runner,
and fake *peer* gateways — real NATS micro services built on the janus_common RPC helpers
that answer ``janus.rpc.lookup.{broker}`` from a fixed table and count the calls.

The fixed table mirrors instruments the IB simulator lists (AAPL, MSFT, NQ futures …), so
these tests can later run against the real IB gateway by serving the subject with it instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

import asyncpg
from nats.aio.client import Client as NATS
from nats.micro import add_service
from nats.micro.service import EndpointConfig

from contract_months import front
from janus_common import bus, subjects
from janus_common import messages as m
from janus_common.config import from_dict
from janus_common.messages import Broker, IbContract, WebullInstrument
from janus_common.service import ServiceContext, serve
from janus_registry.main import NAME, VERSION, App, setup_for
from janus_registry.peers import GATEWAY_SERVICES


def ib_stock(symbol: str, con_id: int, primary: str = "NASDAQ") -> IbContract:
    return IbContract(symbol=symbol, sec_type="STK", exchange="SMART", primary_exchange=primary,
                      currency="USD", con_id=con_id, trading_class="NMS", local_symbol=symbol, min_tick=0.01)


NQ_MONTH = front("NQ")  # today's front NQ, as the IB simulator lists it
NQ_FRONT = IbContract(symbol="NQ", sec_type="FUT", exchange="CME", currency="USD", con_id=NQ_MONTH.con_id,
                      contract_month=NQ_MONTH.yyyymm, last_trade_date=NQ_MONTH.last_trade_date, multiplier=20.0,
                      trading_class="NQ", local_symbol=NQ_MONTH.local_symbol, min_tick=0.25)


def unique(ib: IbContract | None = None, webull: WebullInstrument | None = None) -> m.LookupUnique:
    return m.LookupUnique(candidate=m.LookupCandidate(ib=ib, webull=webull))


IB_TABLE: dict[str, m.LookupReply] = {
    "AAPL": unique(ib_stock("AAPL", 265598)),
    "MSFT": unique(ib_stock("MSFT", 272093)),
    "TSLA": unique(ib_stock("TSLA", 76792991)),
    "BRK.B": unique(IbContract(symbol="BRK B", sec_type="STK", exchange="SMART", primary_exchange="NYSE",
                               currency="USD", con_id=72063691, trading_class="BRK B", min_tick=0.01)),
    NQ_MONTH.canonical: unique(NQ_FRONT),
    "ABC": m.LookupAmbiguous(candidates=[
        m.LookupCandidate(ib=ib_stock("ABC", 1001, "NYSE"), description="ABC Corp (NYSE)"),
        m.LookupCandidate(ib=ib_stock("ABC", 1002, "ARCA"), description="ABC Fund (ARCA)"),
    ]),
}
WEBULL_TABLE: dict[str, m.LookupReply] = {
    "AAPL": unique(webull=WebullInstrument(symbol="AAPL", instrument_id="913256135")),
    "MSFT": unique(webull=WebullInstrument(symbol="MSFT", instrument_id="913323997")),
    "BRK.B": unique(webull=WebullInstrument(symbol="BRK.B", instrument_id="913254998")),
}


class FakeGateway:
    """A peer service on real NATS answering look-ups from a fixed table. ``hold`` makes every
    call wait until released; ``first_call`` is set when a call arrives."""

    def __init__(self, nc: NATS, broker: Broker, table: dict[str, m.LookupReply]) -> None:
        self.nc = nc
        self.broker = broker
        self.table = dict(table)
        self.calls: list[m.LookupRequest] = []
        self.hold: asyncio.Event | None = None
        self.first_call = asyncio.Event()
        self.service = None

    async def start(self) -> "FakeGateway":
        self.service = await add_service(self.nc, name=GATEWAY_SERVICES[self.broker], version="0.0.1")
        await self.service.add_endpoint(EndpointConfig(
            name="lookup", subject=subjects.rpc_lookup(self.broker),
            handler=bus.rpc_handler(m.LOOKUP_REQUEST, self._answer)))
        return self

    async def _answer(self, request: m.LookupRequest) -> m.LookupReply:
        self.calls.append(request)
        self.first_call.set()
        if self.hold is not None:
            await self.hold.wait()
        if request.con_id is not None:  # a conId names one contract, whatever the symbol says
            for reply in self.table.values():
                if isinstance(reply, m.LookupUnique) and reply.candidate.ib is not None \
                        and reply.candidate.ib.con_id == request.con_id:
                    return reply
        return self.table.get(request.symbol) or m.LookupNotFound(
            message=f"no contract for {request.symbol} in the fixed table")

    def symbols(self) -> list[str]:
        return [c.symbol for c in self.calls]

    async def stop(self) -> None:
        if self.service is not None:
            with contextlib.suppress(Exception):
                await self.service.stop()


def registry_config(nats_url: str, dsn: str, mappings: list[dict] | None = None, **extra: dict) -> dict:
    return {**extra,
        "nats": {"url": nats_url},
        "postgres": {"dsn": dsn},
        "accounts": {
            "ib-1": {"broker": "ib", "ib": {"host": "127.0.0.1", "port": 7497, "client_id": 11}},
            "wb-1": {"broker": "webull", "webull": {"app_key": "k", "app_secret": "s"}},
        },
        "registry": {"lookup_timeout_s": 3, "mappings": mappings or []},
    }


class Running:
    def __init__(self, app: App, ctx: ServiceContext, task: asyncio.Task) -> None:
        self.app = app
        self.ctx = ctx
        self.task = task

    @property
    def registry(self):
        return self.app.registry

    async def stop(self) -> int:
        self.ctx.stopping.set()
        return await asyncio.wait_for(self.task, 20)


async def start_registry(nats_url: str, dsn: str, mappings: list[dict] | None = None, **extra: dict) -> Running:
    """The registry in this process, wired exactly as ``janus-registry`` wires it (``extra``:
    more top-level config sections)."""
    config = from_dict(registry_config(nats_url, dsn, mappings, **extra), env={})
    args = argparse.Namespace(nats_url=nats_url, config=None, log_level="INFO")
    loop = asyncio.get_running_loop()
    got_app: asyncio.Future[App] = loop.create_future()
    got_ctx: asyncio.Future[ServiceContext] = loop.create_future()
    task = asyncio.create_task(serve(NAME, VERSION, setup_for(got_app.set_result, dsn=dsn), args,
                                     config, ready=got_ctx.set_result))
    done, _ = await asyncio.wait([task, got_ctx], timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        raise RuntimeError(f"registry ended during start-up: {task.result()!r}")
    if got_ctx not in done:
        task.cancel()
        raise TimeoutError("registry not ready within 30s")
    return Running(got_app.result(), got_ctx.result(), task)


async def rows(dsn: str) -> list[dict]:
    conn = await asyncpg.connect(dsn)
    try:
        return [dict(r) for r in await conn.fetch(
            "SELECT * FROM symbol_registry ORDER BY symbol")]
    finally:
        await conn.close()


async def resolve(nc: NATS, symbol: str, **kw) -> m.ResolveReply:
    return await bus.request(nc, subjects.RPC_RESOLVE, m.ResolveRequest(symbol=symbol, **kw),
                             m.RESOLVE_REPLY, timeout=10)


async def harmony(nc: NATS, timeout: float = 30) -> m.HarmonyReply:
    return await bus.request(nc, subjects.RPC_HARMONY, m.HarmonyRequest(requested_by="test"),
                             m.HARMONY_REPLY, timeout=timeout)
