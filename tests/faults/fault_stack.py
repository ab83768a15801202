"""The fault tests' stacks: NATS servers the test owns (tests/nats_cluster.py) with the
credentials of the configuration janus-run loads, janus-run on them, its stop, the audit."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from cli_runner import janus
from fault_load import ACCOUNTS, LOAD_IDENTITY
from janus_common import authz
from janus_common.config import load as load_config
from nats_cluster import NatsCluster, cluster_authorization
from stack_runner import ROOT, Stack, start_stack


def fault_edit(*, replicas: int = 1, credentials_dir: Path | None = None) -> Callable[[dict], None]:
    """The shipped configuration with: the load's client identity (ib-1, ib-2, wb-1), limits
    that a load of ~100 intents/s does not reach (rate, open orders), ``nats.replicas`` and,
    for a server the test owns, where the processes find their seeds."""
    def edit(raw: dict) -> None:
        raw.setdefault("clients", {})[LOAD_IDENTITY] = {"accounts": list(ACCOUNTS)}
        raw.setdefault("risk", {}).update(max_orders_per_minute=1_000_000, max_open_orders=100_000)
        raw["nats"]["replicas"] = replicas
        if credentials_dir is not None:
            raw["nats"]["credentials_dir"] = str(credentials_dir)
    return edit


def identities_for(tmp_path: Path, edit: Callable[[dict], None]) -> dict[str, authz.Permissions]:
    """Every identity of the configuration janus-run will load (plus the suite's admin)."""
    raw = yaml.safe_load((ROOT / "config.yaml.example").read_text())
    edit(raw)
    path = tmp_path / "identities-config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return authz.identities(load_config(path, env={}), admin=True)


class OwnedBus:
    """NATS servers this test owns (one node or a cluster) and the credentials folder the
    stack's processes read their seeds from (``nats.credentials_dir``)."""

    def __init__(self, tmp_path: Path, nodes: int) -> None:
        self.replicas = 3 if nodes >= 3 else 1
        self.creds_dir = tmp_path / "creds"
        self.edit = fault_edit(replicas=self.replicas, credentials_dir=self.creds_dir)
        block, _ = cluster_authorization(self.creds_dir, identities_for(tmp_path, self.edit))
        self.cluster = NatsCluster(tmp_path / "nats", block, self.creds_dir / "admin.nk")
        self.cluster.start(nodes)

    def creds(self, identity: str) -> Path:
        return self.creds_dir / f"{identity}.nk"


async def stack_on(tmp_path: Path, owned: OwnedBus) -> Stack:
    return await start_stack(tmp_path, env={"JANUS_NATS_URL": owned.cluster.urls}, edit=owned.edit)


async def stop_stack(stack: Stack) -> None:
    if stack.proc.returncode is None:
        stack.proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(stack.proc.wait(), 20)
        except asyncio.TimeoutError:
            stack.proc.kill()
            await stack.proc.wait()
    await stack.drain


async def audit(url: str) -> tuple[int, dict[str, Any] | str]:
    code, out = await janus(url, "--json", "audit", "replay", timeout=180)
    try:
        return code, json.loads(out)
    except ValueError:
        return code, out


def log_lines(stack: Stack, process: str, *needles: str, limit: int = 20) -> list[str]:
    """Lines of a process's log under the stack (evidence for the report)."""
    path = Path(stack.summary["logs"]) / f"{process}.log"
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    hits = [line for line in lines if any(n in line for n in needles)]
    return hits[-limit:]



def gateway_failures(stack: Stack) -> dict[str, list[str]]:
    """Per gateway, the events it failed to publish (``order_event_failed``): time and the
    exception's last line. Evidence of an event lost to the fault."""
    out: dict[str, list[str]] = {}
    for name in stack.summary["processes"]:
        if not name.startswith("gateway-"):
            continue
        found = []
        for line in log_lines(stack, name, '"order_event_failed"', limit=50):
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            last = (entry.get("exception") or "").strip().splitlines()[-1:] or [""]
            found.append(f"{entry.get('timestamp')} {last[0][:160]}")
        if found:
            out[name] = found
    return out
