"""Signatures both ways: what the SDK signs is accepted, anything else is refused with 401."""

from __future__ import annotations

import time

import pytest
import webull.trade.events.events_pb2 as pb
from hypothesis import given, settings
from hypothesis import strategies as st
from webull.core.auth.algorithm import sha_hmac256_new
from webull.core.auth.composer import default_signature_composer
from webull.core.utils.common import json_dumps_compact
from webull.data.data_client import DataClient
from webull.trade.events import signature_composer as grpc_composer
from webull.trade.trade_client import TradeClient

from conftest import FAST, make_api
from helpers import new_order, server_error
from janus_webull_sim import ThreadedSimulator
from janus_webull_sim.errors import AuthError
from janus_webull_sim.signing import Verifier
from recording_proxy import RecordingProxy, send_raw

KEY, SECRET = "k1", "s3cret"
text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=12)


@settings(max_examples=150, deadline=None, database=None)
@given(
    path=st.sampled_from(["/trading/orders/place", "/market-data/stocks/snapshots/list", "/a b/ü"]),
    query=st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), text, max_size=4),
    body=st.one_of(st.none(), st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True),
                                              st.one_of(text, st.integers(), st.lists(text, max_size=2)), max_size=4)),
)
def test_sdk_rest_signatures_verify(path, query, body):
    headers: dict = {}
    default_signature_composer.calc_signature(headers, "127.0.0.1", path, query, body, KEY, SECRET, None)
    raw_body = json_dumps_compact(body).encode() if body is not None else None
    verifier = Verifier({KEY: SECRET}, 300)
    pairs = [(k, str(v)) for k, v in query.items()]
    args = dict(path=path, host="127.0.0.1", query=pairs, body=raw_body, now=time.time())
    assert verifier.verify_rest(headers, **args) == KEY
    with pytest.raises(AuthError, match="already used"):
        verifier.verify_rest(headers, **args)
    tampered = dict(args, host="127.0.0.2")
    with pytest.raises(AuthError, match="does not match"):
        Verifier({KEY: SECRET}, 300).verify_rest(headers, **tampered)


@settings(max_examples=50, deadline=None, database=None)
@given(accounts=st.lists(st.from_regex(r"[A-Z0-9]{1,12}", fullmatch=True), max_size=3),
       ts=st.integers(min_value=0, max_value=2**62))
def test_sdk_grpc_signatures_verify(accounts, ts):
    request = pb.SubscribeRequest(subscribeType=7, timestamp=ts, accounts=accounts)
    _, metadata = grpc_composer.calc_signature(KEY, SECRET, request, sha_hmac256_new)
    verifier = Verifier({KEY: SECRET}, 300)
    assert verifier.verify_grpc(dict(metadata), request.SerializeToString(), time.time()) == KEY
    other = pb.SubscribeRequest(subscribeType=7, timestamp=ts + 1, accounts=accounts)
    with pytest.raises(AuthError):
        Verifier({KEY: SECRET}, 300).verify_grpc(dict(metadata), other.SerializeToString(), time.time())


def test_wrong_secret_gets_401(sim):
    exc = server_error(lambda: TradeClient(make_api(sim, secret="wrong")))
    assert (exc.get_http_status(), exc.get_error_code()) == (401, "INVALID_SIGNATURE")
    exc = server_error(lambda: DataClient(make_api(sim, key="who")))
    assert (exc.get_http_status(), exc.get_error_code()) == (401, "INVALID_APP_KEY")


@pytest.mark.parametrize("skew,ok", [(400, False), (-400, False), (200, True)])
def test_timestamp_window(skew, ok):
    # The server's clock is off by ``skew``: the SDK's honest timestamp looks stale (or early).
    with ThreadedSimulator(FAST, clock=lambda: time.time() + skew) as sim:
        if ok:
            assert TradeClient(make_api(sim)).account_v2.get_account_list().status_code == 200
        else:
            exc = server_error(lambda: TradeClient(make_api(sim)))
            assert (exc.get_http_status(), exc.get_error_code()) == (401, "TIMESTAMP_EXPIRED")


def test_replayed_and_tampered_requests(sim):
    proxy = RecordingProxy(sim.http_port)
    try:
        trade = TradeClient(make_api(sim, port=proxy.port))
        assert trade.account_v2.get_account_balance("SIMWB0001").status_code == 200
        order = new_order("AAPL", "BUY", 1, "LIMIT", limit="100.00")
        assert trade.order_v3.place_order("SIMWB0001", [order]).status_code == 200
    finally:
        proxy.close()
    balance_req, place_req = proxy.requests[-2], proxy.requests[-1]

    status, body = send_raw(sim.http_port, balance_req)
    assert (status, body["error_code"]) == (401, "NONCE_REUSED")
    status, body = send_raw(sim.http_port, place_req)
    assert (status, body["error_code"]) == (401, "NONCE_REUSED")

    # Changing a query value or the body breaks the signature (checked before the nonce).
    forged = balance_req.replace(b"account_id=SIMWB0001", b"account_id=SIMWB0002")
    assert send_raw(sim.http_port, forged)[1]["error_code"] == "INVALID_SIGNATURE"
    forged = place_req.replace(b'"quantity":"1"', b'"quantity":"9"')
    assert send_raw(sim.http_port, forged)[1]["error_code"] == "INVALID_SIGNATURE"
    open_orders = TradeClient(make_api(sim)).order_v3.list_order_open("SIMWB0001").json()["orders"]
    assert [g["client_order_id"] for g in open_orders] == [order["client_order_id"]]


def test_token_flow(tmp_path):
    config = FAST.with_overrides(token_check_enabled=True, token_pending_checks=1)
    with ThreadedSimulator(config) as sim:
        api = make_api(sim)
        api.set_token_dir(str(tmp_path / "tokens"))
        trade = TradeClient(api)  # config says token_check_enabled: create (PENDING) -> check (NORMAL)
        token = api.get_token()
        assert token and (tmp_path / "tokens" / "token.txt").read_text().splitlines() == [
            token, (tmp_path / "tokens" / "token.txt").read_text().splitlines()[1], "NORMAL"]
        assert trade.account_v2.get_account_list().status_code == 200
        # A second client finds the token on disk and is handed the same one back.
        api2 = make_api(sim)
        api2.set_token_dir(str(tmp_path / "tokens"))
        TradeClient(api2)
        assert api2.get_token() == token
        api.set_token("forged")
        exc = server_error(lambda: trade.account_v2.get_account_list())
        assert (exc.get_http_status(), exc.get_error_code()) == (401, "INVALID_TOKEN")
