"""Brackets (attached orders) and OCA groups, as IB runs them. Pure over the simulator's orders.

- An order with ``transmit=False`` is kept by TWS but not sent: no openOrder, no orderStatus
  (ib_async leaves it PendingSubmit), not in reqOpenOrders. The next order of the same
  client that transmits and names it as ``parentId`` (or is its child) sends the whole group.
- A child (``parentId`` = the parent's orderId) stays inactive — PreSubmitted — until its
  parent fills; a cancelled parent cancels its children.
- The children of one parent are one OCA group even without an ``ocaGroup`` (IB links a
  bracket's take-profit and stop-loss): a fill of one reduces the others by as much.
- Orders sharing an ``ocaGroup`` in one account: ocaType 1 cancels the others on a fill;
  2 and 3 reduce them by the filled quantity (cancelled once nothing remains).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .book import SimOrder
from .catalogue import Spec
from .orderwire import OrderRequest


@dataclass(frozen=True)
class Staged:
    """An order placed with transmit=False, waiting for its group to be transmitted."""

    client_id: int
    order_id: int
    spec: Spec
    request: OrderRequest


def batch(staged: Iterable[Staged], client_id: int, order_id: int, parent_id: int) -> list[Staged]:
    """The staged orders an order that transmits sends along with it, parent first: its staged
    parent, the parent's other staged children, and its own staged children."""
    mine = [s for s in staged if s.client_id == client_id and s.order_id != order_id]
    root = parent_id or order_id
    group = [s for s in mine if s.order_id == root or s.request.parent_id == root
             or (s.request.parent_id and s.request.parent_id == order_id)]
    return sorted(group, key=lambda s: (s.order_id != root, s.order_id))


def waiting(order: SimOrder, parent: SimOrder | None) -> bool:
    """A child works only once its parent has filled."""
    return bool(order.parent_id) and (parent is None or parent.status != "Filled")


def children(parent: SimOrder, orders: Iterable[SimOrder]) -> list[SimOrder]:
    return [o for o in orders if not o.done and o.parent_id and o.parent_id == parent.order_id
            and o.client_id == parent.client_id]


def oca_members(order: SimOrder, orders: Iterable[SimOrder]) -> list[SimOrder]:
    """The other live orders one fill of ``order`` acts on."""
    out = []
    for o in orders:
        if o.done or o.perm_id == order.perm_id:
            continue
        named = bool(order.oca_group) and o.oca_group == order.oca_group and o.account == order.account
        siblings = bool(order.parent_id) and o.parent_id == order.parent_id and o.client_id == order.client_id
        if named or siblings:
            out.append(o)
    return out


def after_fill(order: SimOrder, qty: float, members: Iterable[SimOrder]) -> list[tuple[SimOrder, float | None]]:
    """What a fill of ``qty`` of ``order`` does to its OCA members: (member, its new total
    quantity), or (member, None) when it is cancelled."""
    out: list[tuple[SimOrder, float | None]] = []
    for m in members:
        if order.oca_group and order.oca_type == 1 and m.oca_group == order.oca_group:
            out.append((m, None))
            continue
        left = m.remaining - qty
        out.append((m, None) if left <= 1e-9 else (m, m.qty - qty))
    return out
