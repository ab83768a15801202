"""No secret leaves where it is kept: `make run`'s supervisor (janus-run) with a Webull app
secret from the environment, an order through the `janus` CLI, then every log file, stack.json
and everything janus-run printed are searched for the Webull secret, the Postgres passwords
and any NATS nkey seed. Each child's environment holds only the secrets it uses, and the
Webull token folder is private."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import signal
import stat
from pathlib import Path

import psutil
import pytest

from cli_runner import janus
from stack_runner import start_stack

pytestmark = pytest.mark.system

NKEY_SEED = re.compile(r"\bSU[A-Z2-7]{56}\b")


def _seeds_on_disk(nats_dir: Path) -> set[str]:
    """Seeds in the NATS credentials janus-run keeps (if this version keeps any)."""
    found: set[str] = set()
    for pattern in ("*.nk", "*.creds"):
        for path in nats_dir.rglob(pattern):
            found |= {m.group(0) for m in re.finditer(r"\bS[A-Z][A-Z2-7]{56}\b", path.read_text())}
    return found


async def test_no_secret_reaches_a_log_stack_json_or_the_console(tmp_path):
    wb_secret = "wb-" + secrets.token_urlsafe(24)
    stack = await start_stack(tmp_path, env={"WEBULL_APP_SECRET": wb_secret})
    data = tmp_path / "janus"
    try:
        url = stack.nats_url
        # Through the router, the registry (Postgres, as its own role) and the Webull gateway,
        # which signs with the secret the simulator checks.
        code, out = await janus(url, "--json", "order", "--account", "wb-1", "BUY", "AAPL", "2",
                                "--wait", "--timeout", "60", timeout=90)
        assert code == 0, out
        assert json.loads(out.splitlines()[-1])["status"] == "FILLED", out

        assert stack.summary["postgres"].startswith("postgresql://janus_registry:***@127.0.0.1:")
        children = {p.pid: p for p in psutil.Process(stack.proc.pid).children(recursive=False)}
        for name, info in stack.summary["processes"].items():
            env = children[info["pid"]].environ()
            assert ("JANUS_PG_DSN" in env) == (name == "registry"), name
            if name != "gateway-wb-1":
                assert wb_secret not in env.get("WEBULL_APP_SECRET", ""), name
        tokens = data / "webull-tokens"
        assert stat.S_IMODE(tokens.stat().st_mode) == 0o700
        assert stat.S_IMODE((tokens / "wb-1").stat().st_mode) == 0o700
    finally:
        stack.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(stack.proc.wait(), 15)
        await stack.drain
    assert code == 0, stack.tail()

    pg_passwords = {(data / "postgres" / name).read_text().strip()
                    for name in ("superuser.password", "registry.password")}
    assert all(len(p) >= 32 for p in pg_passwords)
    seeds = _seeds_on_disk(data / "nats")
    texts = {"janus-run output": "".join(stack.seen), "stack.json": (data / "stack.json").read_text()}
    logs = sorted(data.rglob("*.log"))  # every process's log, plus the NATS and Postgres servers'
    assert {p.name for p in logs} >= {"registry.log", "router.log", "gateway-wb-1.log", "webull-sim.log"}
    texts |= {str(p.relative_to(data)): p.read_text(errors="replace") for p in logs}
    for where, text in texts.items():
        assert wb_secret not in text, where
        for password in pg_passwords:
            assert password not in text, where
        for seed in seeds:
            assert seed not in text, where
        assert not NKEY_SEED.search(text), where
