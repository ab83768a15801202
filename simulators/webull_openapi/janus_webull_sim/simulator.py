"""Wiring: engine + REST server + gRPC stream + tick loop, and the control interface.

``WebullSimulator`` lives on an asyncio loop; ``ThreadedSimulator`` runs one on a thread of its
own for blocking callers (the SDK is blocking), proxying every control method onto that loop.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Callable
from typing import Any

import structlog

from janus_webull_sim.admin import AdminApi
from janus_webull_sim.config import SimConfig
from janus_webull_sim.engine import Engine
from janus_webull_sim.faults import Faults, HttpFault
from janus_webull_sim.grpc_server import EventHub, EventService, start_grpc_server
from janus_webull_sim.http_server import HttpApiServer
from janus_webull_sim.rest_api import RestApi
from janus_webull_sim.signing import Verifier
from janus_webull_sim.tokens import TokenStore

log = structlog.get_logger("webull-sim")


class WebullSimulator:
    def __init__(self, config: SimConfig | None = None, *, seed: int = 1, host: str = "127.0.0.1",
                 http_port: int = 0, grpc_port: int = 0, clock: Callable[[], float] = time.time):
        self.config = config or SimConfig()
        self.seed = seed
        self.host = host
        self._want_http_port = http_port
        self._want_grpc_port = grpc_port
        self._clock = clock
        self.engine = Engine(self.config, seed, clock)
        self.faults = Faults()
        self.tokens = TokenStore(pending_checks=self.config.token_pending_checks,
                                 ttl_seconds=self.config.token_ttl_seconds)
        self.verifier = Verifier({self.config.app_key: self.config.app_secret}, self.config.timestamp_tolerance)
        self.ping_interval = self.config.ping_interval
        self.http_port = 0
        self.grpc_port = 0
        self.hub: EventHub | None = None
        self._http: HttpApiServer | None = None
        self._server: asyncio.base_events.Server | None = None
        self._grpc = None
        self._ticker: asyncio.Task | None = None
        self.matching_paused = False

    # -- life cycle ---------------------------------------------------------------------------
    async def __aenter__(self) -> WebullSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        self.hub = EventHub(self.faults)
        api = RestApi(self.engine, self.tokens, token_check_enabled=self.config.token_check_enabled)
        self._http = HttpApiServer(api, self.verifier, self.faults, AdminApi(self).handle, self._publish, self._clock)
        self._server = await asyncio.start_server(self._http.handle_connection, self.host, self._want_http_port,
                                                  limit=64 * 1024)
        self.http_port = self._server.sockets[0].getsockname()[1]
        service = EventService(self.hub, self.verifier, self.faults, lambda: set(self.engine.accounts),
                               lambda: self.ping_interval)
        self._grpc, self.grpc_port = await start_grpc_server(service, self.host, self._want_grpc_port)
        self._ticker = asyncio.create_task(self._tick_loop())
        log.info("started", host=self.host, http_port=self.http_port, grpc_port=self.grpc_port,
                 accounts=sorted(self.engine.accounts), seed=self.seed)

    async def stop(self) -> None:
        if self._ticker:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        if self._grpc is not None:
            await self._grpc.stop(grace=0.2)
        if self._server is not None:
            self._server.close()
            if self._http is not None:
                await self._http.close_connections()
            await self._server.wait_closed()
        log.info("stopped")

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.tick_interval)
            if self.matching_paused:
                continue
            try:
                self.engine.tick()
            except Exception:
                log.exception("tick_failed")
            self._publish()

    def _publish(self) -> None:
        if self.hub is not None:
            self.hub.publish(self.engine.drain_events())

    # -- identity -----------------------------------------------------------------------------
    @property
    def app_key(self) -> str:
        return self.config.app_key

    @property
    def app_secret(self) -> str:
        return self.config.app_secret

    @property
    def account_id(self) -> str:
        return self.config.accounts[0].account_id

    @property
    def http_request_count(self) -> int:
        return self._http.request_count if self._http else 0

    @property
    def subscribe_count(self) -> int:
        return self.hub.subscribe_count if self.hub else 0

    # -- control ------------------------------------------------------------------------------
    def set_price(self, symbol: str, price: str | float) -> None:
        self.engine.set_price(symbol, price)

    def price(self, symbol: str) -> str:
        return self.engine.snapshot([symbol])[0]["price"]

    def match_now(self, move_prices: bool = False) -> None:
        """Run one matching pass at once (without waiting for the tick)."""
        self.engine.tick(move_prices=move_prices)
        self._publish()

    def pause_matching(self, paused: bool = True) -> None:
        self.matching_paused = paused

    def end_of_day(self) -> int:
        n = self.engine.expire_day_orders()
        self._publish()
        return n

    @property
    def session_open(self) -> bool:
        return self.engine.session_open

    def close_session(self) -> int:
        """Close the regular session: open DAY orders expire (CANCEL_SUCCESS events), GTC orders
        wait; nothing matches and prices stand still until ``open_session()``. Returns how many
        orders expired."""
        n = self.engine.close_session()
        self._publish()
        log.info("session_closed", expired=n)
        return n

    def open_session(self) -> None:
        self.engine.open_session()
        log.info("session_opened")

    def silent_stream(self, on: bool = True, *, pings: bool = True) -> None:
        """Order events stop reaching subscribers (they are lost, not queued); orders still fill.
        With ``pings=False`` the stream also stops pinging."""
        self.faults.stream_silent = on
        self.faults.stream_silent_pings = on and not pings

    def drop_stream(self, *, refuse_reconnect: bool = False) -> int:
        """End every live subscription with UNAVAILABLE (the SDK retries); optionally keep
        refusing new ones until ``stream_up()``."""
        self.faults.stream_down = refuse_reconnect
        return self.hub.drop_all() if self.hub else 0

    def stream_up(self) -> None:
        self.faults.stream_down = False

    def http_errors(self, status: int = 503, count: int = 1, *, executed: bool = False) -> None:
        """Answer the next ``count`` API requests with ``status`` (5xx or 429). With ``executed``
        the request is carried out first (an order is placed although the answer is an error)."""
        if not (status == 429 or 500 <= status <= 599):
            raise ValueError("status must be 429 or 5xx")
        self.faults.http_errors.extend(HttpFault(status, executed) for _ in range(count))

    def slow_responses(self, delay: float, count: int | None = None) -> None:
        self.faults.http_delay = delay
        self.faults.http_delay_count = count

    def clear_faults(self) -> None:
        self.faults.clear()

    def set_ping_interval(self, seconds: float) -> None:
        self.ping_interval = seconds

    def verify_tokens(self) -> None:
        self.tokens.verify_all()

    async def wait_subscribers(self, count: int, timeout: float = 10.0) -> None:
        """Wait until ``count`` subscriptions are live."""
        assert self.hub is not None
        async with self.hub.changed:
            await asyncio.wait_for(self.hub.changed.wait_for(lambda: len(self.hub.subscribers) >= count), timeout)

    def state(self) -> dict[str, Any]:
        eng = self.engine
        return {
            "accounts": {
                aid: {"balance": eng.balance(aid), "positions": eng.positions(aid)} for aid in eng.accounts
            },
            "orders": [o.to_json() | {"account_id": o.account_id} for o in eng.orders.values()],
            "prices": {s: eng.snapshot([s])[0] for s in eng.instruments},
            "faults": self.faults.to_json(),
            "subscribers": len(self.hub.subscribers) if self.hub else 0,
            "subscribe_count": self.subscribe_count,
            "matching_paused": self.matching_paused,
            "session": "open" if self.engine.session_open else "closed",
        }


class ThreadedSimulator:
    """A WebullSimulator on its own thread and loop; control methods are called thread-safely."""

    def __init__(self, *args: Any, **kwargs: Any):
        self._args, self._kwargs = args, kwargs
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="webull-sim", daemon=True)
        self.sim: WebullSimulator | None = None

    def __enter__(self) -> ThreadedSimulator:
        self._thread.start()

        async def make() -> WebullSimulator:
            sim = WebullSimulator(*self._args, **self._kwargs)
            await sim.start()
            return sim

        self.sim = asyncio.run_coroutine_threadsafe(make(), self._loop).result(30)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.sim is not None:
            asyncio.run_coroutine_threadsafe(self.sim.stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def call(self, fn: Callable[..., Any], *args: Any, timeout: float = 30, **kwargs: Any) -> Any:
        async def run() -> Any:
            result = fn(*args, **kwargs)
            return await result if inspect.isawaitable(result) else result

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def __getattr__(self, name: str) -> Any:
        sim = self.__dict__.get("sim")
        if sim is None:
            raise AttributeError(name)
        attr = getattr(sim, name)
        if callable(attr):
            return lambda *a, **kw: self.call(attr, *a, **kw)
        return self.call(lambda: getattr(sim, name))
