"""The web console in a real browser (Debian's chromium, headless, driven by Playwright) against
`make run`'s supervisor on free ports: the shipped configuration, both simulators, every
service and janus-web. One stack for the module; each test waits on page conditions
(Playwright's auto-waiting ``expect``), never on sleeps.

Also here, because it needs the same stack: `janus positions` right after `janus order --wait`
prints a fill lists the position (positions_view.merge), before any valuation exists."""

from __future__ import annotations

import asyncio
import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import pytest_asyncio
from nats import connect as nats_connect

from cli_runner import janus
from janus_client.client import JanusClient
from janus_common import bus, subjects
from janus_common import messages as m
from stack_runner import JANUS_RUN, ROOT, admin_post, start_stack

CHROMIUM = "/usr/bin/chromium"
SCREENSHOT = "/tmp/janus-console.png"
EXAMPLE = ROOT / "config.yaml.example"

pytestmark = [pytest.mark.system, pytest.mark.asyncio(loop_scope="module")]

if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} missing: `make setup` as root installs Debian's chromium", allow_module_level=True)

from playwright.async_api import Page, async_playwright, expect  # noqa: E402  (after the skip)

expect.set_options(timeout=30_000)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def stack(tmp_path_factory):
    # start_stack points JANUS_NATS_CREDS at this stack's operator; a module-scoped stack is set
    # up before any test's own restore, so the suite's credentials are given back here.
    suite_creds = os.environ.get("JANUS_NATS_CREDS")
    stack = await start_stack(tmp_path_factory.mktemp("web"))
    try:
        yield stack
    finally:
        stack.proc.terminate()
        await asyncio.wait_for(stack.proc.wait(), 30)
        stack.drain.cancel()
        if suite_creds is None:
            os.environ.pop("JANUS_NATS_CREDS", None)
        else:
            os.environ["JANUS_NATS_CREDS"] = suite_creds


@pytest.fixture(autouse=True)
def _operator(stack, monkeypatch):
    # The stack's own server knows only its own identities: the CLI and the client act as its operator.
    monkeypatch.setenv("JANUS_NATS_CREDS", str(Path(stack.summary["credentials"]) / "operator.nk"))


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser():
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield chromium
        await chromium.close()


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser, stack):
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    await page.goto(stack.console_url)
    await expect(page.locator("#status")).to_have_text("live")
    yield page
    await context.close()


def _lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def _position(page: Page, account: str, symbol: str):
    return page.locator(f'tr.position[data-account="{account}"][data-symbol="{symbol}"]')


async def _order(stack, *args: str) -> dict:
    code, out = await janus(stack.nats_url, "--json", "order", *args, "--wait", "--timeout", "60", timeout=90)
    assert code == 0, out
    final = _lines(out)[-1]
    assert final["status"] == "FILLED", final
    return final


async def test_janus_positions_right_after_a_fill_shows_the_position_and_so_does_the_page(stack, page):
    await _order(stack, "--account", "ib-1", "BUY", "AAPL", "10", "--type", "MARKET")
    # At once: the pricer may not have valued it yet; the broker's position is shown regardless.
    code, out = await janus(stack.nats_url, "positions", "--account", "ib-1", "--json")
    assert code == 0, out
    [account] = json.loads(out)
    [row] = [p for p in account["positions"] if p["symbol"] == "AAPL"]
    assert row["qty"] == 10 and row["valued"] in ("VALUED", "PENDING")
    code, table = await janus(stack.nats_url, "positions", "--account", "ib-1")
    assert code == 0 and "AAPL" in table and "10" in table, table

    row = _position(page, "ib-1", "AAPL")
    await expect(row.locator("td.qty")).to_have_text("10")
    # ... and once the pricer catches up, the valuation columns fill in, live.
    await expect(row).to_have_attribute("data-valued", "VALUED")
    await expect(row.locator("td.value")).not_to_have_text("-")


async def test_a_cancel_click_cancels_a_resting_order(stack, page):
    await admin_post(stack.config["simulators"]["admin_port"], "/price", {"symbol": "MSFT", "price": 400.0})
    async with await JanusClient.connect(stack.nats_url) as client:
        intent = m.OrderIntent(account="ib-1", symbol="MSFT", side=m.Side.BUY, order_type=m.OrderType.LIMIT,
                               qty=5, limit_price=390.0, tif=m.Tif.GTC)
        routed = await client.submit(intent, timeout=30)
        assert isinstance(routed, m.OrderRouted), routed
        row = page.locator(f'tr.order[data-intent="{intent.intent_id}"]')
        await expect(row.locator("td.order-status")).to_have_text("SUBMITTED")
        await row.locator("button.cancel").click()
        await expect(row).to_have_count(0)  # it left the working list
        await page.locator("#filter-intent").fill(intent.intent_id)
        await expect(page.locator('#events tr.event[data-kind="OrderCancelled"]')).to_have_count(1)
        await expect(page.locator("#events tr.event")).not_to_have_count(0)
        final = await client.wait_terminal("ib-1", intent.intent_id, timeout=10)
        assert isinstance(final, m.OrderCancelled) or final.status is m.OrderState.CANCELLED, final
        # The order's link leads to its whole history.
        await page.locator(f'#events tr.event[data-kind="OrderCancelled"] a.history').click()
        await expect(page.locator('tr.history-event[data-kind="OrderRouted"]')).to_have_count(1)
        await expect(page.locator('tr.history-event[data-kind="OrderCancelled"]')).to_have_count(1)


async def test_a_halt_click_refuses_the_next_intent_and_resume_lifts_it(stack, page):
    box = page.locator('div.account[data-account="ib-2"]')
    await box.locator("button.halt").click()
    await expect(box.locator(".trading-state")).to_have_text("HALTED")
    async with await JanusClient.connect(stack.nats_url) as client:
        intent = m.OrderIntent(account="ib-2", symbol="AAPL", side=m.Side.BUY, order_type=m.OrderType.MARKET, qty=1)
        refused = await client.submit(intent, timeout=30)
        assert isinstance(refused, m.OrderRejected) and refused.reason is m.RejectReason.ACCOUNT_HALTED, refused
        await page.locator("#filter-account").select_option("ib-2")
        await page.locator("#filter-kind").fill("OrderRejected")
        await expect(page.locator(f'#events tr.event[data-intent="{intent.intent_id}"]')).to_have_count(1)
        await box.locator("button.resume").click()
        await expect(box.locator(".trading-state")).to_have_text("ACTIVE")
        assert await client.trading_state("ib-2") is m.TradingState.ACTIVE


def _call(url: str, body: bytes | None = None, content_type: str = "application/json") -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type},
                                     method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def test_bad_input_gets_a_clear_error_and_the_console_carries_on(stack, page):
    base = stack.console_url
    cases = [
        (f"{base}/api/cancel", json.dumps({"account": "nope", "intent_id": "x"}).encode(), 404, "UNKNOWN_ACCOUNT"),
        (f"{base}/api/cancel", json.dumps({"account": "ib-1", "intent_id": "a b/../c"}).encode(), 400, "MALFORMED_ID"),
        (f"{base}/api/halt", json.dumps({"account": 5}).encode(), 400, "MALFORMED_ACCOUNT"),
        (f"{base}/api/halt", b"{not json", 400, "MALFORMED_JSON"),
        (f"{base}/api/events?intent=%00", None, 400, "MALFORMED_ID"),
        (f"{base}/api/orders/ib-1/no-such-intent", None, 404, "UNKNOWN_ORDER"),
    ]
    for url, body, status, reason in cases:
        got = await asyncio.to_thread(_call, url, body)
        assert got[0] == status and got[1]["error"] == reason, (url, got)
    form = await asyncio.to_thread(_call, f"{base}/api/resume", b"account=ib-1", "application/x-www-form-urlencoded")
    assert form[0] == 415 and form[1]["error"] == "JSON_REQUIRED"
    await expect(page.locator("#status")).to_have_text("live")
    status, state = await asyncio.to_thread(_call, f"{base}/api/state")
    assert status == 200 and {a["account"] for a in state["accounts"]} >= {"ib-1", "ib-2", "wb-1", "paper-1"}
    assert {s["name"] for s in state["services"]} >= {"janus-router", "janus-pricer", "janus-web"}


async def test_screenshot_of_positions_on_ib_1_and_wb_1(stack, page):
    await _order(stack, "--account", "wb-1", "BUY", "AAPL", "5", "--type", "MARKET")
    for account in ("ib-1", "wb-1"):
        await expect(_position(page, account, "AAPL")).to_have_attribute("data-valued", "VALUED")
    await expect(page.locator("#services tr.service")).not_to_have_count(0)
    await page.screenshot(path=SCREENSHOT, full_page=True)
    assert os.path.getsize(SCREENSHOT) > 10_000


async def test_with_nats_down_the_page_says_so_and_recovers(browser, tmp_path):
    """janus-web on a NATS of its own, which is stopped and started again under it."""
    from janus_common.embedded import EmbeddedNats, free_port

    nats = EmbeddedNats(tmp_path / "nats", port=free_port())
    await asyncio.to_thread(nats.start)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("JANUS_NATS_URL", "JANUS_NATS_CREDS", "JANUS_CONFIG")}
    web = await asyncio.create_subprocess_exec(
        str(Path(JANUS_RUN).parent / "janus-web"), "--config", str(EXAMPLE), "--nats-url", nats.url,
        "--port", str(port), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)

    async def until_serving() -> None:  # its log says when it serves (after it listens)
        while b'"service_ready"' not in (line := await web.stdout.readline()):
            assert line, "janus-web exited before it was ready"

    await asyncio.wait_for(until_serving(), 30)
    drain = asyncio.create_task(web.stdout.read())  # keep reading: a full pipe would block it
    context = await browser.new_context()
    try:
        page = await context.new_page()
        status = page.locator("#status")
        await page.goto(f"http://127.0.0.1:{port}/")
        await expect(status).to_have_text("live")
        await asyncio.to_thread(nats.stop)
        await expect(status).to_have_attribute("data-state", "nats-down")
        await expect(status).to_contain_text("reconnecting")
        await asyncio.to_thread(nats.start)
        await expect(status).to_have_text("live")
        assert web.returncode is None
        # ... and what happens after the outage reaches the page: its EVENTS reader resumed.
        nc = await nats_connect(nats.url)
        try:
            await bus.publish(nc.jetstream(), subjects.evt_position("ib-2"), m.PositionSnapshot(
                account="ib-2", broker=m.Broker.IB,
                positions=[m.Position(symbol="IBM", asset_class="EQUITY", qty=3, avg_cost=250.0)]))
        finally:
            await nc.close()
        await expect(_position(page, "ib-2", "IBM").locator("td.qty")).to_have_text("3")
    finally:
        await context.close()
        web.terminate()
        await asyncio.wait_for(web.wait(), 15)
        drain.cancel()
        await asyncio.to_thread(nats.stop)
