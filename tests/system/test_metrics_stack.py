"""`make run`'s stack (janus-run, shipped config on free ports): every service serves its own
Prometheus endpoint, `janus status` says where, and one order through the router and the IB
gateway on the simulator moves the intent, broker and fill figures an operator graphs."""

from __future__ import annotations

import json

import pytest

from cli_runner import janus
from metrics_scrape import exposition, names, scrape, scrape_until, value
from stack_runner import start_stack, stop_stack

pytestmark = pytest.mark.system

EXPECTED = {  # service → a janus_ metric only it serves (every one also serves the consumers')
    "janus-router": "janus_intents_total",
    "janus-registry": "janus_registry_cache_hits_total",
    "janus-pricer": "janus_pricer_valuations_total",
    "janus-ib-gateway": "janus_gateway_connected",
    "janus-webull-gateway": "janus_gateway_connected",
    "janus-paper-gateway": "janus_gateway_connected",
    "janus-web": "janus_web_browsers",
}


async def test_every_service_serves_metrics_and_an_order_moves_them(tmp_path):
    stack = await start_stack(tmp_path)
    url = stack.nats_url
    try:
        ports = stack.config["metrics"]["ports"]
        summary = stack.summary["processes"]
        assert summary["router"]["metrics"] == f"http://127.0.0.1:{ports['router']}/metrics"
        assert summary["gateway-ib-1"]["metrics"] == f"http://127.0.0.1:{ports['accounts']['ib-1']}/metrics"
        assert "metrics http://127.0.0.1:" in stack.tail(40)  # make run's printed summary

        code, out = await janus(url, "--json", "status", "--window", "1")
        assert code == 0, out
        services = [s for s in json.loads(out) if s["name"] != "janus-supervisor"]
        urls = {(s["name"], s["metadata"].get("account")): s["metadata"]["metrics"] for s in services}
        assert urls[("janus-router", None)] == summary["router"]["metrics"]
        assert urls[("janus-ib-gateway", "ib-1")] == summary["gateway-ib-1"]["metrics"]
        assert {name for name, _ in urls} == set(EXPECTED)
        code, text = await janus(url, "status", "--window", "1")
        assert f"metrics={summary['pricer']['metrics']}" in text

        for (name, account), where in urls.items():
            samples = await scrape(where)
            assert EXPECTED[name] in names(samples), (name, where)
            if name != "janus-web":  # the console reads EVENTS with ordered consumers of its own
                assert any(n.startswith("janus_consumer_") for n in names(samples)), name
            if account is not None:
                broker = name.split("-")[1]
                assert value(samples, "janus_gateway_connected", account=account, broker=broker) == 1, account

        router, gateway, registry = urls[("janus-router", None)], urls[("janus-ib-gateway", "ib-1")], \
            urls[("janus-registry", None)]
        before = {where: await scrape(where) for where in (router, gateway, registry)}
        code, out = await janus(url, "--json", "order", "--account", "ib-1", "BUY", "AAPL", "10",
                                "--type", "MARKET", "--wait", "--timeout", "60", timeout=90)
        assert code == 0 and json.loads(out.splitlines()[-1])["status"] == "FILLED", out

        def moved(samples, where, name, **labels):
            return value(samples, name, **labels) - value(before[where], name, **labels)

        routed = dict(account="ib-1", outcome="routed", reason="")
        after = await scrape_until(router, lambda s: moved(s, router, "janus_intents_total", **routed) == 1)
        assert moved(after, router, "janus_intents_total", **routed) == 1
        assert moved(after, router, "janus_intent_decision_seconds_count", kind="order", outcome="routed") == 1
        ib = dict(account="ib-1", broker="ib")
        after = await scrape_until(gateway, lambda s: moved(s, gateway, "janus_fills_total", **ib) >= 1)
        assert moved(after, gateway, "janus_fills_total", **ib) >= 1
        assert moved(after, gateway, "janus_orders_placed_total", **ib) == 1
        assert moved(after, gateway, "janus_broker_place_seconds_count", **ib) == 1
        assert value(after, "janus_consumer_handled_total", stream="ROUTES", durable="ib-gateway-ib-1") >= 1
        after = await scrape(registry)
        assert moved(after, registry, "janus_registry_cache_hits_total") \
            + moved(after, registry, "janus_registry_cache_misses_total") >= 1  # the router resolved AAPL
        # ib-1 now holds AAPL: the pricer subscribes to its quotes and values the account
        pricer = urls[("janus-pricer", None)]
        after = await scrape_until(pricer, lambda s: value(s, "janus_pricer_valuation_lag_seconds_count") >= 1,
                                   timeout=30)
        assert value(after, "janus_pricer_ticks_total", kind="tick") >= 1
        assert value(after, "janus_pricer_valuations_total") >= 1
        assert value(after, "janus_pricer_valuation_lag_seconds_count") >= 1
        print("\n".join(line for line in (await exposition(router) + await exposition(gateway)).splitlines()
                        if 'account="ib-1"' in line and ("_total" in line or "_count" in line)))
    finally:
        code = await stop_stack(stack, 15)
    assert code == 0, stack.tail()

