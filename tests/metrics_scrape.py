"""Reads a process's /metrics as Prometheus does: an HTTP GET, parsed by prometheus_client's
own text parser (shared by tests)."""

from __future__ import annotations

import asyncio
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def exposition(url: str) -> str:
    """The page itself (Prometheus's text format)."""
    def get() -> str:
        with urllib.request.urlopen(url, timeout=10) as reply:
            assert reply.status == 200 and reply.headers.get_content_type() == "text/plain"
            return reply.read().decode()
    return await asyncio.to_thread(get)


async def scrape(url: str) -> Samples:
    """Every sample at ``url``: (sample name, labels) → value."""
    text = await exposition(url)
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample's value, 0 when absent (a labelled counter appears with its first count)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}


async def scrape_until(url: str, ready, timeout: float = 10.0) -> Samples:
    """Scrape until ``ready(samples)``: a process counts an outcome right after JetStream
    acknowledged it, which a test that saw the event itself may be a moment ahead of."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        samples = await scrape(url)
        if ready(samples) or asyncio.get_running_loop().time() > deadline:
            return samples
        await asyncio.sleep(0.05)  # polling the figure itself, not waiting in place of it
