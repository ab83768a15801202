"""A small asyncio HTTP/1.1 server: parse, apply faults, verify the signature, dispatch.

Only what the SDK (python-requests) sends is supported: Content-Length bodies, keep-alive.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import structlog

from janus_webull_sim.errors import AuthError, BadRequest, SimError
from janus_webull_sim.faults import Faults
from janus_webull_sim.rest_api import ApiRequest, RestApi
from janus_webull_sim.signing import Verifier

log = structlog.get_logger("webull-sim.http")

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024
ADMIN_PREFIX = "/_sim/"


@dataclass(frozen=True)
class RawRequest:
    method: str
    target: str
    headers: dict[str, str]  # lower-case names
    body: bytes


AdminHandler = Callable[[str, str, Any], Awaitable[tuple[int, Any]]]


class _Malformed(Exception):
    pass


async def _read_request(reader: asyncio.StreamReader) -> RawRequest | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise _Malformed("incomplete request head") from exc
        return None  # the client closed between requests
    except asyncio.LimitOverrunError as exc:
        raise _Malformed("request head too large") from exc
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _Malformed("bad request line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise _Malformed("bad header line")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise _Malformed("chunked bodies are not supported; send Content-Length")
    length_raw = headers.get("content-length", "0")
    if not length_raw.isdigit() or int(length_raw) > MAX_BODY_BYTES:
        raise _Malformed("bad or too large Content-Length")
    body = await reader.readexactly(int(length_raw)) if int(length_raw) else b""
    return RawRequest(parts[0].upper(), parts[1], headers, body)


def _encode(status: int, payload: Any, request_id: str, keep_alive: bool, extra: dict[str, str] | None = None) -> bytes:
    body = json.dumps(payload, separators=(",", ":")).encode()
    reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Unknown"
    headers = {
        "Content-Type": "application/json;charset=UTF-8",
        "Content-Length": str(len(body)),
        "X-Request-Id": request_id,
        "Connection": "keep-alive" if keep_alive else "close",
        **(extra or {}),
    }
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode("latin-1") + body


def _host_without_port(host: str) -> str:
    if host.startswith("["):
        return host[: host.index("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class HttpApiServer:
    def __init__(self, api: RestApi, verifier: Verifier, faults: Faults, admin: AdminHandler,
                 after_request: Callable[[], None], clock: Callable[[], float] = time.time):
        self._api = api
        self._verifier = verifier
        self._faults = faults
        self._admin = admin
        self._after_request = after_request
        self._clock = clock
        self._ids = itertools.count(1)
        self.request_count = 0  # signed API requests seen (admin calls excluded)
        self._connections: set[asyncio.Task] = set()

    async def close_connections(self) -> None:
        # asyncio's Server.close() leaves accepted connections running; end them with the server.
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def handle_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            while True:
                request_id = f"simreq-{next(self._ids)}"
                try:
                    raw = await _read_request(reader)
                except _Malformed as exc:
                    writer.write(_encode(400, BadRequest(str(exc), error_code="BAD_REQUEST").body(), request_id, False))
                    await writer.drain()
                    return
                if raw is None:
                    return
                keep_alive = raw.headers.get("connection", "").lower() != "close"
                status, payload, extra = await self._dispatch(raw)
                writer.write(_encode(status, payload, request_id, keep_alive, extra))
                await writer.drain()
                if not keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return
        finally:
            self._connections.discard(task)
            writer.close()

    async def _dispatch(self, raw: RawRequest) -> tuple[int, Any, dict[str, str] | None]:
        url = urlsplit(raw.target)
        if url.path.startswith(ADMIN_PREFIX):
            try:
                body = json.loads(raw.body) if raw.body else {}
            except ValueError:
                return 400, BadRequest("the body is not valid JSON", error_code="INVALID_JSON").body(), None
            status, payload = await self._admin(raw.method, url.path[len(ADMIN_PREFIX):], body)
            return status, payload, None
        self.request_count += 1
        delay = self._faults.next_delay()
        if delay:
            await asyncio.sleep(delay)
        fault = self._faults.next_http_fault()
        if fault is not None and not fault.executed:
            log.info("fault_injected", path=url.path, status=fault.status, executed=False)
            return fault.status, fault.body(), {"Retry-After": "1"} if fault.status == 429 else None
        status, payload = self._serve(raw, url.path, url.query)
        if fault is not None:
            log.info("fault_injected", path=url.path, status=fault.status, executed=True)
            return fault.status, fault.body(), None
        return status, payload, None

    def _serve(self, raw: RawRequest, path: str, query_string: str) -> tuple[int, Any]:
        query_pairs = parse_qsl(query_string, keep_blank_values=True)
        try:
            self._verifier.verify_rest(
                raw.headers, path=path, host=_host_without_port(raw.headers.get("host", "")),
                query=query_pairs, body=raw.body or None, now=self._clock())
        except AuthError as exc:
            log.warning("auth_failed", path=path, reason=exc.error_code)
            return exc.status, exc.body()
        body: Any = None
        if raw.body:
            try:
                body = json.loads(raw.body)
            except ValueError:
                return 400, BadRequest("the body is not valid JSON", error_code="INVALID_JSON").body()
        query: dict[str, str] = {}
        for k, v in query_pairs:
            query.setdefault(k, v)
        req = ApiRequest(raw.method, path, raw.headers.get("x-version", "v3"), query, body,
                         raw.headers.get("x-access-token"))
        try:
            status, payload = self._api.handle(req)
        except SimError as exc:
            status, payload = exc.status, exc.body()
        except Exception:  # a bug must cost one request, not the server
            log.exception("handler_failed", path=path)
            status, payload = 500, {"error_code": "INTERNAL_ERROR", "message": "internal simulator error"}
        finally:
            self._after_request()
        log.debug("request", method=raw.method, path=path, status=status)
        return status, payload
