"""Compose gets the same bus rules as `make run`: `janus-secrets` output plus deploy/nats.conf
make a real nats-server that speaks TLS only and admits only the configured identities; every
Janus service of deploy/compose.yaml connects as its own identity, with its seed mounted as a
secret; the Webull secret and the Postgres DSN go only to the processes that use them."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from pathlib import Path

import nats
import nats.errors
import pytest
import yaml

from janus_client.stack.secrets import make_secrets
from janus_common import authz, bus
from janus_common.config import load
from janus_common.embedded import free_port, nats_server_binary, port_open

pytestmark = pytest.mark.system

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose.yaml"


def _services() -> dict:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def test_each_janus_service_connects_as_its_own_identity_with_a_mounted_seed():
    compose = yaml.safe_load(COMPOSE.read_text())
    known = authz.identities(load(ROOT / "config.yaml.example", env={}))
    declared = compose["secrets"]
    for name, service in compose["services"].items():
        env = service.get("environment") or {}
        if not str((service.get("command") or [""])[0]).startswith("janus-") or name.endswith("-sim"):
            assert "JANUS_NATS_CREDS" not in env, name
            continue
        creds = env["JANUS_NATS_CREDS"]
        identity = Path(creds).stem
        assert identity in known, f"{name}: {identity} is no identity of the configuration"
        assert creds == f"/run/secrets/{identity}.nk"
        assert f"{identity}.nk" in service["secrets"] and f"{identity}.nk" in declared
        assert declared[f"{identity}.nk"]["file"] == "${JANUS_SECRETS_DIR:-./secrets}" + f"/nats/{identity}.nk"
        assert env["JANUS_NATS_URL"].startswith("${JANUS_NATS_URL:-tls://")
        command = service["command"]
        if "--account" in command:
            assert identity == authz.gateway_identity(command[command.index("--account") + 1])


def test_secrets_go_only_to_the_processes_that_use_them():
    for name, service in _services().items():
        env = service.get("environment") or {}
        text = yaml.safe_dump(env)
        if "WEBULL_APP_SECRET" in text:
            assert name in ("gateway-wb-1", "webull-sim"), name
        if "JANUS_PG_DSN" in env:
            assert name == "registry", name


@pytest.fixture
def compose_nats(tmp_path):
    """deploy/nats.conf as compose runs it, its container paths pointed at temp dirs."""
    out = tmp_path / "secrets"
    make_secrets(str(ROOT / "config.yaml.example"), out, ["localhost", "127.0.0.1"])
    conf_dir = tmp_path / "etc"
    conf_dir.mkdir()
    text = (ROOT / "deploy" / "nats.conf").read_text()
    text = text.replace("/run/secrets/nats-server.pem", str(out / "tls" / "server.pem"))
    text = text.replace("/run/secrets/nats-server.key", str(out / "tls" / "server.key"))
    text = text.replace("/data/jetstream", str(tmp_path / "js"))
    (conf_dir / "nats.conf").write_text(text)
    (conf_dir / "authorization.conf").write_text((out / "nats" / "authorization.conf").read_text())
    port, monitor = free_port(), free_port()
    log = tmp_path / "nats.log"
    proc = subprocess.Popen([str(nats_server_binary()), "-c", str(conf_dir / "nats.conf"), "-a", "127.0.0.1",
                             "-p", str(port), "-m", str(monitor), "-l", str(log)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):  # waiting for another process's socket
            if port_open("127.0.0.1", port) or proc.poll() is not None:
                break
            subprocess.run(["sleep", "0.05"])
        assert proc.poll() is None, log.read_text() if log.exists() else "nats-server exited"
        yield port, out
    finally:
        proc.terminate()
        proc.wait(10)


async def test_the_compose_nats_speaks_tls_and_admits_only_configured_identities(compose_nats, monkeypatch):
    port, out = compose_nats
    monkeypatch.setenv("JANUS_NATS_CA", str(out / "tls" / "ca.pem"))
    url = f"tls://localhost:{port}"
    nc = await bus.connect(url, "operator", initial_attempts=2, creds=out / "nats" / "operator.nk")
    assert nc.is_connected
    await nc.close()

    with pytest.raises(bus.AuthRefused):  # TLS fine, no credentials
        monkeypatch.delenv("JANUS_NATS_CREDS", raising=False)
        await bus.connect(url, "anonymous", initial_attempts=2)

    with pytest.raises(Exception):  # plain text is refused: the server requires TLS
        await asyncio.wait_for(nats.connect(f"nats://127.0.0.1:{port}", allow_reconnect=False,
                                            max_reconnect_attempts=0, connect_timeout=2,
                                            nkeys_seed=str(out / "nats" / "operator.nk")), 10)

    seeds = list((out / "nats").glob("*.nk"))
    assert seeds and all(p.stat().st_mode & 0o777 == 0o600 for p in seeds)
    assert (out / "tls" / "server.key").stat().st_mode & 0o777 == 0o600
    assert not re.search(r"SU[A-Z2-7]{56}", (out / "nats" / "authorization.conf").read_text())
    os.environ.pop("JANUS_NATS_CA", None)
