"""`janus schema`: the bus described for other languages (JSON Schema, AsyncAPI 3.0).

No connection: the documents come from the code (janus_common.schema)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from janus_common import schema

from .exits import EXIT_OK


async def _run(args: argparse.Namespace) -> int:
    text = schema.render(args.format)
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"wrote {args.out} ({args.format})", file=sys.stderr)
    return EXIT_OK


def add(sub: argparse._SubParsersAction[argparse.ArgumentParser], nats_url: Callable[[argparse.Namespace], str]) -> None:
    p = sub.add_parser("schema", help="print the JSON Schema of every message, or the AsyncAPI 3.0 document "
                                      "of every subject (for clients in other languages)")
    p.add_argument("--format", choices=schema.FORMATS, default="json-schema",
                   help="json-schema: every message family (JSON); asyncapi: subjects, streams and messages (YAML)")
    p.add_argument("--out", type=Path, default=None, help="write to FILE instead of standard output")
    p.set_defaults(run=_run)
