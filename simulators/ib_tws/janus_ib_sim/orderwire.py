"""The order fields of a placeOrder message, read the way TWS reads them. Pure.

placeOrder has no version field and several variable-length blocks (combo legs, delta-neutral,
scale, hedge, algo parameters), so every field past ``hidden`` moves with what came before it:
the reader walks the message exactly as ib_async's ``Client.placeOrder`` writes it (server
version 178), never by fixed index.
"""

from __future__ import annotations

from dataclasses import dataclass

from .wire import UNSET_DOUBLE, WireError, as_float, as_int


@dataclass(frozen=True)
class OrderRequest:
    """What the simulator uses of an ib_async ``Order``; names follow ib_async's."""

    action: str
    qty: float
    order_type: str
    lmt: float | None = None  # lmtPrice
    aux: float | None = None  # auxPrice: stop price, or the trailing amount of TRAIL / TRAIL LIMIT
    tif: str = "DAY"
    account: str = ""
    order_ref: str = ""
    oca_group: str = ""
    oca_type: int = 0
    transmit: bool = True
    parent_id: int = 0
    outside_rth: bool = False
    good_till: str = ""  # goodTillDate
    trail_stop: float | None = None  # trailStopPrice
    trailing_pct: float | None = None  # trailingPercent
    lmt_offset: float | None = None  # lmtPriceOffset
    what_if: bool = False
    conditions: int = 0


class _Cursor:
    def __init__(self, fields: list[str], at: int) -> None:
        self.fields = fields
        self.at = at

    def text(self) -> str:
        value = self.fields[self.at]  # IndexError on a short message: answered 321 by the session
        self.at += 1
        return value

    def skip(self, n: int) -> None:
        if n < 0 or self.at + n > len(self.fields):
            raise WireError(f"placeOrder is shorter than its counts say ({n} more fields at {self.at})")
        self.at += n

    def count(self) -> int:
        n = as_int(self.text())
        if n < 0:
            raise WireError(f"negative count {n}")
        return n

    def flag(self, default: bool = False) -> bool:
        """ib_async writes bools as 1/0; an absent value is the Order default of that field."""
        value = as_float(self.text())
        return default if value is None else value != 0

    def number(self) -> float | None:
        return as_float(self.text())


def parse(f: list[str], version: int = 178) -> OrderRequest:
    """The order part of placeOrder (fields from [16] on; [1] is the orderId, [2..15] the
    contract). Raises WireError/IndexError/ValueError on a message TWS could not read either."""
    c = _Cursor(f, 16)
    action, qty, order_type = c.text().upper(), as_float(c.text(), 0.0) or 0.0, c.text().upper()
    lmt, aux, tif = c.number(), c.number(), (c.text() or "DAY").upper()
    oca_group, account = c.text(), c.text()
    c.skip(2)  # openClose, origin
    order_ref = c.text()
    transmit = c.flag(default=True)
    parent_id = as_int(c.text())
    c.skip(4)  # blockOrder, sweepToFill, displaySize, triggerMethod
    outside_rth = c.flag()
    c.skip(1)  # hidden
    if f[4] == "BAG":
        c.skip(8 * c.count())  # combo legs
        c.skip(c.count())  # order combo leg prices
        c.skip(2 * c.count())  # smart combo routing params
    c.skip(3)  # "", discretionaryAmt, goodAfterTime
    good_till = c.text()
    c.skip(3 if version >= 177 else 4)  # faGroup, faMethod, faPercentage (, faProfile)
    c.skip(4)  # modelCode, shortSaleSlot, designatedLocation, exemptCode
    oca_type = as_int(c.text())
    c.skip(17)  # rule80A … volatilityType
    if c.text():  # deltaNeutralOrderType
        c.skip(1 + 8)
    else:
        c.skip(1)  # deltaNeutralAuxPrice
    c.skip(2)  # continuousUpdate, referencePriceType
    trail_stop, trailing_pct = c.number(), c.number()
    c.skip(2)  # scaleInitLevelSize, scaleSubsLevelSize
    increment = c.number()
    if increment is not None and 0 < increment < UNSET_DOUBLE:
        c.skip(7)
    c.skip(3)  # scaleTable, activeStartTime, activeStopTime
    if c.text():  # hedgeType
        c.skip(1)
    c.skip(4)  # optOutSmartRouting, clearingAccount, clearingIntent, notHeld
    if c.flag():  # deltaNeutralContract
        c.skip(3)
    if c.text():  # algoStrategy
        c.skip(2 * c.count())
    c.skip(1)  # algoId
    what_if = c.flag()
    c.skip(4)  # orderMiscOptions, solicited, randomizeSize, randomizePrice
    if order_type in ("PEG BENCH", "PEGBENCH"):
        c.skip(5)
    conditions = c.count()
    lmt_offset = None
    if conditions == 0:  # conditions are variable-length per type; the simulator refuses them
        c.skip(2)  # adjustedOrderType, triggerPrice
        lmt_offset = c.number()
    return OrderRequest(action=action, qty=qty, order_type=order_type, lmt=lmt, aux=aux, tif=tif,
                        account=account, order_ref=order_ref, oca_group=oca_group, oca_type=oca_type,
                        transmit=transmit, parent_id=parent_id, outside_rth=outside_rth, good_till=good_till,
                        trail_stop=trail_stop, trailing_pct=trailing_pct, lmt_offset=lmt_offset, what_if=what_if,
                        conditions=conditions)
