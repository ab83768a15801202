"""The registry's Prometheus metrics: how often a resolve is answered from the cache."""

from __future__ import annotations

from prometheus_client import Counter

CACHE_HITS = Counter("janus_registry_cache_hits_total", "Resolves answered from the in-memory cache")
# A miss: the cache could not answer (no entry, or one lacking what the broker needs); it is
# answered by the ticker rule, a database read or a broker look-up, or refused.
CACHE_MISSES = Counter("janus_registry_cache_misses_total", "Resolves the cache could not answer")
