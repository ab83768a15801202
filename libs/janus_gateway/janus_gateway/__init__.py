"""The gateway kernel: everything a Janus broker gateway does that does not depend on the broker.

A broker plugs in as a :class:`~janus_gateway.adapter.BrokerAdapter` that only translates: it
connects, places and cancels, and reports what the broker says as broker-neutral reports. The
kernel owns the connection lifecycle, the order book (rebuilt from EVENTS), the events' ids, the
account publisher, the RPCs and the safety rules (poison quarantine, stale routes, cancels that
never wait behind places).
"""
