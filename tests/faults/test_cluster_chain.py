"""The hash chain's conditional append on a replicated EVENTS stream. Two publishers append to
one subject at once (as the router and a gateway do on janus.evt.order.<account>): each must
get its event stored, re-reading the tip when the other got in first. On R1 the server refuses
a stale append with err_code 10071 ("wrong last sequence: N"); on R3 it may answer 10164
("wrong last sequence", JSStreamWrongLastSequenceConstantErr), which bus.publish must treat the
same way rather than fail the publish."""

from __future__ import annotations

import asyncio

import pytest

from fault_stack import OwnedBus
from janus_common import audit, bus, subjects
from janus_common import messages as m
from janus_common.streams import EVENTS_STREAM, Topology, ensure_streams

pytestmark = [pytest.mark.faults, pytest.mark.integration]


@pytest.mark.parametrize("nodes", [1, 3])
async def test_concurrent_appends_to_one_subject_all_land(tmp_path, nodes):
    owned = OwnedBus(tmp_path, nodes)
    try:
        conns = [await bus.connect(owned.cluster.urls, f"appender-{i}", initial_attempts=10,
                                   creds=owned.creds("admin")) for i in range(2)]
        try:
            await ensure_streams(conns[0].jetstream(), Topology(replicas=owned.replicas))
            subject = subjects.evt_order("ib-1")

            async def append(i: int) -> str | None:
                event = m.OrderRejected(account="ib-1", intent_id=f"chain-{i}", reason=m.RejectReason.INTERNAL,
                                        message="append race")
                try:
                    await bus.publish(conns[i % 2].jetstream(), subject, event, msg_id=f"ib-1:chain-{i}")
                    return None
                except bus.PublishFailed as exc:
                    return str(exc)

            failures = [f for f in await asyncio.gather(*(append(i) for i in range(40))) if f]
            assert not failures, f"{len(failures)} of 40 appends failed on R{owned.replicas}: {failures[:3]}"
            records = await bus.stored(conns[0].jetstream(), EVENTS_STREAM, subject)
            assert len(records) == 40 and not audit.chain_findings(records, anchored=True)
        finally:
            for nc in conns:
                await nc.close()
    finally:
        owned.cluster.close()
