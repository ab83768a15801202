"""How every `janus` command reaches NATS, and what it says when it cannot."""

from __future__ import annotations

import sys

from nats.aio.client import Client as NATS

from janus_common import bus

from .exits import EXIT_UNREACHABLE


async def connect_or_explain(url: str, name: str = "janus-cli") -> NATS | None:
    """A connection, or None after telling the person why (the caller exits with 3)."""
    try:
        return await bus.connect(url, name, initial_attempts=2)
    except bus.AuthRefused as exc:
        print(f"janus: {exc} (give credentials with --creds FILE or $JANUS_NATS_CREDS)", file=sys.stderr)
        return None
    except bus.BusError as exc:
        print(f"janus: cannot reach NATS: {exc}", file=sys.stderr)
        return None
