"""Fault tests: real processes, no mocks. A NATS cluster (tests/nats_cluster.py) or one NATS
server the test owns, `janus-run` on it (tests/stack_runner.py), a load of intents from a client
identity of its own (fault_load), the invariants read back from INTENTS and EVENTS
(fault_checks) and `janus audit replay`. Helpers: fault_stack."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from fault_stack import OwnedBus


@contextlib.contextmanager
def _owned(tmp_path: Path, nodes: int):
    bus = OwnedBus(tmp_path, nodes)
    try:
        yield bus
    finally:
        bus.cluster.close()


@pytest.fixture
def owned_cluster(tmp_path: Path):
    with _owned(tmp_path, 3) as bus:
        yield bus


@pytest.fixture
def owned_single(tmp_path: Path):
    with _owned(tmp_path, 1) as bus:
        yield bus
