"""The router's Prometheus metrics: what it decided, and how long deciding took.

``account`` is a configured alias or ``other`` (an intent may name any account; a label per
name it invents would let a client grow the series without bound); ``reason`` is a
:class:`~janus_common.messages.RejectReason` or empty."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

INTENTS = Counter("janus_intents_total", "Order intents the router answered, by outcome (routed, rejected, "
                  "already_decided) and reject reason", ["account", "outcome", "reason"])
CANCELS = Counter("janus_cancels_total", "Cancel intents the router answered, by outcome and reason",
                  ["account", "outcome", "reason"])
MODIFIES = Counter("janus_modifies_total", "Modify intents the router answered, by outcome and reason",
                   ["account", "outcome", "reason"])
# Handed the intent → its outcome event stored (JetStream acknowledged it); excludes time
# spent queued in the stream before this router took it.
DECISION_SECONDS = Histogram(
    "janus_intent_decision_seconds", "Router decision latency: intent received until its outcome is published",
    ["kind", "outcome"], buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))

OTHER = "other"
