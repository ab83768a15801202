"""deploy/compose.yaml: valid against the Compose Specification, and every service it runs
exists in the image with the flags it is given. No Docker engine is needed (none is assumed)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose.yaml"
BIN = Path(sys.executable).parent
JANUS_IMAGE = "${JANUS_IMAGE:-janus:latest}"  # overridable: the offline test builds its own tag


def _validate(path: Path) -> subprocess.CompletedProcess:
    # check-jsonschema ships the Compose Specification's own JSON schema (compose-spec.json).
    return subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def console_scripts() -> dict[str, str]:
    """Every console script a package of the image declares -> the package folder."""
    scripts = {}
    for pyproject in sorted(ROOT.glob("*/*/pyproject.toml")):
        if pyproject.parts[-3] not in ("libs", "services", "simulators"):
            continue
        declared = tomllib.loads(pyproject.read_text()).get("project", {}).get("scripts", {})
        scripts.update({name: str(pyproject.parent.relative_to(ROOT)) for name in declared})
    return scripts


def test_the_compose_file_is_valid_against_the_compose_specification():
    result = _validate(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("breakage, where", [
    ("    command: [\"janus-pricer\"", "    comand: [\"janus-pricer\""),        # misspelt key
    ("      replicas: 3", "      replicas: {three: 3}"),                          # wrong type
])
def test_the_validation_does_reject_a_broken_file(tmp_path, breakage, where):
    text = COMPOSE.read_text()
    assert breakage in text
    broken = tmp_path / "compose.yaml"
    broken.write_text(text.replace(breakage, where, 1))
    result = _validate(broken)
    assert result.returncode != 0 and "Schema validation errors" in result.stdout + result.stderr


def test_the_image_installs_every_package_that_declares_a_command():
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    for folder in ("libs", "services", "simulators"):
        assert f"COPY {folder} {folder}" in dockerfile
    assert "COPY config.yaml.example /janus/config.yaml" in dockerfile


def test_every_janus_service_command_exists_and_takes_its_flags(compose, console_scripts):
    janus_services = {name: s for name, s in compose["services"].items() if s.get("image") == JANUS_IMAGE}
    assert {"registry", "order-router", "pricer", "ib-sim", "webull-sim"} <= set(janus_services)
    for name, service in janus_services.items():
        command = service["command"]
        assert command[0] in console_scripts, f"{name}: {command[0]} is declared by no package"
        exe = shutil.which(command[0], path=str(BIN))
        assert exe, f"{name}: {command[0]} is not installed"
        help_text = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
        assert help_text.returncode == 0, f"{name}: {help_text.stderr}"
        for flag in (arg for arg in command[1:] if arg.startswith("--")):
            assert flag in help_text.stdout, f"{name}: {command[0]} has no {flag}"


def test_one_gateway_per_configured_account_and_dependencies_exist(compose):
    config = yaml.safe_load((ROOT / "config.yaml.example").read_text())
    services = compose["services"]
    gateways = {}
    for name, service in services.items():
        command = service.get("command") or []
        if command and command[0] in ("janus-ib-gateway", "janus-webull-gateway", "janus-paper-gateway"):
            gateways[command[command.index("--account") + 1]] = command[0]
        for needed in service.get("depends_on", {}):
            assert needed in services, f"{name} depends on an undefined service {needed}"
    assert gateways == {alias: f"janus-{acct['broker']}-gateway" for alias, acct in config["accounts"].items()}
    assert "paper" in {acct["broker"] for acct in config["accounts"].values()}
    assert services["order-router"]["deploy"]["replicas"] > 1
    assert {name for name, s in services.items() if "sim" in s.get("profiles", [])} == {"ib-sim", "webull-sim"}
