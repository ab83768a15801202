"""deploy/compose.yaml for real: the image is built (offline, tests/compose_stack.py), the
stack comes up with the simulators on a docker network of its own, the router is scaled to 3,
orders go through the `janus` CLI, one router container is stopped while orders are in
flight, and every intent must end with exactly one routing outcome, each routed order filled,
and `janus audit replay` clean. Skipped, with the reason, where no Docker engine can be had."""

from __future__ import annotations

import json
import os
import subprocess
import sysconfig
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from compose_stack import (COMPOSE_FILE, Compose, ComposeFailure, Engine, EngineUnavailable, compose_available,
                           offline_base, override_file, prune_dangling, remove_stale_projects, start_engine,
                           wait_for)
from janus_client.stack.secrets import make_secrets
from janus_common.embedded import free_port

pytestmark = pytest.mark.system

ROOT = Path(__file__).resolve().parents[2]
JANUS = Path(sysconfig.get_path("scripts")) / "janus"
PROJECT_PREFIX = "janus-test-"  # compose project names of this test (never an operator's "janus")
TEST_IMAGE = "janus-compose-test:latest"  # one tag, reused: the next run's build starts from its layers
ROUTERS = 3
# (account, side, symbol, qty): both brokers' simulators, buys and sells (both accounts may short).
ORDERS = [(acct, side, sym, qty) for acct in ("ib-1", "wb-1") for side, sym, qty in
          (("BUY", "AAPL", 10), ("BUY", "MSFT", 5), ("SELL", "AAPL", 3), ("BUY", "SPY", 2), ("SELL", "MSFT", 1))]
# Services and how many instances answer $SRV.STATS once the stack is up.
EXPECTED = {"janus-router": ROUTERS, "janus-registry": 2, "janus-pricer": 1, "janus-ib-gateway": 2,
            "janus-webull-gateway": 1, "janus-paper-gateway": 1}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    try:
        found = start_engine(tmp_path_factory.mktemp("dockerd"))
    except EngineUnavailable as e:
        pytest.skip(f"no Docker engine: {e}")
    why = compose_available(found)
    if why:
        found.stop()
        pytest.skip(why)
    try:
        yield found
    finally:
        found.stop()  # only a dockerd this test started


@pytest.fixture(scope="module")
def stack(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Compose, dict[str, str]]]:
    work = tmp_path_factory.mktemp("compose")
    started = time.monotonic()
    remove_stale_projects(engine, PROJECT_PREFIX)
    try:
        base = offline_base(engine, work)
    except EngineUnavailable as e:
        pytest.skip(str(e))
    secrets = work / "secrets"
    make_secrets(str(ROOT / "config.yaml.example"), secrets, ["nats", "localhost", "127.0.0.1"])
    port = free_port()
    compose = Compose(engine, f"{PROJECT_PREFIX}{uuid.uuid4().hex[:8]}",
                      [COMPOSE_FILE, override_file(work / "offline.override.yaml")],
                      env={"JANUS_BASE_IMAGE": base, "JANUS_PIP_INSTALL_ARGS": "--no-index --find-links /wheels",
                           "JANUS_IMAGE": TEST_IMAGE, "JANUS_NATS_IMAGE": base, "JANUS_POSTGRES_IMAGE": base,
                           "JANUS_SECRETS_DIR": str(secrets),
                           # Published on loopback only, on a free port: the machine's own 4222
                           # (if any) is neither used nor disturbed.
                           "JANUS_NATS_PUBLISH": f"127.0.0.1:{port}",
                           "JANUS_WEB_PUBLISH": str(free_port())})  # the console: nobody's 8700
    # The CLI on the host, as an operator outside the containers would run it.
    cli_env = {**os.environ, "JANUS_NATS_CA": str(secrets / "tls" / "ca.pem"),
               "JANUS_NATS_CREDS": str(secrets / "nats" / "operator.nk"),
               "JANUS_NATS_URL": f"tls://127.0.0.1:{port}"}
    try:
        compose.run("build", "bus-setup", timeout=900)  # every Janus service shares this image
        prune_dangling(engine)
        print(f"images ready in {time.monotonic() - started:.0f} s")
        compose.run("--profile", "sim", "up", "--detach", "--no-build", "--scale", f"order-router={ROUTERS}",
                    timeout=600)
        _wait_for_services(compose, cli_env)
        print(f"stack up in {time.monotonic() - started:.0f} s")
        yield compose, cli_env
    finally:
        compose.down()


def _janus(cli_env: dict[str, str], *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(JANUS), "--nats-url", cli_env["JANUS_NATS_URL"], *args], env=cli_env,
                          capture_output=True, text=True, timeout=timeout)


def _instances(cli_env: dict[str, str]) -> Counter[str]:
    result = _janus(cli_env, "status", "--json", timeout=30)
    try:
        services = json.loads(result.stdout) if result.stdout.strip() else []
    except json.JSONDecodeError:
        return Counter()
    return Counter(s["name"] for s in services if not s.get("dead_consumers"))


def _wait_for_services(compose: Compose, cli_env: dict[str, str]) -> None:
    last: list[Counter[str]] = [Counter()]

    def all_up() -> bool:
        last[0] = _instances(cli_env)
        return all(last[0][name] >= n for name, n in EXPECTED.items())

    try:
        wait_for(all_up, 240, "every service answering $SRV.STATS", interval=2)
    except TimeoutError as e:
        raise ComposeFailure(f"{e}; answering: {dict(last[0])}, expected: {EXPECTED}",
                             compose.logs_tail()) from None


def _order(cli_env: dict[str, str], intent: str, account: str, side: str, symbol: str, qty: int) -> tuple[str, int, str]:
    result = _janus(cli_env, "order", "--account", account, side, symbol, str(qty), "--type", "MARKET",
                    "--intent-id", intent, "--wait", "--timeout", "60")
    return intent, result.returncode, result.stdout + result.stderr


def test_compose_stack_routes_and_fills_every_order_while_a_router_stops(stack: tuple[Compose, dict[str, str]]) -> None:
    compose, cli_env = stack
    run = uuid.uuid4().hex[:6]
    intents = {f"compose-{run}-{i}": order for i, order in enumerate(ORDERS * 2)}
    first, second = list(intents)[:len(ORDERS)], list(intents)[len(ORDERS):]
    results: dict[str, tuple[int, str]] = {}

    for intent in first:  # one at a time: every router replica is up
        _, code, out = _order(cli_env, intent, *intents[intent])
        results[intent] = (code, out)

    routers = compose.containers("order-router")
    assert len(routers) == ROUTERS, f"order-router containers: {routers}"
    # The second half goes out concurrently and a router is stopped while it is in flight:
    # its unacknowledged intents are redelivered to the other two (JetStream work queue).
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(_order, cli_env, intent, *intents[intent]) for intent in second]
        compose.engine.docker("stop", "--time", "10", routers[0], timeout=60)
        for future in futures:
            intent, code, out = future.result(timeout=180)
            results[intent] = (code, out)
    assert len(compose.containers("order-router")) == ROUTERS - 1

    failed = {i: r for i, r in results.items() if r[0] != 0}
    assert not failed, f"orders not filled: {failed}\n{compose.logs_tail()}"

    # Every intent: exactly one routing outcome on EVENTS, and the routed ones filled.
    listing = _janus(cli_env, "events", timeout=60)
    assert listing.returncode == 0, listing.stderr
    kinds: dict[str, Counter[str]] = defaultdict(Counter)
    for line in listing.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[3] in intents:
            kinds[parts[3]][parts[2]] += 1
    for intent in intents:
        outcomes = kinds[intent]["OrderRouted"] + kinds[intent]["OrderRejected"]
        assert outcomes == 1, f"{intent}: {outcomes} routing outcomes ({dict(kinds[intent])})"
        assert kinds[intent]["OrderRouted"] == 1 and kinds[intent]["OrderFilled"] >= 1, \
            f"{intent}: {dict(kinds[intent])}"

    replay = _janus(cli_env, "audit", "replay", timeout=120)
    assert replay.returncode == 0, replay.stdout + replay.stderr
