def test_accounts_through_sdk(sim, trade):
    res = trade.account_v2.get_account_list()
    assert res.status_code == 200
    assert res.json()[0]["account_id"] == "SIMWB0001"
