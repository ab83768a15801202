from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract_months import front, option_symbol
from janus_common import subjects
from janus_common.subjects import SubjectError

accounts = st.from_regex(r"[A-Za-z0-9_-]{1,20}", fullmatch=True)


def test_every_design_subject():
    assert subjects.intent("ib-1") == "janus.intent.ib-1"
    assert subjects.route("webull", "wb-1") == "janus.route.webull.wb-1"
    assert subjects.evt_order("ib-1") == "janus.evt.order.ib-1"
    assert subjects.evt_position("ib-1") == "janus.evt.position.ib-1"
    assert subjects.evt_account("ib-1") == "janus.evt.account.ib-1"
    assert subjects.EVT_REGISTRY == "janus.evt.registry"
    nq = front("NQ").canonical
    assert subjects.md_tick(nq) == "janus.md.tick." + nq.replace(".", "~")
    assert subjects.md_bar("BRK.B") == "janus.md.bar.BRK~B"
    assert subjects.val("wb-1") == "janus.val.wb-1"
    assert subjects.rpc_lookup("ib") == "janus.rpc.lookup.ib"
    assert subjects.rpc_sync("ib-2") == "janus.rpc.sync.ib-2"
    assert subjects.RPC_RESOLVE == "janus.rpc.registry.resolve"
    assert subjects.RPC_HARMONY == "janus.rpc.registry.harmony"


@settings(max_examples=1000, deadline=None)
@given(accounts)
def test_account_subjects_read_back(account):
    for build in (subjects.intent, subjects.evt_order, subjects.evt_position, subjects.val):
        subject = build(account)
        assert subjects.account_of(subject) == account
        assert all(subject.split("."))


@pytest.mark.parametrize("bad", ["", "a.b", "a b", "*", ">", "ib/1", None, 7])
def test_bad_account_tokens_are_refused(bad):
    with pytest.raises(SubjectError):
        subjects.intent(bad)


def test_bad_broker_and_symbol():
    with pytest.raises(SubjectError):
        subjects.route("etrade", "a")
    with pytest.raises(SubjectError):
        subjects.md_tick("A B")
    option = option_symbol("NQ", "C", "15000.5")
    assert subjects.symbol_of(subjects.md_tick(option)) == option
