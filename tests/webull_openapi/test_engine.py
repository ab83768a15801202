"""Pure parts without IO: price paths, the account book, the engine's bookkeeping."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from janus_webull_sim.book import Account
from janus_webull_sim.config import AccountConfig, SimConfig
from janus_webull_sim.engine import Engine
from janus_webull_sim.prices import PricePath


def test_price_paths_are_seeded_and_on_the_grid():
    def run(seed: int) -> list[int]:
        path = PricePath("AAPL", 19000, seed, 3.0)
        out = []
        for _ in range(200):
            path.step()
            out.append(path.last)
        return out

    assert run(1) == run(1)
    assert run(1) != run(2)
    assert all(isinstance(c, int) and c >= 1 for c in run(3))
    assert PricePath("MSFT", 42000, 1, 3.0).quote().bid == 41999


def test_two_engines_with_one_seed_agree():
    a, b = Engine(SimConfig(), 5, lambda: 0.0), Engine(SimConfig(), 5, lambda: 0.0)
    for _ in range(50):
        a.tick()
        b.tick()
    assert a.snapshot(["AAPL", "SPY"]) == b.snapshot(["AAPL", "SPY"])


fills = st.lists(st.tuples(st.sampled_from(["BUY", "SELL"]), st.integers(1, 500), st.integers(100, 50000)),
                 max_size=30)


@settings(max_examples=200, deadline=None, database=None)
@given(fills)
def test_book_conserves_value(trades):
    """Cash + position at cost + realized PnL is conserved: every fill only moves value around."""
    acct = Account.from_config(AccountConfig("A", "1", cash="0"))
    for side, qty, cents in trades:
        price = Decimal(cents) / 100
        acct.apply_fill("X", side, qty, price)
        pos = acct.positions.get("X")
        qty_now = pos.quantity if pos else 0
        signed_cost = (pos.cost if qty_now > 0 else -pos.cost) if pos else Decimal(0)
        # Average costs are divisions: equal up to Decimal's 28 digits.
        assert abs(acct.cash + signed_cost - acct.realized_pnl) < Decimal("1e-18")
    net = sum(q if s == "BUY" else -q for s, q, _ in trades)
    assert acct.quantity("X") == net
