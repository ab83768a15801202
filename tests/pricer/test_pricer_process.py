"""``janus-pricer`` as a process: answers $SRV.PING as janus-pricer, stops on SIGTERM with exit
0, and refuses a bad configuration with exit 2 naming the key."""

from __future__ import annotations

import asyncio
import json
import signal
import sysconfig
from pathlib import Path

import pytest
import yaml

from janus_client.discovery import discover

pytestmark = pytest.mark.integration

SCRIPT = Path(sysconfig.get_path("scripts")) / "janus-pricer"


def _config(tmp_path: Path, debounce_ms: int) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({
        "accounts": {"ib-1": {"broker": "ib", "ib": {"port": 7497}}},
        "pricer": {"debounce_ms": debounce_ms, "stale_after_s": 30},
    }))
    return path


async def _start(tmp_path, nats_url, debounce_ms):
    return await asyncio.create_subprocess_exec(
        str(SCRIPT), "--config", str(_config(tmp_path, debounce_ms)), "--nats-url", nats_url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def test_console_script_answers_ping_and_stops_on_sigterm(tmp_path, nc, nats_url):
    proc = await _start(tmp_path, nats_url, 250)
    lines: list[dict] = []

    async def until_ready():
        while line := await proc.stderr.readline():
            lines.append(json.loads(line))
            if lines[-1]["event"] == "service_ready":
                return
        raise AssertionError(f"janus-pricer exited: {lines}")

    try:
        await asyncio.wait_for(until_ready(), 30)
        services = await discover(nc, window=0.5)
        assert [s.name for s in services] == ["janus-pricer"]
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    rest = [json.loads(line) for line in (await proc.stderr.read()).splitlines()]
    assert any(e["event"] == "pricer_stats" for e in rest)
    assert all(e.get("service") == "janus-pricer" for e in lines + rest)


async def test_a_debounce_outside_200_500_ms_exits_2_naming_the_key(tmp_path, nc, nats_url):
    proc = await _start(tmp_path, nats_url, 50)
    assert await asyncio.wait_for(proc.wait(), 30) == 2
    errors = [json.loads(line) for line in (await proc.stderr.read()).splitlines()]
    assert any(e["event"] == "fatal_config_error" and e["key"] == "pricer.debounce_ms"
               for e in errors), errors
