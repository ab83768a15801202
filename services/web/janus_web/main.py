"""``janus-web``: the live web console. Reads and acts only through NATS, as its own identity
(``web``, janus_common.authz); serves the page on ``web.host``:``web.port`` (config.yaml).

It has no user authentication: bind it to loopback (the default) or put it behind an
authenticating reverse proxy. Anyone who reaches the port may cancel orders and halt accounts.
"""

from __future__ import annotations

import argparse
import sys

import structlog
from aiohttp import web

from janus_common.config import ConfigError
from janus_common.service import ServiceContext, run

from .actions import Actions
from .feed import Feed
from .http import Site
from .hub import Hub
from .model import Console

log = structlog.get_logger()


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None, help="listen address (default: web.host of config.yaml)")
    parser.add_argument("--port", type=int, default=None, help="listen port (default: web.port of config.yaml)")


async def setup(ctx: ServiceContext) -> None:
    assert ctx.config is not None
    config = ctx.config
    host = ctx.args.host or config.web.host
    port = config.web.port if ctx.args.port is None else ctx.args.port
    console = Console(accounts={alias: a.broker for alias, a in config.accounts.items()})
    hub = Hub()
    feed = Feed(ctx.nc, console, hub)
    await feed.start()
    ctx.on_reconnect(feed.reconnected)
    site = Site(console, hub, Actions(ctx.nc, list(config.accounts)), ctx.js)
    runner = web.AppRunner(site.app(), access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError("web.port", f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    log.info("console_listening", url=f"http://{host}:{port}")

    async def stop() -> None:
        hub.close()  # ends every browser's stream, so the server's shutdown need not wait for them
        await runner.cleanup()
        await feed.stop()

    ctx.on_stop(stop)
    ctx.spawn(feed.publish_states(), "publish-states")
    ctx.spawn(feed.watch_connection(), "watch-connection")
    ctx.spawn(feed.watch_health(), "watch-health")


def main(argv: list[str] | None = None) -> int:
    return run("janus-web", "0.1.0", setup, description=__doc__.splitlines()[0], argv=argv,
               add_arguments=_arguments, metadata_from_args=lambda a: {"role": "console"})


if __name__ == "__main__":
    sys.exit(main())
