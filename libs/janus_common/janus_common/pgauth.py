"""Postgres password authentication, the pure parts: SCRAM verifiers and pg_hba.conf.

A role's password is given to Postgres as a SCRAM-SHA-256 verifier computed here, so the
plaintext never travels to the server nor can appear in its logs (a failed statement is
logged whole).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCRAM_ITERATIONS = 4096  # Postgres's own default (scram_iterations)
HOST_TYPES = frozenset({"host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc"})
PASSWORD_METHOD = "scram-sha-256"


def scram_verifier(password: str, *, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS) -> str:
    """What Postgres stores for ``password`` under scram-sha-256 (RFC 5802/7677). Our passwords
    are ASCII (``secrets.token_urlsafe``), so SASLprep leaves them unchanged."""
    salt = secrets.token_bytes(16) if salt is None else salt
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    return f"SCRAM-SHA-256${iterations}:{_b64(salt)}${_b64(stored_key)}:{_b64(server_key)}"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _fields(line: str) -> list[str]:
    return line.split("#", 1)[0].split()


def hba_trusts_tcp(text: str) -> bool:
    """Whether some TCP (``host*``) line lets a client in without a password."""
    return any(f[0] in HOST_TYPES and "trust" in f[4:] for f in map(_fields, text.splitlines()) if f)


def hba_with_passwords(text: str) -> str:
    """``text`` with every TCP line's ``trust`` replaced by scram-sha-256; other lines (local
    socket lines, comments, an operator's own rules) kept as they are. Fields after the
    address are the optional mask, the method, and key=value options, so the only field
    there that can read ``trust`` is the method."""
    out = []
    for line in text.splitlines(keepends=True):
        fields = _fields(line)
        if fields and fields[0] in HOST_TYPES and "trust" in fields[4:]:
            body, nl = (line[:-1], "\n") if line.endswith("\n") else (line, "")
            head, sep, comment = body.partition("#")
            tokens = head.split()
            tokens = tokens[:4] + [PASSWORD_METHOD if t == "trust" else t for t in tokens[4:]]
            line = " ".join(tokens) + (f"  {sep}{comment}" if sep else "") + nl
        out.append(line)
    return "".join(out)
