"""The access-token flow the SDK runs when /openapi/config says ``token_check_enabled``.

A created token is PENDING until it has been checked ``pending_checks`` times (standing in for
the user's 2FA confirmation in the Webull app), then NORMAL; ``verify()`` confirms at once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from janus_webull_sim.errors import AuthError, BadRequest


@dataclass
class Token:
    token: str
    expires_ms: int
    status: str
    checks_left: int

    def body(self) -> dict[str, object]:
        return {"token": self.token, "expires": self.expires_ms, "status": self.status}


class TokenStore:
    def __init__(self, *, pending_checks: int, ttl_seconds: int):
        self._pending_checks = pending_checks
        self._ttl_ms = ttl_seconds * 1000
        self._tokens: dict[str, Token] = {}

    def create(self, existing: object, now_ms: int) -> Token:
        # The SDK sends the token it has on disk: a still valid one is handed back unchanged.
        if isinstance(existing, str) and existing in self._tokens:
            tok = self._tokens[existing]
            if tok.expires_ms > now_ms:
                return tok
        tok = Token(secrets.token_hex(16), now_ms + self._ttl_ms,
                    "NORMAL" if self._pending_checks <= 0 else "PENDING", self._pending_checks)
        self._tokens[tok.token] = tok
        return tok

    def check(self, token: object, now_ms: int) -> Token:
        if not isinstance(token, str) or token not in self._tokens:
            raise BadRequest("unknown token", error_code="INVALID_TOKEN")
        tok = self._tokens[token]
        if tok.expires_ms <= now_ms:
            tok.status = "EXPIRED"
        elif tok.status == "PENDING":
            tok.checks_left -= 1
            if tok.checks_left <= 0:
                tok.status = "NORMAL"
        return tok

    def verify_all(self) -> None:
        for tok in self._tokens.values():
            if tok.status == "PENDING":
                tok.status = "NORMAL"

    def require(self, token: str | None, now_ms: int) -> None:
        tok = self._tokens.get(token or "")
        if tok is None or tok.status != "NORMAL" or tok.expires_ms <= now_ms:
            raise AuthError("x-access-token is missing, not verified or expired", error_code="INVALID_TOKEN")
