"""What the console's buttons do, and the validation in front of them. The checks are pure
(:func:`check_account`, :func:`check_id`, :func:`check_text`); the actions go through
``JanusClient`` like the ``janus`` CLI's, as the console's own NATS identity (``web``)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Collection
from typing import Any

import msgspec
from prometheus_client import Counter
from nats.aio.client import Client as NATS

from janus_client.client import JanusClient, JanusTimeout
from janus_common import bus
from janus_common.messages import ID_MAX, TEXT_MAX

_ID = re.compile(r"^[A-Za-z0-9_-]+\Z")  # the catalogue's Id (messages.base.ID_PATTERN)
ACTION_TIMEOUT_S = 15.0


class ConsoleError(Exception):
    """A request the console refuses or cannot carry out: ``reason`` is a stable code, ``status``
    the HTTP status it is answered with."""

    def __init__(self, reason: str, message: str, status: int) -> None:
        self.reason = reason
        self.message = message
        self.status = status
        super().__init__(f"{reason}: {message}")

    def json(self) -> dict[str, Any]:
        return {"error": self.reason, "message": self.message}


def check_account(account: Any, known: Collection[str]) -> str:
    if not isinstance(account, str) or not _ID.match(account) or len(account) > ID_MAX:
        raise ConsoleError("MALFORMED_ACCOUNT", f"not an account alias: {str(account)[:80]!r}", 400)
    if account not in known:
        raise ConsoleError("UNKNOWN_ACCOUNT", f"no account {account!r} in the configuration", 404)
    return account


def check_id(value: Any, what: str = "intent id") -> str:
    if not isinstance(value, str) or not _ID.match(value) or len(value) > ID_MAX:
        raise ConsoleError("MALFORMED_ID", f"not an {what} (1-{ID_MAX} of A-Z a-z 0-9 _ -): "
                                           f"{str(value)[:80]!r}", 400)
    return value


def check_text(value: Any, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value.encode()) > TEXT_MAX:
        raise ConsoleError("MALFORMED_TEXT", f"{what}: text of at most {TEXT_MAX} bytes", 400)
    return value


ACTIONS = Counter("janus_web_actions_total", "Actions taken from the console, by what and how they ended",
                  ["action", "outcome"])


def outcome(event: Any) -> dict[str, Any]:
    """An action's answer: the event that decided it, as JSON, and whether it was refused."""
    body = msgspec.to_builtins(event)
    refused = type(event).__name__ in ("OrderRejected", "ControlRejected")
    return {"outcome": type(event).__name__, "refused": refused,
            "reason": body.get("reason") if refused else None, "event": body}


class Actions:
    def __init__(self, nc: NATS, accounts: Collection[str], requested_by: str = "web-console") -> None:
        self.client = JanusClient(nc)
        self.accounts = accounts
        self.requested_by = requested_by

    def _ready(self) -> None:
        if not self.client.nc.is_connected:
            raise ConsoleError("NATS_UNAVAILABLE", "the console is not connected to NATS; try again shortly", 503)

    async def _run(self, what: str, call: Any) -> dict[str, Any]:
        self._ready()
        try:
            answer = outcome(await call)
        except JanusTimeout as exc:
            ACTIONS.labels(what, "TIMEOUT").inc()
            raise ConsoleError("TIMEOUT", f"no answer to the {what} in time: {exc}", 504) from None
        except (bus.BusError, asyncio.TimeoutError) as exc:
            ACTIONS.labels(what, "BUS_ERROR").inc()
            raise ConsoleError("BUS_ERROR", f"{what}: {type(exc).__name__}: {exc}", 503) from None
        ACTIONS.labels(what, answer["outcome"]).inc()
        return answer

    async def cancel(self, account: Any, intent_id: Any) -> dict[str, Any]:
        account = check_account(account, self.accounts)
        intent_id = check_id(intent_id)
        return await self._run("cancel", self.client.cancel(account, intent_id, timeout=ACTION_TIMEOUT_S))

    async def halt(self, account: Any, reason: Any = "") -> dict[str, Any]:
        account = check_account(account, self.accounts)
        text = check_text(reason, "reason") or "halted from the web console"

        async def call() -> Any:
            changed, _ = await self.client.halt(account, reason=text, requested_by=self.requested_by,
                                                timeout=ACTION_TIMEOUT_S)
            return changed
        return await self._run("halt", call())

    async def resume(self, account: Any, reason: Any = "") -> dict[str, Any]:
        account = check_account(account, self.accounts)
        text = check_text(reason, "reason") or "resumed from the web console"
        return await self._run("resume", self.client.resume(account, reason=text, requested_by=self.requested_by,
                                                            timeout=ACTION_TIMEOUT_S))
