"""Starts `janus-run` (what `make run` runs) on free ports for a test (shared by tests)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sysconfig
import urllib.request
from collections.abc import Callable
from pathlib import Path

import yaml

from janus_common.embedded import free_port

ROOT = Path(__file__).resolve().parents[1]
JANUS_RUN = Path(sysconfig.get_path("scripts")) / "janus-run"


def stack_config(tmp_path: Path, edit: Callable[[dict], None] | None = None) -> Path:
    """config.yaml.example as shipped, on free ports, so a developer's own `make run` is left alone.
    ``edit`` may change the parsed configuration before it is written (the fault tests' cluster)."""
    raw = yaml.safe_load((ROOT / "config.yaml.example").read_text())
    raw["simulators"] = {"ib_port": free_port(), "admin_port": free_port(), "webull_port": free_port(),
                         "webull_grpc_port": free_port()}
    # The console too: never the 8700 of a developer's own `make run`.
    raw["web"] = {**raw.get("web", {}), "host": "127.0.0.1", "port": free_port()}
    for account in raw["accounts"].values():
        if account.get("ib"):
            account["ib"]["port"] = raw["simulators"]["ib_port"]
        if account.get("webull"):
            account["webull"]["port"] = raw["simulators"]["webull_port"]
            account["webull"]["grpc_port"] = raw["simulators"]["webull_grpc_port"]
    # Every process's /metrics on a free port of its own (no counting up: free ports are not
    # consecutive), away from the shipped 19xxx that a developer's `make run` may hold.
    raw["metrics"] = {"host": "127.0.0.1", "ports": {
        "router": free_port(), "registry": free_port(), "pricer": free_port(), "web": free_port(), "gateways": 0,
        "accounts": {alias: free_port() for alias in raw["accounts"]}}}
    if edit is not None:
        edit(raw)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


class Stack:
    def __init__(self, proc: asyncio.subprocess.Process, summary: dict, config: dict, seen: list[str],
                 drain: asyncio.Task):
        self.proc, self.summary, self.config, self.seen, self.drain = proc, summary, config, seen, drain

    @property
    def nats_url(self) -> str:
        return self.summary["nats"]

    @property
    def console_url(self) -> str:
        return self.summary["console"]

    def tail(self, n: int = 30) -> str:
        return "".join(self.seen[-n:])


async def start_stack(tmp_path: Path, *extra: str, env: dict[str, str] | None = None,
                      edit: Callable[[dict], None] | None = None) -> Stack:
    """``env`` may name existing servers (JANUS_NATS_URL / JANUS_PG_DSN); by default the stack
    starts its own, whatever the test process's environment says."""
    config = stack_config(tmp_path, edit)
    env = {**{k: v for k, v in os.environ.items() if k not in ("JANUS_NATS_URL", "JANUS_PG_DSN")}, **(env or {})}
    proc = await asyncio.create_subprocess_exec(
        str(JANUS_RUN), "--data-dir", str(tmp_path / "janus"), "--config", str(config),
        "--nats-port", "0", "--pg-port", "0", "--ready-timeout", "90", *extra,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env, cwd=ROOT)
    seen: list[str] = []

    async def until_ready() -> None:
        while True:
            line = await proc.stdout.readline()
            if not line:
                raise AssertionError("janus-run exited before it was ready:\n" + "".join(seen))
            seen.append(line.decode(errors="replace"))
            if b'"stack_ready"' in line:
                return

    await asyncio.wait_for(until_ready(), 120)

    async def drain() -> None:  # keep reading so the supervisor never blocks on a full pipe
        while line := await proc.stdout.readline():
            seen.append(line.decode(errors="replace"))

    task = asyncio.create_task(drain())
    summary = json.loads((tmp_path / "janus" / "stack.json").read_text())
    if summary.get("credentials"):
        # The stack's own server knows only its own identities: this test talks to it, and runs
        # the `janus` CLI, as its operator (tests/conftest.py restores the suite's afterwards).
        os.environ["JANUS_NATS_CREDS"] = str(Path(summary["credentials"]) / "operator.nk")
    return Stack(proc, summary, yaml.safe_load(config.read_text()), seen, task)


async def stop_stack(stack: Stack, timeout: float = 30.0) -> int:
    """Ctrl-C, as a user stops `make run`; the supervisor's exit code once it and its log are done."""
    stack.proc.send_signal(signal.SIGINT)
    code = await asyncio.wait_for(stack.proc.wait(), timeout)
    await stack.drain
    return code


async def admin_post(port: int, path: str, body: dict) -> dict:
    """A request to the IB simulator's HTTP control (``simulators.admin_port``), as a user sends it."""
    return await _post(f"http://127.0.0.1:{port}{path}", body)


async def webull_admin_post(port: int, path: str, body: dict) -> dict:
    """A request to the Webull simulator's control (``/_sim/`` on its API port)."""
    return await _post(f"http://127.0.0.1:{port}/_sim/{path}", body)


async def _post(url: str, body: dict) -> dict:
    def call() -> dict:
        request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=10) as reply:
            return json.loads(reply.read() or b"{}")
    return await asyncio.to_thread(call)
