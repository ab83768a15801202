"""NATS credentials on disk: one nkey seed per identity (``<identity>.nk``, 0600, in a 0700
folder), or a NATS ``<identity>.creds`` file an operator brought. The edge that makes, finds and
reads them; which identity may do what is :mod:`janus_common.authz`.

A seed is a secret: it is read by nats-py from its file and never passed on a command line, in an
environment variable's value or to a log line (only its path and its public key are).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from pathlib import Path

import nkeys

ENV_CREDS = "JANUS_NATS_CREDS"
SUFFIXES = (".nk", ".creds")


class CredentialsError(RuntimeError):
    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def _private_dir(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)


def new_seed() -> bytes:
    return bytes(nkeys.encode_seed(secrets.token_bytes(32), nkeys.PREFIX_BYTE_USER))


def ensure(folder: Path | str, identities: Iterable[str]) -> dict[str, str]:
    """Make a seed for every identity that has none (kept ones stay: clients hold copies), and
    return every identity's public key."""
    folder = Path(folder)
    _private_dir(folder)
    keys: dict[str, str] = {}
    for identity in identities:
        path = folder / f"{identity}.nk"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(new_seed() + b"\n")
        path.chmod(0o600)
        keys[identity] = public_key(path)
    return keys


def public_key(path: Path | str) -> str:
    try:
        seed = Path(path).read_bytes().strip()
        return str(nkeys.from_seed(bytearray(seed)).public_key.decode())
    except (OSError, nkeys.NkeysError, ValueError) as exc:
        raise CredentialsError(path, f"not a readable nkey seed ({type(exc).__name__})") from None


def find(folder: Path | str, identity: str) -> Path | None:
    """The credentials file of an identity in a folder, if there is one."""
    for suffix in SUFFIXES:
        path = Path(folder) / f"{identity}{suffix}"
        if path.exists():
            return path
    return None


def identity_of(path: Path | str) -> str:
    """Credentials files are named after their identity."""
    return Path(path).stem


def from_environment(default_dir: Path | str | None = None, identity: str | None = None) -> Path | None:
    """``JANUS_NATS_CREDS`` when set, else ``identity``'s file in ``default_dir``, else None."""
    given = os.environ.get(ENV_CREDS)
    if given:
        return Path(given)
    if default_dir and identity:
        return find(default_dir, identity)
    return None
