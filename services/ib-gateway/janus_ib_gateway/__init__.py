"""The IB gateway: one IB account alias, through ib_async, on NATS."""
