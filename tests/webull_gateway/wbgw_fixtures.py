"""Webull gateway harness: the Webull simulator on the test's loop (the gateway calls the SDK on
threads), and the gateway's real setup under the service runner.

Fixtures live here, imported by each test module, rather than in a conftest.py: another suite's
tests import names from "conftest", and a second conftest module in the session could shadow it."""

from __future__ import annotations

import os

import pytest
from gateway_harness import events, ready  # noqa: F401  (events: a fixture, re-exported)

from janus_webull_sim import SimConfig, WebullSimulator
from wbgw_helpers import running_gateway

# The SDK honours HTTP(S)_PROXY and ignores NO_PROXY: loopback must not go through a proxy.
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
    os.environ.pop(_var, None)

FAST = SimConfig(tick_interval=0.02, ping_interval=0.2)


@pytest.fixture(autouse=True)
def sdk_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # anything the SDK still writes relative to the CWD lands in tmp
    monkeypatch.setenv("JANUS_WEBULL_TOKEN_DIR", str(tmp_path / "tokens"))


@pytest.fixture
async def sim():
    async with WebullSimulator(FAST, seed=5) as simulator:
        yield simulator


@pytest.fixture
async def gateway(js, nats_url, sim, events):
    async with ready(running_gateway(nats_url, sim), events) as ctx:
        yield ctx
