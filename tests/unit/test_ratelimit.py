"""The per-caller RPC budget, pure: the rolling window against a model, and who the caller is."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from nats.nuid import NUID

from janus_common import messages as m
from janus_common.ratelimit import ANONYMOUS, OVERFLOW, RateLimiter, Window, admit, caller_of, retry_after

windows = st.builds(Window, limit=st.integers(1, 6), window_s=st.sampled_from([0.5, 1.0, 2.5, 10.0]))
# Times on a quarter-second grid: exact in binary, so "exactly one window ago" really happens.
steps = st.lists(st.tuples(st.sampled_from(["alice", "bob", "carol"]), st.integers(0, 12)), max_size=60)


def model(history: list[tuple[str, float]], caller: str, now: float, w: Window) -> bool:
    """Independent statement of the rule: admitted iff fewer than ``limit`` of the caller's
    admitted calls are less than ``window_s`` old."""
    return sum(1 for who, t in history if who == caller and now - t < w.window_s) < w.limit


@settings(max_examples=500)
@given(windows, steps)
def test_the_limiter_admits_exactly_what_the_model_admits(w, plan):
    now = [0.0]
    limiter = RateLimiter("test", w, clock=lambda: now[0])
    admitted: list[tuple[str, float]] = []
    for caller, gap in plan:
        now[0] += gap / 4
        expected = model(admitted, caller, now[0], w)
        refused = limiter.charge(caller)
        assert (refused is None) is expected
        if expected:
            admitted.append((caller, now[0]))
        else:
            assert refused.reason is m.RejectReason.RATE_LIMITED and refused.caller == caller
            assert (refused.limit, refused.window_s) == (w.limit, w.window_s)


@given(windows, st.lists(st.integers(0, 12), max_size=40))
def test_the_log_never_holds_more_than_the_limit_nor_anything_outside_the_window(w, gaps):
    calls: tuple[float, ...] = ()
    now = 0.0
    for gap in gaps:
        now += gap / 4
        ok, calls = admit(calls, now, w)
        assert len(calls) <= w.limit and all(now - t < w.window_s for t in calls)
        assert list(calls) == sorted(calls)
        if not ok:
            assert 0 < retry_after(calls, now, w) <= w.window_s


def test_a_clock_that_steps_back_is_taken_as_the_latest_time():
    w = Window(limit=1, window_s=10)
    ok, calls = admit((), 100.0, w)
    assert ok
    ok, calls = admit(calls, 50.0, w)  # not a fresh window
    assert not ok and calls == (100.0,)


def test_new_callers_past_the_table_bound_share_one_budget_and_idle_ones_make_room():
    now = [0.0]
    limiter = RateLimiter("test", Window(limit=1, window_s=10), clock=lambda: now[0], max_callers=2)
    assert limiter.charge("a") is None and limiter.charge("b") is None
    assert limiter.charge("c") is None  # the overflow budget's one call
    assert limiter.charge("d") is not None and OVERFLOW in limiter._calls
    now[0] = 20.0  # every window has passed: the idle callers go, new ones get their own budget
    assert limiter.charge("e") is None and "e" in limiter._calls


def test_the_caller_is_the_identity_of_the_inbox_prefix():
    nuid = NUID()
    token = nuid.next().decode()
    mux = nuid.next().decode()
    # nats-py's request() with inbox_prefix="_INBOX.router": <prefix>.<nuid>.<token>
    assert caller_of(f"_INBOX.router.{mux}.{token}") == "router"
    assert caller_of(f"_INBOX.gateway-ib-1.{mux}.{token}.more") == "gateway-ib-1"
    # the default prefix: _INBOX.<nuid>.<token>, and old-style new_inbox() replies
    assert caller_of(f"_INBOX.{mux}.{token}") == ANONYMOUS
    assert caller_of(f"_INBOX.{mux}") == ANONYMOUS
    assert caller_of(f"_INBOX.router.{mux}") == ANONYMOUS  # old style with a prefix: cannot tell
    assert caller_of(None) == ANONYMOUS and caller_of("") == ANONYMOUS
    assert caller_of(f"elsewhere.router.{mux}.{token}") == ANONYMOUS
    assert caller_of(f"_INBOX..{mux}.{token}") == ANONYMOUS
    assert len(caller_of(f"_INBOX.{'x' * 200}.{mux}.{token}")) == m.ID_MAX


def test_a_name_the_bus_does_not_know_shares_the_anonymous_budget():
    """The server does not check reply subjects: a made-up identity per request gets no budget
    of its own when the limiter knows the configuration's identities."""
    limiter = RateLimiter("test", Window(limit=1, window_s=10), clock=lambda: 0.0,
                          known=frozenset({"router", "demo-client"}))
    assert limiter.charge("made-up-1") is None
    refused = limiter.charge("made-up-2")
    assert refused is not None and refused.caller == ANONYMOUS
    assert limiter.charge("router") is None and limiter.charge("demo-client") is None  # their own
    assert limiter.charge("router") is not None
