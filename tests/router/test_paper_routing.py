"""What the router sends a paper account: canonical equities only, no broker fields, one SELL
whatever the position (like IB), and the time-in-force values the paper engine honours."""

from __future__ import annotations

from datetime import date

import pytest

from janus_common.messages import (
    Broker,
    BrokerSide,
    IbContract,
    OrderIntent,
    OrderType,
    RegistryRecord,
    RejectReason,
    Side,
    Tif,
)
from janus_common.symbols import AssetClass
from janus_router.decide import Rejection, plan_route
from janus_router.rules import CAPABILITIES, AccountRules

RULES = AccountRules("paper-1", Broker.PAPER, allow_short=True)
AAPL = RegistryRecord(symbol="AAPL", asset_class=AssetClass.EQUITY,
                      ib=IbContract(symbol="AAPL", sec_type="STK", con_id=265598))


def intent(**kw) -> OrderIntent:
    return OrderIntent(**{**dict(account="paper-1", symbol="AAPL", side=Side.BUY, order_type=OrderType.MARKET,
                                 qty=10.0), **kw})


def route(i: OrderIntent, record: RegistryRecord = AAPL, position: float = 0.0):
    return plan_route(i, record, RULES, CAPABILITIES[Broker.PAPER], broker_position=position, in_flight_buys=0,
                      in_flight_sells=0)


@pytest.mark.parametrize("tif", [Tif.DAY, Tif.GTC, Tif.IOC])
def test_an_equity_goes_to_paper_as_the_canonical_symbol_alone(tif):
    [order] = route(intent(tif=tif)).orders
    assert (order.broker, order.symbol, order.tif, order.ib, order.webull) == (Broker.PAPER, "AAPL", tif, None, None)


def test_a_sell_crossing_zero_is_one_sell_as_at_ib():
    [order] = route(intent(side=Side.SELL, qty=15.0), position=10.0).orders
    assert (order.side, order.qty) == (BrokerSide.SELL, 15.0)


def test_a_future_is_refused_for_paper():
    symbol = f"ES.{date.today():%y%m}"
    es = RegistryRecord(symbol=symbol, asset_class=AssetClass.FUTURE,
                        ib=IbContract(symbol="ES", sec_type="FUT", con_id=1, multiplier=50.0))
    refused = route(intent(symbol=symbol), es)
    assert isinstance(refused, Rejection) and refused.reason is RejectReason.UNKNOWN_SYMBOL
    assert "equities" in refused.message
