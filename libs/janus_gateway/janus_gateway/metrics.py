"""The gateway kernel's Prometheus metrics: every broker's gateway counts through the kernel
(route desk, emitter, lifecycle), so each figure means the same thing for IB, Webull and paper.
Labelled by account alias and broker only (both from the configuration)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Place sent → the broker acknowledged (or refused) it: adapter.place returns then.
PLACE_SECONDS = Histogram(
    "janus_broker_place_seconds", "Broker round trip of a place: sent until the broker acknowledged it",
    ["account", "broker"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
ORDERS_PLACED = Counter("janus_orders_placed_total", "Orders the broker acknowledged (first placement)",
                        ["account", "broker"])
ORDERS_REFUSED = Counter("janus_orders_refused_total",
                         "Orders the gateway refused (never sent, or not again), by reason",
                         ["account", "broker", "reason"])
FILLS = Counter("janus_fills_total", "Fills published (one per execution)", ["account", "broker"])
ORDER_EVENTS = Counter("janus_order_events_total", "Order events the gateway published, by kind",
                       ["account", "broker", "kind"])
CONNECTED = Gauge("janus_gateway_connected", "1 while the broker connection is up (READY or DEGRADED)",
                  ["account", "broker"])
