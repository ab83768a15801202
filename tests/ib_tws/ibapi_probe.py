"""Runs under a venv holding IB's official `ibapi` (ibapi-stable): connect to the simulator,
qualify a contract, receive ticks; print one JSON line with what it saw. Used by the tests."""

import json
import sys
import threading

from ibapi.client import EClient
from ibapi.contract import Contract
from ibapi.wrapper import EWrapper


class Probe(EWrapper, EClient):
    def __init__(self):
        EClient.__init__(self, self)
        self.seen = {"next_id": None, "details": [], "ticks": 0, "errors": []}
        self.ready = threading.Event()
        self.details_done = threading.Event()
        self.ticked = threading.Event()

    def nextValidId(self, orderId):
        self.seen["next_id"] = orderId
        self.ready.set()

    def contractDetails(self, reqId, details):
        c = details.contract
        self.seen["details"].append({"conId": c.conId, "symbol": c.symbol, "primaryExchange": c.primaryExchange})

    def contractDetailsEnd(self, reqId):
        self.details_done.set()

    def tickPrice(self, reqId, tickType, price, attrib):
        self.seen["ticks"] += 1
        if self.seen["ticks"] >= 5:
            self.ticked.set()

    def error(self, reqId, *args):
        code = next((a for a in args if isinstance(a, int) and a > 100), None)
        if code is not None and not (2100 <= code < 2200):
            self.seen["errors"].append(code)


def main(port: int) -> None:
    app = Probe()
    app.connect("127.0.0.1", port, clientId=77)
    thread = threading.Thread(target=app.run, daemon=True)
    thread.start()
    ok = app.ready.wait(10)
    c = Contract()
    c.symbol, c.secType, c.exchange, c.currency = "AAPL", "STK", "SMART", "USD"
    app.reqContractDetails(1, c)
    ok = ok and app.details_done.wait(10)
    app.reqMktData(2, c, "", False, False, [])
    ok = ok and app.ticked.wait(10)
    app.seen["version"] = app.serverVersion()
    app.seen["ok"] = bool(ok)
    print(json.dumps(app.seen), flush=True)
    app.disconnect()


if __name__ == "__main__":
    main(int(sys.argv[1]))
