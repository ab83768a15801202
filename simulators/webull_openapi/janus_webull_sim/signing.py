"""Webull request signatures: REST and gRPC string-to-sign, HMAC, and the checks a server makes.

Pure code: the clock is passed in, the nonce memory is a plain object.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections import OrderedDict
from datetime import datetime, timezone
from urllib.parse import quote

from janus_webull_sim.errors import AuthError

APP_KEY = "x-app-key"
TIMESTAMP = "x-timestamp"
SIGN_VERSION = "x-signature-version"
SIGN_ALGORITHM = "x-signature-algorithm"
NONCE = "x-signature-nonce"
SIGNATURE = "x-signature"
SIGNED_HEADERS = (APP_KEY, TIMESTAMP, SIGN_VERSION, SIGN_ALGORITHM, NONCE)
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def hmac_sign(string_to_sign: str, secret: str) -> str:
    digest = hmac.new((secret + "&").encode(), string_to_sign.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def rest_string_to_sign(
    path: str,
    signed_headers: dict[str, str],
    host: str,
    query: list[tuple[str, str]],
    body: bytes | None,
) -> str:
    """What the SDK signs for an HTTP request (see the README's signing section)."""
    params: dict[str, str] = {k.lower(): v for k, v in signed_headers.items()}
    params["host"] = host
    for k, v in query:
        # Repeated query keys are joined by '&' in the order sent, as the SDK does.
        params[k] = params[k] + "&" + v if k in params else v
    s = path + "&" + "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    if body:
        s += "&" + hashlib.sha256(body).hexdigest().upper()
    return quote(s, safe="")


def grpc_string_to_sign(signed_headers: dict[str, str], request_bytes: bytes) -> str:
    """What the SDK signs for Subscribe: pairs joined by '=' (an SDK quirk), no host, lower hex."""
    pairs = [f"{k}={v}" for k, v in sorted((k.lower(), v) for k, v in signed_headers.items())]
    s = "=".join(pairs)
    if request_bytes:
        s += "&" + hashlib.sha256(request_bytes).hexdigest()
    return quote(s, safe="")


def parse_timestamp(value: str) -> float:
    try:
        return datetime.strptime(value, TIMESTAMP_FORMAT).replace(tzinfo=timezone.utc).timestamp()
    except ValueError as exc:
        raise AuthError(f"x-timestamp is not {TIMESTAMP_FORMAT}", error_code="INVALID_TIMESTAMP") from exc


class NonceMemory:
    """Nonces seen within the timestamp window; older ones cannot be replayed anyway."""

    def __init__(self, window: float):
        self._window = window
        self._seen: OrderedDict[str, float] = OrderedDict()

    def check_and_add(self, nonce: str, now: float) -> bool:
        while self._seen:
            oldest, seen_at = next(iter(self._seen.items()))
            if now - seen_at <= 2 * self._window:
                break
            self._seen.pop(oldest)
        if nonce in self._seen:
            return False
        self._seen[nonce] = now
        return True


class Verifier:
    """Checks app key, header presence, timestamp window, nonce reuse and the signature."""

    def __init__(self, secrets: dict[str, str], tolerance: float):
        self._secrets = secrets
        self._tolerance = tolerance
        self._nonces = NonceMemory(tolerance)

    def _common(self, headers: dict[str, str], now: float) -> tuple[dict[str, str], str, str]:
        missing = [h for h in (*SIGNED_HEADERS, SIGNATURE) if not headers.get(h)]
        if missing:
            raise AuthError(f"missing headers: {', '.join(missing)}", error_code="MISSING_SIGNATURE_HEADER")
        secret = self._secrets.get(headers[APP_KEY])
        if secret is None:
            raise AuthError("unknown app key", error_code="INVALID_APP_KEY")
        if headers[SIGN_ALGORITHM] != "HMAC-SHA256" or headers[SIGN_VERSION] != "1.0":
            raise AuthError("unsupported signature algorithm or version", error_code="INVALID_SIGNATURE")
        if abs(now - parse_timestamp(headers[TIMESTAMP])) > self._tolerance:
            raise AuthError("x-timestamp is outside the allowed window", error_code="TIMESTAMP_EXPIRED")
        return {h: headers[h] for h in SIGNED_HEADERS}, secret, headers[SIGNATURE]

    def _finish(self, expected: str, got: str, nonce: str, now: float) -> None:
        if not hmac.compare_digest(expected, got):
            raise AuthError("signature does not match", error_code="INVALID_SIGNATURE")
        # The nonce is only remembered for a genuine request: a forger cannot burn nonces.
        if not self._nonces.check_and_add(nonce, now):
            raise AuthError("x-signature-nonce was already used", error_code="NONCE_REUSED")

    def verify_rest(
        self, headers: dict[str, str], *, path: str, host: str, query: list[tuple[str, str]],
        body: bytes | None, now: float,
    ) -> str:
        """Return the app key of a genuine request or raise AuthError."""
        signed, secret, got = self._common(headers, now)
        expected = hmac_sign(rest_string_to_sign(path, signed, host, query, body), secret)
        self._finish(expected, got, signed[NONCE], now)
        return signed[APP_KEY]

    def verify_grpc(self, headers: dict[str, str], request_bytes: bytes, now: float) -> str:
        signed, secret, got = self._common(headers, now)
        expected = hmac_sign(grpc_string_to_sign(signed, request_bytes), secret)
        self._finish(expected, got, signed[NONCE], now)
        return signed[APP_KEY]
