"""The console's HTTP side (aiohttp): the page, its JSON API, the server-sent-event stream and
an order's history page. Every refusal is a JSON ``{"error": REASON, "message": ...}`` with a
4xx/5xx status; nothing a browser sends can stop the process."""

from __future__ import annotations

import asyncio
import html
import json
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

import structlog
from aiohttp import web

from janus_common import bus, subjects
from janus_common import messages as m
from janus_common.streams import EVENTS_STREAM

from .actions import Actions, ConsoleError, check_account, check_id
from .feed import INITIAL_EVENTS
from .hub import CLOSED, Hub, sse
from .model import Console, event_row

log = structlog.get_logger()

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STATIC = {"console.js": "text/javascript", "console.css": "text/css"}


def _static(name: str) -> str:
    return resources.files("janus_web").joinpath("static", name).read_text()


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ConsoleError as exc:
        log.info("request_refused", path=request.path, reason=exc.reason)
        return web.json_response(exc.json(), status=exc.status)
    except web.HTTPException:
        raise
    except Exception:  # a bug must not stop the console: answer, log, carry on
        log.exception("request_failed", path=request.path)
        return web.json_response({"error": "INTERNAL", "message": "the console failed on this request; "
                                                                   "see its log"}, status=500)


class Site:
    def __init__(self, console: Console, hub: Hub, actions: Actions, js: Any) -> None:
        self.console = console
        self.hub = hub
        self.actions = actions
        self.js = js
        self.page = _static("index.html")

    def app(self) -> web.Application:
        app = web.Application(middlewares=[errors], client_max_size=64 * 1024)
        app.add_routes([
            web.get("/", self.index),
            web.get("/static/{name}", self.static),
            web.get("/orders/{account}/{intent_id}", self.history_page),
            web.get("/api/state", self.state),
            web.get("/api/events", self.events),
            web.get("/api/orders/{account}/{intent_id}", self.history),
            web.get("/api/stream", self.stream),
            web.post("/api/cancel", self.cancel),
            web.post("/api/halt", self.halt),
            web.post("/api/resume", self.resume),
        ])
        return app

    async def index(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text=self.page, content_type="text/html")

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in STATIC:
            raise ConsoleError("NOT_FOUND", f"no file {name[:80]!r}", 404)
        return web.Response(text=_static(name), content_type=STATIC[name])

    async def state(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.console.state(time.time_ns()))

    async def events(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        account = check_account(q["account"], self.console.accounts) if q.get("account") else None
        intent_id = check_id(q["intent"]) if q.get("intent") else None
        kind = q.get("kind") or None
        if kind is not None and (len(kind) > 64 or not kind.isalnum()):
            raise ConsoleError("MALFORMED_KIND", "an event kind is letters and digits (e.g. OrderFilled)", 400)
        return web.json_response(self.console.events_matching(account, kind, intent_id))

    async def _history(self, request: web.Request) -> tuple[str, str, list[dict[str, Any]]]:
        account = check_account(request.match_info["account"], self.console.accounts)
        intent_id = check_id(request.match_info["intent_id"])
        try:
            records = await bus.stored(self.js, EVENTS_STREAM, subjects.evt_order(account), timeout=10)
        except (bus.BusError, asyncio.TimeoutError, OSError) as exc:
            raise ConsoleError("NATS_UNAVAILABLE", f"cannot read the history now: {type(exc).__name__}", 503) from None
        rows = []
        for r in records:
            event = m.ORDER_EVENTS.decode(r.data, subject=r.subject)
            if getattr(event, "intent_id", None) == intent_id:
                rows.append(event_row(r.seq, event).json())
        if not rows:
            raise ConsoleError("UNKNOWN_ORDER", f"no events of intent {intent_id!r} on {account}", 404)
        return account, intent_id, rows

    async def history(self, request: web.Request) -> web.StreamResponse:
        account, intent_id, rows = await self._history(request)
        return web.json_response({"account": account, "intent_id": intent_id, "events": rows})

    async def history_page(self, request: web.Request) -> web.StreamResponse:
        try:
            account, intent_id, rows = await self._history(request)
        except ConsoleError as exc:
            body = f"<p class='error'>{html.escape(exc.reason)}: {html.escape(exc.message)}</p>"
            return web.Response(text=_page("Order history", body), content_type="text/html", status=exc.status)
        cells = "".join(
            f"<tr class='history-event' data-kind='{html.escape(r['kind'])}'><td>{r['seq']}</td>"
            f"<td>{time.strftime('%H:%M:%S', time.gmtime(r['ts'] / 1e9))}</td><td>{html.escape(r['kind'])}</td>"
            f"<td><code>{html.escape(json.dumps(r['body']))}</code></td></tr>" for r in rows)
        body = (f"<h1>{html.escape(account)} / {html.escape(intent_id)}</h1><p><a href='/'>back to the console</a></p>"
                f"<table><tr><th>seq</th><th>time (UTC)</th><th>kind</th><th>event</th></tr>{cells}</table>")
        return web.Response(text=_page(f"{intent_id} on {account}", body), content_type="text/html")

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: the whole state now, the recent events, then every change."""
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                               "X-Accel-Buffering": "no"})
        await response.prepare(request)
        queue = self.hub.join()
        try:
            await response.write(sse("nats", {"nats": self.console.nats}))
            if self.console.loaded:
                await response.write(sse("state", self.console.state(time.time_ns())))
                await response.write(sse("events", self.console.events_matching(limit=INITIAL_EVENTS)))
            else:
                await response.write(sse("loading", {"events": self.console.last_seq}))
            while True:
                frame = await queue.get()
                if frame is CLOSED:
                    break
                await response.write(frame)
        except (ConnectionResetError, asyncio.CancelledError):
            pass  # the browser went away, or the console is stopping
        finally:
            self.hub.leave(queue)
        return response

    async def _body(self, request: web.Request) -> dict[str, Any]:
        # JSON only, and from this page only: a form on another site cannot send JSON without a
        # CORS preflight, which this server never grants (the console has no user login).
        if request.content_type != "application/json":
            raise ConsoleError("JSON_REQUIRED", "send application/json", 415)
        origin = request.headers.get("Origin")
        if origin and origin != f"{request.scheme}://{request.host}":
            raise ConsoleError("CROSS_ORIGIN", f"requests from {origin[:80]!r} are refused", 403)
        try:
            body = await request.json()
        except ValueError:
            raise ConsoleError("MALFORMED_JSON", "the body is not JSON", 400) from None
        if not isinstance(body, dict):
            raise ConsoleError("MALFORMED_JSON", "the body is a JSON object", 400)
        return body

    async def cancel(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        return web.json_response(await self.actions.cancel(body.get("account"), body.get("intent_id")))

    async def halt(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        return web.json_response(await self.actions.halt(body.get("account"), body.get("reason")))

    async def resume(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        return web.json_response(await self.actions.resume(body.get("account"), body.get("reason")))


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)} - Janus</title>"
            f"<link rel='stylesheet' href='/static/console.css'></head><body>{body}</body></html>")
