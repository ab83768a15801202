"""The runner every Janus service uses.

It parses the common flags, loads the configuration (a bad one exits 2 with the key named),
connects to NATS, makes sure the streams exist, registers the process for the NATS micro
protocol (``$SRV.PING``, ``$SRV.INFO``, ``$SRV.STATS``), runs the service's ``setup``, and on
SIGTERM/SIGINT stops consuming, lets in-flight work finish, runs the stop hooks and drains.

A process that cannot serve does not pretend to: when a consumer's loop ends unasked, or when
nats-py closes the connection for good (it does after some server errors, e.g. a payload
violation), the service shuts down and exits non-zero, so its supervisor starts a fresh one.
Consumer liveness is in ``$SRV.STATS`` (the ``data`` of the ``health`` endpoint).

A process whose port in ``metrics:`` is set serves Prometheus metrics there (one endpoint per
process, whatever the service: :mod:`janus_common.metrics`), and names its URL in its ``$SRV``
metadata (``metrics``), which ``janus status`` prints.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
from pathlib import Path
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import structlog
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.micro.service import EndpointConfig, Service, ServiceConfig

from . import logging as janus_logging
from . import authz, credentials, metrics
from .bus import AuthRefused, connect, rpc_handler
from .consumer import Consumer
from .config import ConfigError, JanusConfig, load
from .messages import Codec
from .ratelimit import RateLimiter, caller_rpc, limited
from .streams import Topology, await_streams, ensure_streams

log = structlog.get_logger()

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2
EXIT_UNSERVICEABLE = 3  # a consumer or the NATS connection is gone for good: restart me

StopHook = Callable[[], Awaitable[None]]


@dataclass
class ServiceContext:
    name: str
    config: JanusConfig | None
    args: argparse.Namespace
    nc: NATS
    js: JetStreamContext
    service: Service
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    failure: str | None = None  # why the process cannot serve any more (set once)
    _consumers: list[Consumer] = field(default_factory=list)
    _stop_hooks: list[StopHook] = field(default_factory=list)
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _reconnect_hooks: list[Callable[[], None]] = field(default_factory=list)

    def on_reconnect(self, hook: Callable[[], None]) -> None:
        """Called after every NATS reconnect (e.g. a gateway checks nothing it said was lost)."""
        self._reconnect_hooks.append(hook)

    def reconnected(self) -> None:
        for hook in self._reconnect_hooks:
            try:
                hook()
            except Exception:
                log.exception("reconnect_hook_failed")

    async def add_rpc(
        self,
        name: str,
        subject: str,
        codec: Codec[Any],
        handler: Callable[[Any], Awaitable[msgspec.Struct]],
        *,
        queue_group: str | None = None,
        limit: RateLimiter | None = None,
        charged: Callable[[Any], bool] = lambda _: True,
    ) -> None:
        """Serve a typed request/reply endpoint (counted in ``$SRV.STATS``); with ``limit``,
        each ``charged`` request counts against its caller's budget (refused ``RATE_LIMITED``)."""
        endpoint = rpc_handler(codec, handler) if limit is None else caller_rpc(codec, limited(limit, handler, charged))
        await self.service.add_endpoint(
            EndpointConfig(name=name, subject=subject, handler=endpoint,
                           queue_group=queue_group or f"{self.name}-{name}")
        )

    async def add_consumer(self, consumer: Consumer) -> Consumer:
        """Start a consumer; it is stopped (in-flight message finished) before the drain. If its
        loop ends while nobody asked it to, the service fails (see :meth:`fail`)."""
        self._consumers.append(consumer)
        await consumer.start()
        assert consumer.task is not None

        def ended(task: asyncio.Task[None]) -> None:
            if consumer.stopping or self.stopping.is_set():
                return
            error = "cancelled" if task.cancelled() else type(task.exception()).__name__ \
                if task.exception() else consumer.stats.last_error or "ended"
            self.fail(f"consumer {consumer.durable} stopped: {error}")

        consumer.task.add_done_callback(ended)
        return consumer

    def fail(self, why: str) -> None:
        """The process can no longer do its job: stop it, with a non-zero exit code."""
        if self.failure is None and not self.stopping.is_set():
            self.failure = why
            log.error("service_unserviceable", reason=why)
        self.stopping.set()

    def health(self) -> dict[str, Any]:
        """What ``$SRV.STATS`` reports: the connection and every consumer's liveness and counts."""
        return {"nats": "closed" if self.nc.is_closed else "connected" if self.nc.is_connected else "reconnecting",
                "consumers": {c.durable: c.health() for c in self._consumers},
                "failure": self.failure}

    def on_stop(self, hook: StopHook) -> None:
        self._stop_hooks.append(hook)

    def spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        """A background task cancelled at shutdown, after the consumers stop."""
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.append(task)
        return task

    async def shutdown(self) -> None:
        for consumer in self._consumers:
            await consumer.stop()
        for hook in reversed(self._stop_hooks):
            try:
                await hook()
            except Exception:
                log.exception("stop_hook_failed")
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await self.service.stop()
        with contextlib.suppress(Exception):
            await self.nc.drain()


Setup = Callable[[ServiceContext], Awaitable[None]]
ArgsHook = Callable[[argparse.ArgumentParser], None]


def base_parser(prog: str, description: str, *, config_required: bool) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--config", default=os.environ.get("JANUS_CONFIG", "config.yaml"),
                        required=False, help="path to config.yaml (default: $JANUS_CONFIG or ./config.yaml)")
    parser.add_argument("--nats-url", default=None,
                        help="NATS URL; overrides $JANUS_NATS_URL and the configuration")
    parser.add_argument("--creds", default=None,
                        help="NATS credentials file (<identity>.nk or .creds); default $JANUS_NATS_CREDS, "
                             "else this process's own file in nats.credentials_dir")
    parser.add_argument("--log-level", default=os.environ.get("JANUS_LOG_LEVEL", "INFO"))
    parser.set_defaults(_config_required=config_required)
    return parser


def nats_url(args: argparse.Namespace, config: JanusConfig | None) -> str:
    if args.nats_url:
        return args.nats_url
    if os.environ.get("JANUS_NATS_URL"):
        return os.environ["JANUS_NATS_URL"]
    return config.nats.url if config else "nats://127.0.0.1:4222"


def identity(name: str, args: argparse.Namespace) -> str:
    """The NATS identity of a service process (janus_common.authz): a gateway is its account's."""
    account = getattr(args, "account", None)
    if account:
        return authz.gateway_identity(account)
    return name.removeprefix("janus-")


def nats_creds(args: argparse.Namespace, config: JanusConfig | None, who: str) -> Path | None:
    given = getattr(args, "creds", None)  # tests build their own Namespace
    if given:
        return Path(given)
    return credentials.from_environment(config.nats.credentials_dir if config else None, who)


async def serve(
    name: str,
    version: str,
    setup: Setup,
    args: argparse.Namespace,
    config: JanusConfig | None,
    *,
    description: str = "",
    metadata: dict[str, str] | None = None,
    ready: Callable[[ServiceContext], None] | None = None,
) -> int:
    """Run a service until SIGTERM/SIGINT (or ``ctx.stopping`` is set). Returns the exit code."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stopping.set)

    holder: list[ServiceContext] = []

    def closed_for_good() -> None:
        if holder:
            holder[0].fail("the NATS connection was closed for good")
        else:
            stopping.set()

    who = identity(name, args)
    creds = nats_creds(args, config, who)
    try:
        nc = await connect(nats_url(args, config), name, on_closed=closed_for_good, creds=creds,
                           on_reconnected=lambda: holder[0].reconnected() if holder else None)
    except AuthRefused as exc:
        log.error("nats_auth_refused", identity=who, creds=str(creds) if creds else None, detail=str(exc))
        return EXIT_CONFIG
    js = nc.jetstream()
    if creds is None or authz.manages_streams(credentials.identity_of(creds)):
        await ensure_streams(js, Topology(replicas=config.nats.replicas if config else 1))
    else:
        await await_streams(js)  # the supervisor creates them; a service only waits for them
    endpoint = _metrics_endpoint(config, who)
    metadata = dict(metadata or {})
    if endpoint is not None:
        metadata["metrics"] = endpoint.url  # `janus status` shows it: where to scrape this process
    # Registered for $SRV.PING/INFO/STATS only after setup: a process answers PING once its
    # endpoints and consumers exist, so "it answers" means "it serves".
    service = Service(nc, ServiceConfig(name=name, version=version, description=description,
                                        metadata=metadata,
                                        stats_handler=lambda _endpoint: holder[0].health()))
    ctx = ServiceContext(name=name, config=config, args=args, nc=nc, js=js, service=service,
                         stopping=stopping)
    holder.append(ctx)
    if endpoint is not None:
        stop_endpoint = endpoint.stop  # the first hook, so the last to run: scraped to the end
        ctx.on_stop(lambda: asyncio.to_thread(stop_endpoint))
    try:
        await setup(ctx)
    except ConfigError as exc:
        log.error("fatal_config_error", key=exc.key, reason=exc.reason)
        await ctx.shutdown()
        return EXIT_CONFIG
    # Every instance answers its own health request (a queue group of one), and its STATS carry
    # the same report for discovery.
    await service.add_endpoint(EndpointConfig(
        name="health", subject=f"janus.health.{name}", queue_group=service.id,
        handler=lambda req: req.respond(msgspec.json.encode(ctx.health()))))
    await service.start()
    # "Ready" means another connection can reach every endpoint now: the subscriptions must
    # have reached the server (a request sent a moment early would find no responders).
    with contextlib.suppress(Exception):
        await nc.flush(timeout=5)
    log.info("service_ready", service_id=service.id, version=version)
    if ready is not None:
        ready(ctx)
    if nc.is_closed:
        ctx.fail("the NATS connection was closed for good")
    await stopping.wait()
    log.info("service_stopping", failure=ctx.failure)
    await ctx.shutdown()
    log.info("service_stopped")
    return EXIT_UNSERVICEABLE if ctx.failure else EXIT_OK


def _metrics_endpoint(config: JanusConfig | None, who: str) -> metrics.Endpoint | None:
    """The process's Prometheus endpoint, on its port from ``metrics:`` (none when 0)."""
    port = config.metrics_port(who) if config is not None else 0
    return metrics.serve_endpoint(config.metrics.host, port) if config is not None and port else None


def run(
    name: str,
    version: str,
    setup: Setup,
    *,
    description: str = "",
    argv: Sequence[str] | None = None,
    add_arguments: ArgsHook | None = None,
    config_required: bool = True,
    metadata_from_args: Callable[[argparse.Namespace], dict[str, str]] | None = None,
) -> int:
    """The console-script entry point of a service: returns a process exit code."""
    parser = base_parser(name, description, config_required=config_required)
    if add_arguments:
        add_arguments(parser)
    args = parser.parse_args(argv)
    context = {}
    if getattr(args, "account", None):
        context["account"] = args.account
    janus_logging.configure(name, level=args.log_level, **context)
    config: JanusConfig | None = None
    try:
        if config_required or os.path.exists(args.config):
            config = load(args.config)
    except ConfigError as exc:
        log.error("fatal_config_error", key=exc.key, reason=exc.reason, file=str(args.config))
        return EXIT_CONFIG
    metadata = metadata_from_args(args) if metadata_from_args else {}
    try:
        return asyncio.run(serve(name, version, setup, args, config, description=description,
                                 metadata=metadata))
    except KeyboardInterrupt:  # pragma: no cover - the signal handler normally takes it
        return EXIT_OK
    except Exception:
        log.exception("service_crashed")
        return EXIT_FAILURE

