"""What survives a restart of the simulator process (``--state FILE``), as TWS keeps it: accounts
(cash, holdings), every order and execution, the id counters and the last prices. Sessions,
subscriptions and scenarios do not: clients reconnect and ask again.

``snapshot`` / ``restore`` are pure over the simulator's data; ``load`` / ``save`` are the file
edge (atomic replace; a file that cannot be read is set aside, never fatal).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import msgspec
import structlog

from .book import Account, SimOrder
from .market import Quote, first_quote
from .simulator import Execution, IBSimulator

log = structlog.get_logger()

VERSION = 1


@dataclass
class Saved:
    version: int
    accounts: dict[str, Account]
    orders: dict[int, SimOrder]
    by_client: list[tuple[int, int, int]]  # (clientId, orderId, permId)
    executions: list[Execution]
    quotes: dict[int, Quote]
    next_perm: int
    next_exec: int
    next_ids: dict[int, int]


def snapshot(sim: IBSimulator) -> bytes:
    return msgspec.json.encode(Saved(
        version=VERSION, accounts=sim.accounts, orders=sim.orders,
        by_client=[(c, o, p) for (c, o), p in sim.by_client.items()], executions=sim.executions,
        quotes=sim.quotes, next_perm=sim._next_perm, next_exec=sim._next_exec, next_ids=sim._next_ids))


def restore(sim: IBSimulator, data: bytes) -> list[str]:
    """Put a snapshot into ``sim``; returns what was skipped (accounts or contracts this
    simulator is not configured with). Raises msgspec errors for bytes that are not a snapshot."""
    saved = msgspec.json.decode(data, type=Saved)
    if saved.version != VERSION:
        raise msgspec.ValidationError(f"state version {saved.version}, expected {VERSION}")
    # A contract that expired while the simulator was down is no longer listed, but its orders
    # carry it: keep it known so their history and any holding in it still report.
    for order in saved.orders.values():
        sim.specs.setdefault(order.spec.con_id, order.spec)
    skipped = [f"account {n}" for n in saved.accounts if n not in sim.accounts]
    skipped += [f"contract {c}" for c in saved.quotes if c not in sim.specs]
    for number, account in saved.accounts.items():
        if number in sim.accounts:
            unknown = [c for c in account.holdings if c not in sim.specs]
            skipped += [f"holding {number}/{c}" for c in unknown]
            for c in unknown:
                del account.holdings[c]
            sim.accounts[number] = account
    sim.quotes.update({c: q for c, q in saved.quotes.items() if c in sim.specs})
    for con_id, spec in sim.specs.items():
        sim.quotes.setdefault(con_id, first_quote(spec))
    sim.orders = {p: o for p, o in saved.orders.items() if o.account in sim.accounts}
    sim.by_client = {(c, o): p for c, o, p in saved.by_client if p in sim.orders}
    sim.executions = [e for e in saved.executions if e.order.account in sim.accounts]
    sim._next_perm = max(sim._next_perm, saved.next_perm)
    sim._next_exec = max(sim._next_exec, saved.next_exec)
    sim._next_ids = dict(saved.next_ids)
    sim._listed_on = None  # the next look at the calendar ends orders whose contract expired meanwhile
    return skipped


def load(sim: IBSimulator, path: Path) -> None:
    if not path.exists():
        return
    try:
        skipped = restore(sim, path.read_bytes())
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        aside = path.with_name(path.name + ".bad")
        os.replace(path, aside)
        log.warning("sim_state_unreadable", path=str(path), reason=str(exc)[:300], moved_to=str(aside))
        return
    log.info("sim_state_restored", path=str(path), orders=len(sim.orders), executions=len(sim.executions),
             skipped=skipped)


def save(sim: IBSimulator, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(snapshot(sim))
    os.replace(tmp, path)
    log.info("sim_state_saved", path=str(path), orders=len(sim.orders), executions=len(sim.executions))
