"""Static mappings from the configuration as registry writes. Pure code, no IO.

They are written fill-only at start: a field already in the table (written by config earlier,
by a look-up or by harmony) is kept, so editing a mapping never silently rewrites a row.
"""

from __future__ import annotations

from collections.abc import Iterable

from janus_common.config import SymbolMapping
from janus_common.symbols import canonical

from .model import Source, Write, ib_values, key_values, webull_values


def config_writes(mappings: Iterable[SymbolMapping], at: int) -> list[Write]:
    writes: dict[str, Write] = {}
    for mapping in mappings:
        key = canonical(mapping.symbol, mapping.asset_class, exchange=mapping.exchange,
                        currency=mapping.currency)
        values = {**key_values(key), **ib_values(mapping.ib), **webull_values(mapping.webull)}
        # The first mapping of a symbol wins, as fill-only writes would decide anyway.
        if key.symbol not in writes:
            writes[key.symbol] = Write(key.symbol, key.asset_class, values, Source.CONFIG, at)
    return sorted(writes.values(), key=lambda w: w.symbol)
