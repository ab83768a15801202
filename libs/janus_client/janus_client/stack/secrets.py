"""Credentials for a deployment that ``make run`` does not start (compose, a NATS cluster):

``janus-secrets --config config.yaml --out deploy/secrets`` writes, once (kept on later runs):

- ``nats/<identity>.nk``: an nkey seed per identity of the configuration (0600);
- ``nats/authorization.conf``: the NATS server's authorization from them (janus_common.authz);
- ``tls/ca.pem``, ``tls/server.pem``, ``tls/server.key``: a private CA and the NATS server's
  certificate for the names it is reached by (``--tls-name``, default ``nats`` and ``localhost``).

``janus-bus-setup`` is the supervisor's start-up step where no ``janus-run`` runs: it creates or
updates the streams and KV buckets (as the ``supervisor`` identity) and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import ipaddress
import os
import sys
from pathlib import Path

import structlog
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from janus_common import credentials
from janus_common import logging as janus_logging
from janus_common.authz import authorization, identities, render_conf
from janus_common.bus import BusError, connect
from janus_common.config import ConfigError, load
from janus_common.streams import Topology, TopologyError, ensure_streams

log = structlog.get_logger()

CERT_DAYS = 825


def _write_private(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_tls(folder: Path, names: list[str]) -> None:
    """A private CA and a server certificate signed by it (kept if already there)."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    if (folder / "server.pem").exists():
        return
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Janus private CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=CERT_DAYS))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=CERT_DAYS))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    _write_private(folder / "ca.key", _key_pem(ca_key))
    (folder / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_private(folder / "server.key", _key_pem(key))


def make_secrets(config_path: str, out: Path, tls_names: list[str]) -> dict[str, str]:
    config = load(config_path)
    perms = identities(config)
    keys = credentials.ensure(out / "nats", perms)
    conf = out / "nats" / "authorization.conf"
    conf.write_text(render_conf(authorization(perms, keys)))
    conf.chmod(0o644)  # public keys only; the server's container reads it as another user
    make_tls(out / "tls", tls_names)
    return keys


def secrets_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="janus-secrets", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="config.yaml.example")
    p.add_argument("--out", default="deploy/secrets")
    p.add_argument("--tls-name", action="append", default=None,
                   help="a name (or IP) the NATS server is reached by; repeat (default: nats, localhost)")
    args = p.parse_args(argv)
    janus_logging.configure("janus-secrets", level="INFO")
    try:
        keys = make_secrets(args.config, Path(args.out), args.tls_name or ["nats", "localhost", "127.0.0.1"])
    except ConfigError as exc:
        print(f"janus-secrets: {exc.key}: {exc.reason}", file=sys.stderr)
        return 2
    print(f"{len(keys)} identities in {args.out}/nats, TLS in {args.out}/tls")
    return 0


async def _bus_setup(url: str, replicas: int) -> None:
    nc = await connect(url, "janus-bus-setup", initial_attempts=30)
    try:
        await ensure_streams(nc.jetstream(), Topology(replicas=replicas))
    finally:
        await nc.close()


def bus_setup_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="janus-bus-setup",
                                description="create or update the streams and KV buckets (as the supervisor), then exit")
    p.add_argument("--config", default="config.yaml")
    p.add_argument("--nats-url", default=None)
    args = p.parse_args(argv)
    janus_logging.configure("janus-bus-setup", level="INFO")
    try:
        config = load(args.config)
        asyncio.run(_bus_setup(args.nats_url or os.environ.get("JANUS_NATS_URL") or config.nats.url,
                               config.nats.replicas))
    except ConfigError as exc:
        log.error("fatal_config_error", key=exc.key, reason=exc.reason)
        return 2
    except TopologyError as exc:
        log.error("streams_not_created", stream=exc.stream, detail=exc.detail, action=exc.action)
        print(f"janus-bus-setup: {exc}", file=sys.stderr)
        return 2
    except BusError as exc:
        log.error("bus_setup_failed", reason=exc.reason, detail=str(exc))
        return 3
    log.info("bus_ready")
    return 0
