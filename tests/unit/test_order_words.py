"""`janus order`'s positional words: [ACCOUNT] SIDE SYMBOL QTY, symbol and qty either way."""

import pytest

from contract_months import front, option_symbol
from janus_client.cli import order_words

NQ, NQ_CALL = front("NQ").canonical, option_symbol("NQ", "C", "15000")  # live months, whatever today is


@pytest.mark.parametrize("words, account, expected", [
    (["BUY", "AAPL", "10"], "ib-1", ("ib-1", "BUY", 10.0, "AAPL")),
    (["sell", "2.5", NQ], "wb-1", ("wb-1", "SELL", 2.5, NQ)),
    (["ib-1", "buy", "10", "AAPL"], None, ("ib-1", "BUY", 10.0, "AAPL")),
    (["ib-1", "BUY", NQ_CALL, "1"], None, ("ib-1", "BUY", 1.0, NQ_CALL)),
])
def test_accepted_forms(words, account, expected):
    assert order_words(words, account) == expected


@pytest.mark.parametrize("words, account", [
    (["BUY", "AAPL"], "ib-1"),                 # no quantity
    (["HOLD", "AAPL", "10"], "ib-1"),          # not a side
    (["BUY", "10", "20"], "ib-1"),             # two quantities
    (["BUY", "AAPL", "MSFT"], "ib-1"),         # no quantity
    (["BUY", "AAPL", "10"], None),             # no account at all
    (["ib-1", "BUY", "AAPL", "10"], "ib-2"),   # an account twice
])
def test_refused_forms(words, account):
    with pytest.raises(ValueError):
        order_words(words, account)
