"""Router harness: the router's real setup under the real service runner, on the test NATS,
with the registry's resolve subject served by a small peer on the same bus."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from dataclasses import dataclass, field

import pytest
from nats.micro import add_service
from nats.micro.service import EndpointConfig

from contract_months import front
from janus_common import bus, msgids, subjects
from janus_common import messages as m
from janus_common.config import from_dict
from janus_common.service import serve
from janus_router.main import setup

CONFIG = {
    "accounts": {
        "ib-1": {"broker": "ib", "allow_short": True, "ib": {"port": 1, "client_id": 1}},
        "ib-2": {"broker": "ib", "allow_short": False, "ib": {"port": 1, "client_id": 2}},
        "ib-loc": {"broker": "ib", "allow_short": True, "locate_required": True, "ib": {"port": 1, "client_id": 3}},
        "ib-narrow": {"broker": "ib", "allow_short": True, "order_types": ["MARKET", "LIMIT"],
                      "ib": {"port": 1, "client_id": 4}},
        "wb-1": {"broker": "webull", "allow_short": True, "webull": {"app_key": "k", "app_secret": "s"}},
    },
    # These tests are about routing, not limits (tests/router/test_risk*.py are): no pricer runs
    # here, and some orders are larger than the shipped defaults.
    "risk": {"require_reference_price": False, "max_order_qty": 1e9, "max_order_notional": 1e15,
             "max_position": 1e12},
}

AAPL = m.RegistryRecord(symbol="AAPL", asset_class="EQUITY",
                        ib=m.IbContract(symbol="AAPL", sec_type="STK", con_id=265598, primary_exchange="NASDAQ"),
                        webull=m.WebullInstrument(symbol="AAPL", instrument_id="913256135"))
ES_MONTH = front("ES")
ES = m.RegistryRecord(symbol=ES_MONTH.canonical, asset_class="FUTURE", exchange="CME",
                      ib=m.IbContract(symbol="ES", sec_type="FUT", exchange="CME", con_id=ES_MONTH.con_id,
                                      contract_month=ES_MONTH.yyyymm, multiplier=50.0))


@dataclass
class RegistryPeer:
    """Answers janus.rpc.registry.resolve from a table (a peer service, on the real bus)."""

    records: dict[str, m.RegistryRecord] = field(default_factory=lambda: {"AAPL": AAPL, ES.symbol: ES})
    calls: int = 0
    service: object = None

    async def resolve(self, req: m.ResolveRequest):
        self.calls += 1
        if req.symbol == "DUAL":
            return m.RpcError(reason=m.RejectReason.AMBIGUOUS_SYMBOL, message="DUAL matches 2 contracts",
                              candidates=[
                                  m.RegistryRecord(symbol="DUAL", asset_class="EQUITY",
                                                   ib=m.IbContract(symbol="DUAL", sec_type="STK", primary_exchange=x))
                                  for x in ("NYSE", "NASDAQ")])
        record = self.records.get(req.symbol)
        if record is None:
            return m.RpcError(reason=m.RejectReason.UNKNOWN_SYMBOL, message=f"no such symbol {req.symbol}")
        return m.Resolved(record=record, source="test")


@dataclass
class RouterHarness:
    nc: object
    js: object
    registry: RegistryPeer
    registry_service: object
    events: asyncio.Queue
    routes: asyncio.Queue
    ctx: object = None  # the router's ServiceContext (health, consumers)

    async def send(self, intent, *, subject_account: str | None = None, msg_id: str | None = "auto"):
        account = subject_account or intent.account
        # what janus_client sends: msg-ids scoped by the account
        if isinstance(intent, m.CancelIntent):
            auto = msgids.cancel(account, intent.cancel_id)
        elif isinstance(intent, m.ModifyIntent):
            auto = msgids.modify(account, intent.modify_id)
        else:
            auto = msgids.intent(account, intent.intent_id)
        mid = auto if msg_id == "auto" else msg_id
        await bus.publish(self.js, subjects.intent(account), intent, msg_id=mid)

    async def next_event(self, timeout: float = 10.0):
        return await asyncio.wait_for(self.events.get(), timeout)

    async def outcome(self, intent_id: str, timeout: float = 10.0):
        while True:
            event = await self.next_event(timeout)
            if getattr(event, "intent_id", None) == intent_id and isinstance(
                    event, (m.OrderRouted, m.OrderRejected, m.CancelRouted)):
                return event

    async def next_route(self, timeout: float = 10.0):
        return await asyncio.wait_for(self.routes.get(), timeout)


@contextlib.asynccontextmanager
async def running_router(nats_url: str, *, ack_wait: float = 10.0, config: dict | None = None):
    args = argparse.Namespace(nats_url=nats_url, ack_wait=ack_wait, resolve_timeout=2.0,
                              snapshot_every_events=20_000, snapshot_every_s=60.0)
    ready = asyncio.Event()
    contexts = []

    def on_ready(ctx):
        contexts.append(ctx)
        ready.set()

    task = asyncio.create_task(serve("janus-router", "0.1.0", setup, args,
                                     from_dict(config or CONFIG, env={}),
                                     ready=on_ready))
    await asyncio.wait_for(ready.wait(), 30)
    try:
        yield contexts[0]
    finally:
        contexts[0].stopping.set()
        await asyncio.wait_for(task, 15)


@pytest.fixture
def router_config() -> dict:
    return CONFIG


@pytest.fixture
def router_runner():
    """``running_router`` for tests that start (and stop) routers themselves."""
    return running_router


@pytest.fixture
async def registry_peer(nc):
    peer = RegistryPeer()
    service = await add_service(nc, name="test-registry", version="0.0.1")
    await service.add_endpoint(EndpointConfig(name="resolve", subject=subjects.RPC_RESOLVE,
                                              handler=bus.rpc_handler(m.RESOLVE_REQUEST, peer.resolve)))
    peer.service = service
    yield peer
    await service.stop()


@pytest.fixture
async def harness(nc, js, nats_url, registry_peer, router_config):
    peer, service = registry_peer, registry_peer.service
    events: asyncio.Queue = asyncio.Queue()
    routes: asyncio.Queue = asyncio.Queue()

    async def on_event(msg):
        await events.put(m.ORDER_EVENTS.decode(msg.data))

    async def on_route(msg):
        await routes.put((msg.subject, m.ROUTES.decode(msg.data)))

    await nc.subscribe(subjects.ALL_ORDER_EVENTS, cb=on_event)
    # What the gateways would get: the ROUTES stream's contents, not core-NATS copies (a
    # republished duplicate reaches core subscribers but JetStream stores it once).
    await js.subscribe(subjects.ALL_ROUTES, stream="ROUTES", cb=on_route)
    async with running_router(nats_url, config=router_config) as ctx:
        yield RouterHarness(nc, js, peer, service, events, routes, ctx)
