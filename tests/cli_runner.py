"""Runs the installed `janus` command the way a person or a script would (shared by tests)."""

from __future__ import annotations

import asyncio
import sysconfig
from pathlib import Path

JANUS = Path(sysconfig.get_path("scripts")) / "janus"


async def janus(nats_url: str, *args: str, timeout: float = 60.0) -> tuple[int, str]:
    """(exit code, stdout) of `janus --nats-url URL ARGS...`."""
    proc = await asyncio.create_subprocess_exec(str(JANUS), "--nats-url", nats_url, *args,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode, out.decode()
