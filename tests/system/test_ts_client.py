"""examples/ts-client (Node.js, only a NATS library and MessagePack) against what `make run`
runs: as config.yaml.example's `demo-client`, with its generated nkey seed, it sends an intent as
JSON and one as MessagePack, follows each to its fill, and prints the account's position. The
example is type-checked (`tsc`, checkJs) from a copy of the folder, so the repository's own copy
gets no node_modules; npm reaches only its registry, with a cache in the test's temp dir."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from cli_runner import janus
from janus_common import bus, subjects
from janus_common import messages as m
from janus_common.streams import INTENTS_STREAM
from stack_runner import ROOT, start_stack, stop_stack

pytestmark = [pytest.mark.system,
              pytest.mark.skipif(not (shutil.which("node") and shutil.which("npm")),
                                 reason="Node.js (node and npm) is not installed")]

EXAMPLE = ROOT / "examples" / "ts-client"


@pytest.fixture(scope="module")
def ts_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example installed as its README says (`npm ci`: exactly package-lock.json) and
    type-checked (`npm run check`)."""
    base = tmp_path_factory.mktemp("ts-client")
    folder = base / "ts-client"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("node_modules"))
    npm = ["npm", "--cache", str(base / "npm-cache"), "--no-audit", "--no-fund", "--no-update-notifier"]
    for step in (["ci"], ["run", "check"]):
        done = subprocess.run([*npm, *step], cwd=folder, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"npm {' '.join(step)}:\n{done.stdout}\n{done.stderr}"
    return folder


async def run_client(folder: Path, *args: str, timeout: float = 120.0) -> dict:
    proc = await asyncio.create_subprocess_exec("node", "index.mjs", "--json", *args, cwd=folder,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode == 0, f"node index.mjs {' '.join(args)} exited {proc.returncode}:\n{err.decode()}"
    return json.loads(out.decode().strip().splitlines()[-1])


async def test_the_ts_client_places_an_order_and_sees_it_filled(tmp_path, ts_client):
    stack = await start_stack(tmp_path)
    seed = Path(stack.summary["credentials"]) / "demo-client.nk"
    common = ("--server", stack.nats_url, "--creds", str(seed), "--symbol", "AAPL")
    try:
        as_json = await run_client(ts_client, *common, "--account", "ib-1", "--qty", "7", "--format", "json")
        assert as_json["filled"] == 7 and as_json["avg_price"] > 0, as_json
        assert [p["qty"] for p in as_json["positions"] if p["symbol"] == "AAPL"] == [7], as_json

        as_msgpack = await run_client(ts_client, *common, "--account", "wb-1", "--qty", "2", "--format", "msgpack")
        assert as_msgpack["filled"] == 2, as_msgpack
        assert [p["qty"] for p in as_msgpack["positions"] if p["symbol"] == "AAPL"] == [2], as_msgpack

        # Stored as sent (JSON with its header, MessagePack without), and read back by Janus's
        # own tools: the audit finds both intents answered.
        operator = await bus.connect(stack.nats_url, "inspector", initial_attempts=3)
        try:
            stored = await bus.stored(operator.jetstream(), INTENTS_STREAM, subjects.ALL_INTENTS, timeout=10)
        finally:
            await operator.close()
        by_id = {m.INTENTS.decode(r.data, content_type=r.content_type).intent_id: r for r in stored}
        assert by_id[as_json["intent_id"]].content_type == m.JSON
        assert by_id[as_msgpack["intent_id"]].content_type is None
        code, out = await janus(stack.nats_url, "audit", "replay", timeout=120)
        assert code == 0 and "OK" in out, out
    finally:
        code = await stop_stack(stack)
    assert code == 0, stack.tail()
