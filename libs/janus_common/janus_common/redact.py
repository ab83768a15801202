"""Credentials out of text meant for people: log lines, summaries, error messages. Pure.

One helper for every place that shows a URL or DSN, so a password in ``JANUS_PG_DSN`` or a
token in a NATS URL is masked the same way wherever it would otherwise surface.
"""

from __future__ import annotations

import re

MASK = "***"

# scheme://userinfo@ anywhere in a text (an exception message may embed a whole DSN). The
# userinfo stops at the last '@' before the host, so a password holding '@' is masked whole.
_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<userinfo>[^\s/?#]*)@")
# libpq's key=value form: password=... (quoted or not).
_KV_PASSWORD = re.compile(r"(?P<key>\bpassword\s*=\s*)(?P<value>'(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
# In a NATS URL a userinfo without ':' is a token, a secret on its own.
_TOKEN_SCHEMES = frozenset({"nats", "tls", "ws", "wss"})


def _userinfo(match: re.Match[str]) -> str:
    scheme, info = match.group("scheme"), match.group("userinfo")
    if ":" in info:
        user = info.split(":", 1)[0]
        return f"{scheme}://{user}:{MASK}@"
    if scheme.lower() in _TOKEN_SCHEMES:
        return f"{scheme}://{MASK}@"
    return match.group(0)  # a user name alone is no secret


def url(text: str) -> str:
    """``text`` with the password (or NATS token) of every URL in it, and every libpq
    ``password=`` value, replaced by ``***``; the rest (user, host, port, database) kept."""
    masked = _URL_USERINFO.sub(_userinfo, text)
    return _KV_PASSWORD.sub(lambda m: m.group("key") + MASK, masked)


# An NATS nkey seed: 'S', the key type, base32 (58 characters in all).
_NKEY_SEED = re.compile(r"\bS[UAONCX][A-Z2-7]{56}\b")


def text(value: str) -> str:
    """``url`` plus any NATS nkey seed in ``value`` masked: for free text such as log values."""
    return _NKEY_SEED.sub(MASK, url(value))
