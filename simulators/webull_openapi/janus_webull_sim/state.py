"""The trading state as bytes and back: accounts, every order, the id counters, last prices.

No IO here: ``snapshot`` reads an engine and ``restore`` fills a fresh one; main.py owns the file.
JSON through msgspec, so a person can read a state file; the engine's own Order and Position
dataclasses are the schema, so a field added there is saved without a second list to keep.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Annotated

import msgspec

from janus_webull_sim.book import Position
from janus_webull_sim.engine import Engine
from janus_webull_sim.orders import NEEDS_LIMIT, STOP_TYPES, TRAILING, Order
from janus_webull_sim.trailing import TRAILING_TYPES

FORMAT_VERSION = 1

Count = Annotated[int, msgspec.Meta(ge=0)]
Cents = Annotated[int, msgspec.Meta(ge=1)]


class StateUnreadable(Exception):
    """The bytes are not a state this simulator can take over (not JSON, wrong shape, version)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class AccountState(msgspec.Struct, frozen=True):
    account_id: str
    cash: Decimal
    realized_pnl: Decimal
    positions: dict[str, Position]


class PriceState(msgspec.Struct, frozen=True):
    last: Cents
    volume: Count


class SimState(msgspec.Struct, frozen=True):
    version: int
    accounts: tuple[AccountState, ...]
    orders: tuple[Order, ...]  # in placement order, which order history lists keep
    order_seq: Count
    request_seq: Count
    prices: dict[str, PriceState]


class _Version(msgspec.Struct):
    version: int


class Restored(msgspec.Struct, frozen=True):
    """What a restore took over, and what the running configuration had no place for."""

    accounts: tuple[str, ...]
    orders: int
    skipped_accounts: tuple[str, ...] = ()
    skipped_orders: tuple[str, ...] = ()  # "account_id/client_order_id"
    skipped_symbols: tuple[str, ...] = ()

    @property
    def skipped_anything(self) -> bool:
        return bool(self.skipped_accounts or self.skipped_orders or self.skipped_symbols)


def snapshot(engine: Engine) -> bytes:
    state = SimState(
        version=FORMAT_VERSION,
        accounts=tuple(AccountState(a.account_id, a.cash, a.realized_pnl, a.positions)
                       for a in engine.accounts.values()),
        orders=tuple(engine.orders.values()),
        order_seq=engine.order_seq,
        request_seq=engine.request_seq,
        prices={sym: PriceState(path.last, path.volume) for sym, path in engine.paths.items()},
    )
    return msgspec.json.encode(state)


def decode(data: bytes) -> SimState:
    try:
        # The version first: a later format should be named as such, not as a shape error.
        version = msgspec.json.decode(data, type=_Version).version
        if version != FORMAT_VERSION:
            raise StateUnreadable(f"format version {version}, not {FORMAT_VERSION}")
        state = msgspec.json.decode(data, type=SimState)
    except msgspec.DecodeError as exc:
        raise StateUnreadable(str(exc)) from exc
    # msgspec takes "NaN" for a Decimal; the engine's comparisons would raise on every order.
    money = [m for a in state.accounts
             for m in (a.cash, a.realized_pnl, *(p.cost for p in a.positions.values()))]
    if not all(m.is_finite() for m in money):
        raise StateUnreadable("an amount of money is not a finite number")
    broken = next((o for o in state.orders if not _whole(o)), None)
    if broken is not None:
        raise StateUnreadable(f"order {broken.client_order_id} lacks the prices, trail or group its type needs")
    return state


def _whole(o: Order) -> bool:
    """The fields matching reads for the order's type are there (and a trail's step is a number);
    an OCO member knows its group, and only an OCO member has one."""
    if (o.combo_type == "OCO") != (o.combo_order_id is not None):
        return False
    if (o.order_type in NEEDS_LIMIT and o.limit_cents is None) or (o.order_type in STOP_TYPES and o.stop_cents is None):
        return False
    if o.order_type != TRAILING:
        return True
    return (o.trailing_type in TRAILING_TYPES and o.trailing_step is not None and o.trailing_step.is_finite()
            and 0 < o.trailing_step and o.trail_reference_cents is not None)


def restore(engine: Engine, data: bytes) -> Restored:
    """Fill a freshly built engine from ``data``; raise StateUnreadable and leave it untouched."""
    return apply(engine, decode(data))


def apply(engine: Engine, state: SimState) -> Restored:
    # Positions, orders and prices of symbols no longer configured would break matching and
    # the position views, and accounts no longer configured cannot be reached: all are left out.
    known = engine.instruments
    skipped_symbols: set[str] = {s for s in state.prices if s not in known}
    kept, skipped_accounts = [], []
    for saved in state.accounts:
        account = engine.accounts.get(saved.account_id)
        if account is None:
            skipped_accounts.append(saved.account_id)
            continue
        skipped_symbols |= {s for s in saved.positions if s not in known}
        engine.accounts[saved.account_id] = replace(
            account, cash=saved.cash, realized_pnl=saved.realized_pnl,
            positions={s: p for s, p in saved.positions.items() if s in known})
        kept.append(saved.account_id)
    orders, skipped_orders = {}, []
    for o in state.orders:
        if o.account_id in engine.accounts and o.symbol in known:
            orders[(o.account_id, o.client_order_id)] = o
        else:
            skipped_orders.append(f"{o.account_id}/{o.client_order_id}")
    engine.orders = orders
    for sym, price in state.prices.items():
        if sym in known:
            engine.paths[sym].last, engine.paths[sym].volume = price.last, price.volume
    # Skipped orders used ids too: the counters carry on past them all.
    engine.order_seq = max(engine.order_seq, state.order_seq)
    engine.request_seq = max(engine.request_seq, state.request_seq)
    return Restored(
        accounts=tuple(kept), orders=len(engine.orders),
        skipped_accounts=tuple(skipped_accounts),
        skipped_orders=tuple(skipped_orders),
        skipped_symbols=tuple(sorted(skipped_symbols)))
