"""Prometheus metrics: the one endpoint a process serves, and the consumers' figures.

Every metric lives in prometheus_client's default registry (one per process), so whatever a
module counts is served by the endpoint the service runner starts (:func:`serve_endpoint`),
with the library's process and Python collectors alongside. The endpoint runs on a daemon
thread (prometheus_client's own WSGI server): a scrape never waits on the event loop, and the
event loop never waits on a scrape.

Labels are bounded by configuration (accounts, brokers, durables, reasons): never an intent id
or a symbol, whose number has no end.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol
from wsgiref.simple_server import WSGIServer

import structlog
from prometheus_client import REGISTRY, disable_created_metrics, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

log = structlog.get_logger()

WILDCARDS = frozenset({"0.0.0.0", "::", ""})
# A `_created` series beside every counter and histogram doubles the page for a figure nobody
# graphs (Prometheus sees a process restart as a counter reset anyway).
disable_created_metrics()  # type: ignore[no-untyped-call]  # the library leaves it unannotated
_serving = threading.Event()


def serving() -> bool:
    """Whether this process serves an endpoint (work done only for a scraper is skipped otherwise)."""
    return _serving.is_set()


@dataclass
class Endpoint:
    url: str
    server: WSGIServer
    thread: threading.Thread

    def stop(self) -> None:
        """Blocks until the serving thread has left its loop (call it off the event loop)."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def advertised(host: str) -> str:
    """The host a scraper uses: a wildcard bind is reachable at the machine's name."""
    return socket.gethostname() if host in WILDCARDS else host


def url_of(host: str, port: int) -> str:
    name = advertised(host)
    return f"http://[{name}]:{port}/metrics" if ":" in name else f"http://{name}:{port}/metrics"


def serve_endpoint(host: str, port: int) -> Endpoint | None:
    """Serve ``/metrics`` on ``host:port``; None (logged) when the port cannot be bound: metrics
    are worth less than the trading the process exists for, so it runs on without them."""
    try:
        server, thread = start_http_server(port, addr=host, registry=REGISTRY)
    except OSError as exc:
        log.error("metrics_endpoint_failed", host=host, port=port, error=type(exc).__name__, detail=str(exc))
        return None
    endpoint = Endpoint(url_of(host, port), server, thread)
    _serving.set()
    log.info("metrics_endpoint", url=endpoint.url)
    return endpoint


# --- consumers ------------------------------------------------------------------------------


class ConsumerFigures(Protocol):
    """What :class:`janus_common.consumer.Consumer` exposes to the collector."""

    stream: str
    durable: str

    def figures(self) -> dict[str, float]: ...


# name → (kind, help). Counts are the process's own (since it started); the server's view
# (pending, ack_pending, redelivered) is from the consumer info, refreshed periodically.
CONSUMER_METRICS = {
    "handled": ("counter", "Messages this process's consumer handled"),
    "retried": ("counter", "Messages handed back for redelivery after a handler failure"),
    "dead_lettered": ("counter", "Messages dead-lettered (undecodable, or failing max_deliver times)"),
    "failures": ("counter", "Exceptions no step handled (the message was nak'ed)"),
    "pending": ("gauge", "Messages in the stream the consumer has not been delivered yet (server's count)"),
    "ack_pending": ("gauge", "Messages delivered and not acknowledged yet (server's count)"),
    "redelivered": ("gauge", "Messages delivered more than once and not acknowledged yet (server's count)"),
    "alive": ("gauge", "1 while the consumer's loop runs"),
}


class ConsumerCollector(Collector):
    """Reads every live consumer of the process at scrape time: the figures are the ones the
    consumers keep anyway (their health report), not a second count that could disagree."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # consumers come and go on the loop; scrapes run on a thread
        self._consumers: dict[int, ConsumerFigures] = {}

    def add(self, consumer: ConsumerFigures) -> None:
        with self._lock:
            self._consumers[id(consumer)] = consumer

    def remove(self, consumer: ConsumerFigures) -> None:
        with self._lock:
            self._consumers.pop(id(consumer), None)

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        with self._lock:
            consumers = list(self._consumers.values())
        families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {}
        for name, (kind, text) in CONSUMER_METRICS.items():
            family = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            families[name] = family(f"janus_consumer_{name}", text, labels=["stream", "durable"])
        for consumer in consumers:
            for name, value in consumer.figures().items():
                if name in families:
                    families[name].add_metric([consumer.stream, consumer.durable], value)
        yield from families.values()

    def describe(self) -> Iterable[CounterMetricFamily | GaugeMetricFamily]:
        return []  # collected lazily: nothing to check for clashes at registration


CONSUMERS = ConsumerCollector()
REGISTRY.register(CONSUMERS)
