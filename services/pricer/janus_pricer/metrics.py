"""The pricer's Prometheus metrics (no account or symbol labels: the figures are the
process's, and symbols have no bound)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

MARKET_DATA = Counter("janus_pricer_ticks_total", "Market data the pricer took into its cache, by kind (tick, bar)",
                      ["kind"])
VALUATIONS = Counter("janus_pricer_valuations_total", "Account valuations published")
# The first tick (its own ts) that made an account due → that account's valuation published:
# the debounce window plus the flush, plus any clock difference with the tick's source.
VALUATION_LAG = Histogram(
    "janus_pricer_valuation_lag_seconds", "Tick timestamp until the valuation it caused is published",
    buckets=(0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0))
