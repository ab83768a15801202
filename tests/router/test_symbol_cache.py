"""The router's symbol cache (janus_router.resolver) is kept in step by the registry's own
events: a hit costs no registry RPC, and a registry write stored in EVENTS before an intent
arrives is seen by that intent's decision (the follower applies it before the barrier lets the
decision go). Real NATS, the real router under the service runner."""

from __future__ import annotations

import msgspec
import pytest

from janus_common import bus, subjects
from janus_common import messages as m

pytestmark = pytest.mark.integration


def _buy(intent_id: str) -> m.OrderIntent:
    return m.OrderIntent(intent_id=intent_id, account="ib-1", symbol="AAPL", side=m.Side.BUY,
                         order_type=m.OrderType.MARKET, qty=1.0)


async def test_a_cached_symbol_costs_no_rpc_and_a_registry_write_replaces_it(harness):
    AAPL = harness.registry.records["AAPL"]
    await harness.send(_buy("c1"))
    first = await harness.outcome("c1")
    assert isinstance(first, m.OrderRouted)
    assert first.orders[0].ib.con_id == AAPL.ib.con_id
    await harness.send(_buy("c2"))
    assert isinstance(await harness.outcome("c2"), m.OrderRouted)
    assert harness.registry.calls == 1  # the second decision took the cached record

    # The registry learns a new contract id and says so on janus.evt.registry.
    moved = msgspec.structs.replace(AAPL, ib=msgspec.structs.replace(AAPL.ib, con_id=4242))
    harness.registry.records["AAPL"] = moved
    await bus.publish(harness.js, subjects.EVT_REGISTRY,
                      m.RegistryEntryWritten(record=moved, source="lookup", fields=["ib.con_id"]))
    await harness.send(_buy("c3"))
    third = await harness.outcome("c3")
    assert isinstance(third, m.OrderRouted)
    assert harness.registry.calls == 2
    assert third.orders[0].ib.con_id == 4242
