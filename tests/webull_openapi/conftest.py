"""Fixtures: a simulator on its own thread, and the official SDK pointed at it.

The SDK is the real client; only its side effects are tamed (loggers set before the clients are
built, so no stdout logger and no webull_*_sdk.log in the working directory; a token dir in tmp).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from dataclasses import dataclass, field
from typing import Any

import pytest
from webull.core import request as core_request
from webull.core.client import ApiClient
from webull.core.http import protocol_type
from webull.core.retry.backoff_strategy import FixedDelayStrategy
from webull.core.retry.retry_condition import RetryCondition
from webull.core.retry.retry_policy import RetryPolicy
from webull.data.data_client import DataClient
from webull.trade.events.default_retry_policy import RetryOnGrpcStatusCondition
from webull.trade.trade_client import TradeClient
from webull.trade.trade_events_client import TradeEventsClient

from janus_webull_sim import SimConfig, ThreadedSimulator

# The SDK honours HTTP(S)_PROXY and ignores NO_PROXY: loopback must not go through a proxy.
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
    os.environ.pop(_var, None)
core_request.set_default_protocol_type(protocol_type.HTTP)

FAST = SimConfig(tick_interval=0.02, ping_interval=0.2)


@pytest.fixture(autouse=True)
def _sdk_cwd(tmp_path, monkeypatch):
    # Anything the SDK still writes relative to the CWD lands in tmp.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WEBULL_OPENAPI_TOKEN_DIR", str(tmp_path / "conf"))
    yield
    logging.getLogger("webull.core").handlers.clear()


@pytest.fixture
def sim():
    with ThreadedSimulator(FAST, seed=7) as s:
        yield s


def make_api(sim: ThreadedSimulator | None, *, secret: str | None = None,
             timeout: float | None = None, key: str | None = None, port: int | None = None) -> ApiClient:
    """With ``sim=None`` key, secret and port must be given (a simulator in another process)."""
    api = ApiClient(key or sim.app_key, secret or sim.app_secret, "us", port=port or sim.http_port,
                    timeout=timeout)
    api.add_endpoint("us", "127.0.0.1")
    api.set_stream_logger(log_level=logging.CRITICAL, stream=open(os.devnull, "w"))
    return api


@pytest.fixture
def api(sim) -> ApiClient:
    return make_api(sim)


@pytest.fixture
def trade(api) -> TradeClient:
    return TradeClient(api)


@pytest.fixture
def data(api) -> DataClient:
    return DataClient(api)


class _StopWhenClosing(RetryCondition):
    """The SDK's own retry rule (UNAVAILABLE/INTERNAL/UNKNOWN), plus: not once the test is done."""

    def __init__(self, listener: EventListener):
        self._listener = listener
        self._sdk_rule = RetryOnGrpcStatusCondition()

    def should_retry(self, ctx: Any) -> int:
        return RetryCondition.NO_RETRY if self._listener.closing else self._sdk_rule.should_retry(ctx)


@dataclass
class EventListener:
    """TradeEventsClient.do_subscribe blocks: run it on a thread and hand everything to a queue."""

    sim: ThreadedSimulator
    secret: str | None = None
    retry_delay_ms: int = 100
    items: queue.Queue = field(default_factory=queue.Queue)
    seen: list = field(default_factory=list)  # every item taken from the queue, in order
    closing: bool = False
    error: BaseException | None = None

    def start(self) -> EventListener:
        policy = RetryPolicy(_StopWhenClosing(self), FixedDelayStrategy(self.retry_delay_ms))
        client = TradeEventsClient(self.sim.app_key, self.secret or self.sim.app_secret, "us",
                                   host="127.0.0.1", port=self.sim.grpc_port, tls_enable=False,
                                   retry_policy=policy)
        client.on_connect = lambda c, payload, resp: self.items.put(("connect", payload))
        client.on_events_message = lambda et, st, payload, resp: self.items.put(("event", et, payload))
        client.on_log = lambda level, text: self.items.put(("log", level, text))
        self._thread = threading.Thread(target=self._run, args=(client,), daemon=True)
        self._thread.start()
        return self

    def _run(self, client: TradeEventsClient) -> None:
        try:
            client.do_subscribe([self.sim.account_id])
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            self.error = exc
        finally:
            self.items.put(("ended",))

    def next(self, kind: str, timeout: float = 5.0, match=lambda item: True) -> tuple:
        """The next item of ``kind`` satisfying ``match`` (others are skipped)."""
        import time
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kind} item within {timeout}s")
            try:
                item = self.items.get(timeout=left)
            except queue.Empty:
                continue
            self.seen.append(item)
            if item[0] == kind and match(item):
                return item
            if item[0] == "ended" and kind != "ended":
                raise AssertionError(f"subscription ended while waiting for {kind}: {self.error!r}")

    def next_event(self, timeout: float = 5.0, **fields: str) -> dict:
        item = self.next("event", timeout, lambda it: all(it[2].get(k) == v for k, v in fields.items()))
        return item[2]

    def close(self) -> None:
        self.closing = True
        if self.sim.sim is not None:
            self.sim.drop_stream()
        self._thread.join(5)


@pytest.fixture
def events(sim):
    listener = EventListener(sim).start()
    listener.next("connect")
    yield listener
    listener.close()
