"""janus-paper-gateway --config config.yaml --account ALIAS

A ``broker: paper`` account: the kernel's whole gateway (``janus_gateway.service.serve_adapter``)
around :class:`~.adapter.PaperAdapter`. Nothing else.
"""

from __future__ import annotations

import sys

from janus_common.config import ConfigError, PaperSettings
from janus_common.messages import Broker
from janus_common.service import ServiceContext, run
from janus_gateway import kernel
from janus_gateway.service import serve_adapter

from .adapter import PaperAdapter

NAME = "janus-paper-gateway"
VERSION = "0.1.0"


async def setup(ctx: ServiceContext) -> None:
    assert ctx.config is not None
    alias = ctx.args.account
    account = ctx.config.account(alias)
    if account.broker is not Broker.PAPER:
        raise ConfigError(f"accounts.{alias}.broker", f"{NAME} serves paper accounts only")
    adapter = PaperAdapter(ctx.nc, ctx.js, alias, account.paper or PaperSettings())
    await serve_adapter(ctx, alias, adapter, where=f"paper book of {alias}")


def main(argv: list[str] | None = None) -> int:
    return run(NAME, VERSION, setup, description="Janus paper broker gateway", argv=argv,
               add_arguments=kernel.add_arguments, metadata_from_args=lambda a: {"account": a.account})


if __name__ == "__main__":
    sys.exit(main())
