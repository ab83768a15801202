"""Building large structures fast: the cyclic garbage collector paused while they are made."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["no_gc"]


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """The cyclic garbage collector paused while a large, acyclic structure is built (decoded
    events, states and records hold no reference cycles, so it would find nothing, yet it would
    rescan the growing heap over and over: a third of a million-event replay). Reference
    counting still frees everything as usual."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
