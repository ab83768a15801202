"""A one-line progress bar on stderr for long reads (``janus audit replay`` over a million
events): redrawn in place on a terminal, silent when stderr is not one (scripts, CI logs)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]

WIDTH = 30


class Progress:
    def __init__(self, label: str, *, enabled: bool = True, out: TextIO | None = None) -> None:
        self.label = label
        self.out = out or sys.stderr
        self.enabled = enabled and self.out.isatty()
        self.started = time.monotonic()
        self.drawn = False

    def update(self, read: int, pending: int) -> None:
        if not self.enabled:
            return
        total = read + pending
        share = read / total if total else 1.0
        rate = read / max(time.monotonic() - self.started, 1e-6)
        bar = "#" * int(share * WIDTH)
        self.out.write(f"\r{self.label:<16} [{bar:<{WIDTH}}] {read:>11,} / {total:,} {share:5.1%} "
                       f"{rate:>9,.0f}/s")
        self.out.flush()
        self.drawn = True

    def done(self) -> None:
        if self.drawn:
            self.out.write("\n")
            self.out.flush()
