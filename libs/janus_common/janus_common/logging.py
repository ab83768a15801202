"""structlog set-up shared by every Janus process.

JSON lines when stderr is not a terminal (files, supervisors, CI), a console renderer when a
person is watching. Context such as ``service``, ``account`` and ``intent_id`` is bound with
structlog's contextvars so every line of a handler carries it without passing loggers around.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from . import redact

_SECRET_KEYS = frozenset({"x-signature", "dsn"})
# A key naming one of these anywhere (app_secret, bearer_token, ...) holds a secret; so
# does one ending in _seed (a bare ``seed`` is a simulator's random seed, worth seeing).
_SECRET_KEY_PARTS = ("password", "passwd", "secret", "token", "credential")


def _secret_key(key: str) -> bool:
    lowered = key.lower()
    return (lowered in _SECRET_KEYS or lowered.endswith("_seed")
            or any(part in lowered for part in _SECRET_KEY_PARTS))


def _redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    # A secret must never reach a log line, whoever passed it in by mistake: values of secret
    # keys go whole; inside any text (an error message, a formatted traceback) a URL or DSN
    # keeps everything but its password, and an nkey seed goes.
    for key, value in list(event_dict.items()):
        if _secret_key(key):
            event_dict[key] = redact.MASK
        elif isinstance(value, str):
            event_dict[key] = redact.text(value)
    return event_dict


def configure(service: str, *, level: str = "INFO", json: bool | None = None, **context: Any) -> None:
    """Configure structlog for this process and bind ``service`` (and any extra context)."""
    if json is None:
        json = not sys.stderr.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact,  # after format_exc_info, so a traceback's text is masked too
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service, **context)


def get_logger(**initial: Any) -> structlog.typing.FilteringBoundLogger:
    return structlog.get_logger(**initial)


bind = structlog.contextvars.bind_contextvars
unbind = structlog.contextvars.unbind_contextvars
bound = structlog.contextvars.bound_contextvars
