"""Reads a `janus-ib-sim` process's log until it listens (shared by the simulator tests)."""

from __future__ import annotations

import json


async def listening(proc) -> dict:
    """The simulator's `ib_sim_listening` log line (host, port, accounts)."""
    while True:
        line = await proc.stdout.readline()
        if not line:
            raise AssertionError("janus-ib-sim exited before listening")
        if b"ib_sim_listening" in line:
            return json.loads(line)
