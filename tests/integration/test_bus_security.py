"""The bus's permissions, enforced by a real NATS server with the authorization janus_common.authz
renders for the shipped configuration (the suite's session server): for every identity, what it
may do works, and a representative of what it may not is refused by the server and stores
nothing. A connection without valid credentials is refused."""

from __future__ import annotations

import asyncio

import msgspec
import nats
import nats.errors
import nats.js.errors
import pytest

from bus_probe import Probe
from janus_common import authz, bus, credentials, subjects
from janus_common import messages as m
from janus_common.streams import EVENTS_STREAM, INTENTS_STREAM, KV_PRICES, ROUTES_STREAM, ensure_streams

pytestmark = pytest.mark.integration


@pytest.fixture
async def as_identity(js, nats_url, bus_identities):
    probes: list[Probe] = []

    async def connect(identity: str) -> Probe:
        probe = await Probe.connect(nats_url, bus_identities.creds(identity))
        probes.append(probe)
        return probe

    yield connect
    for probe in probes:
        await probe.close()


def _intent(account: str = "ib-1") -> m.OrderIntent:
    return m.OrderIntent(account=account, symbol="AAPL", side=m.Side.BUY, order_type=m.OrderType.MARKET, qty=1)


def _fill(account: str = "ib-1") -> m.OrderFilled:
    return m.OrderFilled(account=account, intent_id="forged", broker=m.Broker.IB, leg=0, broker_order_id="1",
                         fill_id="f1", symbol="AAPL", side=m.Side.BUY, qty=1000.0, price=1.0)


async def _nothing_on(js, stream: str, subject: str) -> bool:
    try:
        await js.get_last_msg(stream, subject)
    except nats.js.errors.NotFoundError:
        return True
    return False


async def _count(js, stream: str) -> int:
    return (await js.stream_info(stream)).state.messages


# --- without valid credentials ----------------------------------------------------------------


async def test_a_connection_without_credentials_is_refused(nats_url):
    said: list[str] = []

    async def error_cb(exc: Exception) -> None:
        said.append(str(exc))

    with pytest.raises(nats.errors.Error) as refused:
        await nats.connect(nats_url, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=2,
                           error_cb=error_cb)
    assert any("Authorization Violation" in s for s in [*said, str(refused.value)]), said


async def test_unknown_credentials_are_refused_and_not_retried(nats_url, tmp_path):
    stranger = credentials.ensure(tmp_path, ["router"])  # a valid seed the server never heard of
    assert stranger["router"]
    with pytest.raises(bus.AuthRefused) as refused:
        await bus.connect(nats_url, "stranger", initial_attempts=5, creds=tmp_path / "router.nk")
    assert "refused the credentials of router" in str(refused.value)
    assert "SU" not in str(refused.value).split("(")[0]  # the seed is never in a message


# --- a client: its own accounts only -----------------------------------------------------------


async def test_a_client_sends_intents_for_its_accounts_and_nothing_else(js, as_identity):
    client = await as_identity("demo-client")
    ack = await bus.publish(client.js, subjects.intent("ib-1"), _intent("ib-1"))
    assert ack.stream == INTENTS_STREAM

    events_before = await _count(js, EVENTS_STREAM)
    await client.publish_refused(subjects.intent("ib-2"), m.encode(_intent("ib-2")))  # not its account
    await client.publish_refused(subjects.control("ib-1"),
                                 m.encode(m.TradingStateRequest(account="ib-1", state=m.TradingState.HALTED)))
    await client.publish_refused(subjects.route("ib", "ib-1"), b"forged route")
    await client.publish_refused(subjects.evt_order("ib-1"), m.encode(_fill()))
    await client.publish_refused("$JS.API.STREAM.PURGE.EVENTS", b"{}", reply=client.nc.new_inbox())
    await client.publish_refused("$JS.API.STREAM.DELETE.EVENTS", b"", reply=client.nc.new_inbox())
    await client.publish_refused(f"$JS.API.CONSUMER.CREATE.{EVENTS_STREAM}", b"{}", reply=client.nc.new_inbox())

    assert await _nothing_on(js, INTENTS_STREAM, subjects.intent("ib-2"))
    assert await _nothing_on(js, INTENTS_STREAM, subjects.control("ib-1"))
    assert await _nothing_on(js, ROUTES_STREAM, subjects.route("ib", "ib-1"))
    assert await _count(js, EVENTS_STREAM) == events_before
    assert (await js.stream_info(EVENTS_STREAM)).state.messages == events_before


async def test_a_client_reads_its_accounts_events_and_no_one_elses(js, as_identity):
    client = await as_identity("demo-client")
    gateway = await as_identity("gateway-ib-1")

    await client.subscribe_refused(subjects.evt_order("ib-2"))
    await client.subscribe_refused(subjects.ALL_EVENTS)
    await client.subscribe_refused(subjects.val("ib-2"))
    await client.subscribe_refused(subjects.ALL_ROUTES)
    await client.subscribe_refused("_INBOX.router.>")  # nobody reads another's replies

    mine = await client.nc.subscribe(subjects.evt_order("ib-1"))
    await client.nc.flush()
    event = _fill("ib-1")  # published by the identity that may: the account's gateway
    await bus.publish(gateway.js, subjects.evt_order("ib-1"), event)
    got = await mine.next_msg(timeout=5)
    assert m.ORDER_EVENTS.decode(got.data) == event

    # The latest position snapshot of its own account by a direct get; another's is refused.
    snapshot = m.PositionSnapshot(account="ib-1", broker=m.Broker.IB, positions=[])
    await bus.publish(gateway.js, subjects.evt_position("ib-1"), snapshot)
    raw = await client.js.get_last_msg(EVENTS_STREAM, subjects.evt_position("ib-1"), direct=True)
    assert m.POSITION_EVENTS.decode(raw.data) == snapshot
    await client.publish_refused(f"$JS.API.DIRECT.GET.{EVENTS_STREAM}.{subjects.evt_position('ib-2')}",
                                 b"", reply=client.nc.new_inbox())


# --- the processes: each its own part --------------------------------------------------------


async def test_a_gateway_publishes_its_own_accounts_events_and_consumes_its_own_routes_only(js, as_identity):
    gateway = await as_identity("gateway-ib-1")
    await bus.publish(gateway.js, subjects.evt_order("ib-1"), _fill("ib-1"))
    await gateway.publish_refused(subjects.evt_order("ib-2"), m.encode(_fill("ib-2")))
    await gateway.publish_refused(subjects.evt_position("wb-1"), b"x")
    await gateway.publish_refused(subjects.route("ib", "ib-1"), b"a gateway does not route")
    await gateway.publish_refused(subjects.control("ib-1"), b"x")
    # Another account's route consumer: the create subject names it, and it is not ours.
    other = f"$JS.API.CONSUMER.CREATE.{ROUTES_STREAM}.ib-gateway-ib-2.{subjects.route('ib', 'ib-2')}"
    await gateway.publish_refused(other, b"{}", reply=gateway.nc.new_inbox())
    await gateway.subscribe_refused(subjects.rpc_sync("ib-2"))
    assert await _nothing_on(js, EVENTS_STREAM, subjects.evt_order("ib-2"))
    assert await _nothing_on(js, EVENTS_STREAM, subjects.evt_position("wb-1"))

    # Its own route consumer, created as the kernel creates it, works.
    consumer = bus.Consumer(gateway.js, stream=ROUTES_STREAM, durable="ib-gateway-ib-1",
                            filter_subject=subjects.route("ib", "ib-1"), codec=m.ROUTES, handler=_ignore)
    await consumer.start()
    await consumer.stop()


async def _ignore(_event, _msg) -> None:
    return None


async def test_only_the_market_data_gateway_publishes_market_data(as_identity):
    md = await as_identity("gateway-ib-1")  # market_data_account of the shipped configuration
    await md.nc.publish(subjects.md_tick("AAPL"), b"tick")
    await md.nc.flush()
    other = await as_identity("gateway-ib-2")
    await other.publish_refused(subjects.md_tick("AAPL"), b"tick")


async def test_the_router_routes_and_records_outcomes_but_not_broker_events(js, as_identity):
    router = await as_identity("router")
    await bus.publish(router.js, subjects.route("ib", "ib-1"), _intent(), msg_id="r-1")
    await router.publish_refused(subjects.evt_position("ib-1"), b"positions are the broker's")
    await router.publish_refused(subjects.md_tick("AAPL"), b"x")
    await router.publish_refused(f"$JS.API.STREAM.PURGE.{INTENTS_STREAM}", b"{}", reply=router.nc.new_inbox())
    assert await _nothing_on(js, EVENTS_STREAM, subjects.evt_position("ib-1"))


async def test_registry_pricer_auditor_operator_and_supervisor_each_keep_to_their_part(js, as_identity):
    registry = await as_identity("registry")
    await registry.publish_refused(subjects.evt_order("ib-1"), b"x")
    await registry.publish_refused(subjects.intent("ib-1"), b"x")

    pricer = await as_identity("pricer")
    kv = await pricer.js.key_value(KV_PRICES)
    await kv.put("AAPL", b"190")
    await pricer.publish_refused(subjects.intent("ib-1"), b"x")
    await pricer.publish_refused(subjects.evt_order("ib-1"), b"x")

    auditor = await as_identity("auditor")
    assert isinstance(await bus.stored(auditor.js, EVENTS_STREAM, subjects.ALL_EVENTS, timeout=5), list)
    await auditor.publish_refused(subjects.intent("ib-1"), b"x")
    await auditor.publish_refused(subjects.RPC_RESOLVE, b"x")
    await auditor.subscribe_refused(subjects.ALL_MARKET_DATA)
    await auditor.publish_refused(f"$KV.{KV_PRICES}.AAPL", b"1")

    operator = await as_identity("operator")
    await bus.publish(operator.js, subjects.control("ib-2"),
                      m.TradingStateRequest(account="ib-2", state=m.TradingState.HALTED, reason="test"))
    await operator.publish_refused(subjects.route("ib", "ib-2"), b"x")
    await operator.publish_refused(subjects.evt_order("ib-2"), b"x")
    await operator.publish_refused(f"$JS.API.STREAM.PURGE.{EVENTS_STREAM}", b"{}", reply=operator.nc.new_inbox())
    await operator.publish_refused(f"$JS.API.STREAM.DELETE.{EVENTS_STREAM}", b"", reply=operator.nc.new_inbox())

    supervisor = await as_identity("supervisor")
    await ensure_streams(supervisor.js)  # creating and updating the streams is its job
    await supervisor.publish_refused(subjects.intent("ib-1"), b"x")
    await supervisor.subscribe_refused(subjects.ALL_EVENTS)
    assert await _nothing_on(js, EVENTS_STREAM, subjects.evt_order("ib-1"))


async def test_every_identity_of_the_configuration_can_connect(nats_url, bus_identities):
    for identity in authz.identities(bus_identities.config):
        nc = await bus.connect(nats_url, identity, initial_attempts=1, creds=bus_identities.creds(identity))
        await nc.close()
