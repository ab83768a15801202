"""The pricer's state and its handlers: the imperative shell around the pure core.

Ticks and bars arrive on core NATS (every message the MARKET stream stores is also delivered
there) and only update the cache and mark the holders pending; one flush task values the due
accounts, publishes them on ``janus.val.{account}`` and writes the latest valuation per
account and the latest price per symbol to KV. Nothing on the tick path waits on IO.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass

import msgspec
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from janus_common import subjects
from janus_common.messages import (
    MARKET_DATA,
    AccountValuation,
    MessageDecodeError,
    PositionSnapshot,
    Tick,
    encode,
)
from janus_common.streams import KV_PRICES, KV_VALUATIONS

from . import debounce, holdings, metrics, subscriptions
from .mdsub import MarketDataSubscriptions
from .quotes import NS, QUOTES, Quote, from_future, merge_bar, merge_quotes, merge_tick, quote_from_future
from .replay import is_kv_delete, last_per_subject
from .valuation import value_account

log = structlog.get_logger()

KV_CONCURRENCY = 64


@dataclass
class PricerStats:
    ticks: int = 0
    bars: int = 0
    decode_errors: int = 0
    mismatched: int = 0
    from_future: int = 0  # ticks and bars stamped beyond the allowed clock skew, refused
    valuations: int = 0
    kv_errors: int = 0
    restored_from_kv: int = 0
    restored_from_market: int = 0


class Pricer:
    def __init__(
        self,
        nc: NATS,
        js: JetStreamContext,
        *,
        debounce_ms: int = 250,
        stale_after_s: float = 60.0,
        max_clock_skew_s: float = 2.0,
        accounts: Iterable[str] | None = None,
        md: MarketDataSubscriptions | None = None,
    ) -> None:
        self.max_skew_ns = int(max_clock_skew_s * NS)
        self.nc = nc
        self.js = js
        self.window_ns = debounce_ms * 1_000_000
        self.stale_after_ns = int(stale_after_s * NS)
        self.accounts = frozenset(accounts) if accounts is not None else None
        self.md = md
        self.quotes: dict[str, Quote] = {}
        self.holdings: dict[str, PositionSnapshot] = {}
        self.holders: dict[str, frozenset[str]] = {}
        self.requested: dict[str, frozenset[str]] = {}
        self.debounce = debounce.Debounce(self.window_ns)
        self.due_since: dict[str, int] = {}  # account -> ts of the first tick it waits to be valued for
        self.dirty_quotes: set[str] = set()
        self.stats = PricerStats()
        self._wake = asyncio.Event()
        self._sub: Subscription | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._kv_prices: KeyValue | None = None
        self._kv_valuations: KeyValue | None = None
        self._stopped = False

    # --- start / stop ---------------------------------------------------------------

    async def start(self) -> None:
        """Subscribe to live market data first, then restore the cache from KV and the
        MARKET stream (merges are by time, so a live tick that overtakes the replay wins)."""
        self._kv_prices = await self.js.key_value(KV_PRICES)
        self._kv_valuations = await self.js.key_value(KV_VALUATIONS)
        self._sub = await self.nc.subscribe(subjects.ALL_MARKET_DATA, cb=self._on_market)
        await self._restore()
        self._flusher = asyncio.create_task(self._flush_loop(), name="pricer-flush")

    async def _restore(self) -> None:
        async for msg in last_per_subject(self.js, f"KV_{KV_PRICES}", f"$KV.{KV_PRICES}.>"):
            if is_kv_delete(msg):
                continue
            try:
                quote = QUOTES.decode(msg.data)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                log.error("kv_price_decode_error", error=type(exc).__name__, key=msg.subject,
                          reason=str(exc))
                continue
            if quote_from_future(quote, time.time_ns(), self.max_skew_ns):
                # frozen by a pricer that still took future ticks: let live prices replace it
                self.stats.from_future += 1
                log.error("kv_price_from_future", symbol=quote.symbol, ts=quote.ts)
                continue
            self.quotes[quote.symbol] = merge_quotes(self.quotes.get(quote.symbol), quote)
            self.stats.restored_from_kv += 1
        async for msg in last_per_subject(self.js, "MARKET", subjects.ALL_MARKET_DATA):
            if self._absorb(msg):
                self.stats.restored_from_market += 1
        log.info("price_cache_restored", symbols=len(self.quotes),
                 from_kv=self.stats.restored_from_kv, from_market=self.stats.restored_from_market)

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
        self._stopped = True
        self._wake.set()
        if self._flusher is not None:
            try:
                async with asyncio.timeout(5):
                    await self._flusher
            except TimeoutError:
                self._flusher.cancel()
        # prices the last window changed are kept for the next start; no valuation is sent
        # early, which would break the one-per-window promise
        with contextlib.suppress(Exception):
            await self._flush((), with_prices=True)
        log.info("pricer_stats", **vars(self.stats))

    # --- inputs ---------------------------------------------------------------------

    async def _on_market(self, msg: Msg) -> None:
        self._absorb(msg, live=True)

    def _absorb(self, msg: Msg, *, live: bool = False) -> bool:
        """Take one tick or bar into the cache; ``live`` (not the restore's replay) ones are
        counted in the metrics and start the valuation-lag clock of the accounts they touch."""
        try:
            data = MARKET_DATA.decode(msg.data, subject=msg.subject)
        except MessageDecodeError as exc:
            self.stats.decode_errors += 1
            log.error("market_data_decode_error", error="MessageDecodeError", family=exc.family,
                      subject=exc.subject, reason=exc.reason, size=exc.size)
            return False
        symbol = data.symbol
        if msg.subject.rpartition(".")[2] != symbol.replace(".", "~"):
            # a tick must be filed under the symbol its subject names, or the cache lies
            self.stats.mismatched += 1
            log.error("market_data_symbol_mismatch", subject=msg.subject, symbol=symbol)
            return False
        now = time.time_ns()
        if from_future(data, now, self.max_skew_ns):
            self.stats.from_future += 1
            log.error("market_data_from_future", error="FutureTimestamp", subject=msg.subject, symbol=symbol,
                      ts=data.ts, now=now, ahead_s=round((data.ts - now) / NS, 3),
                      max_skew_s=self.max_skew_ns / NS, refused=self.stats.from_future)
            return False
        old = self.quotes.get(symbol)
        if isinstance(data, Tick):
            self.stats.ticks += 1
            new = merge_tick(old, data)
        else:
            self.stats.bars += 1
            new = merge_bar(old, data)
        if live:
            metrics.MARKET_DATA.labels("tick" if isinstance(data, Tick) else "bar").inc()
        if new is old:
            return False
        self.quotes[symbol] = new
        if symbol not in self.dirty_quotes:
            self.dirty_quotes.add(symbol)
            self._wake.set()
        accounts = self.holders.get(symbol)
        if accounts:
            self._touch(accounts)
            for account in accounts if live else ():
                self.due_since.setdefault(account, data.ts)
        return True

    async def on_position(self, snapshot: PositionSnapshot, _msg: Msg | None = None) -> None:
        if self.accounts is not None and snapshot.account not in self.accounts:
            log.warning("unknown_account", account=snapshot.account,
                        error="UNKNOWN_ACCOUNT", event_id=snapshot.event_id)
            return
        self.holdings = holdings.apply_snapshot(self.holdings, snapshot)
        self.holders = holdings.holders(self.holdings)
        self._touch((snapshot.account,))
        self._update_wanted()

    def request_symbols(self, requester: str, symbols: frozenset[str]) -> None:
        """A client's standing interest (replaces its previous one; empty = none)."""
        if symbols:
            self.requested[requester] = symbols
        else:
            self.requested.pop(requester, None)
        self._update_wanted()

    def _update_wanted(self) -> None:
        if self.md is not None:
            self.md.want(subscriptions.wanted(holdings.symbols_needed(self.holdings), self.requested))

    def _touch(self, accounts: Iterable[str]) -> None:
        before = self.debounce
        self.debounce = debounce.touch(before, accounts)
        if self.debounce is not before:
            self._wake.set()

    # --- outputs --------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        prices_written = 0
        while not self._stopped:
            now = time.monotonic_ns()
            # prices nobody holds are written too, at most once a window
            price_due = prices_written + self.window_ns if self.dirty_quotes else None
            account_due = debounce.next_due(self.debounce)
            due_at = min((t for t in (price_due, account_due) if t is not None), default=None)
            if due_at is None or due_at > now:
                self._wake.clear()
                timeout = None if due_at is None else (due_at - now) / NS
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await self._wake.wait()
                continue
            due, self.debounce = debounce.take_due(self.debounce, now)
            with_prices = price_due is not None and price_due <= now
            if with_prices:
                prices_written = now
            try:
                await self._flush(due, with_prices=with_prices)
            except Exception:
                log.exception("flush_failed")

    def value(self, account: str, now: int | None = None) -> AccountValuation | None:
        snapshot = self.holdings.get(account)
        if snapshot is None:
            return None
        return value_account(account, snapshot.broker, snapshot.positions, self.quotes,
                             now=time.time_ns() if now is None else now,
                             stale_after_ns=self.stale_after_ns)

    async def _flush(self, due: Iterable[str], *, with_prices: bool = True) -> None:
        valuations: list[tuple[str, bytes]] = []
        now = time.time_ns()  # one instant per flush: snapshot times keep the window's spacing
        for account in sorted(due):
            valuation = self.value(account, now)
            if valuation is None:
                continue
            payload = encode(valuation)
            await self.nc.publish(subjects.val(account), payload)
            self.stats.valuations += 1
            metrics.VALUATIONS.inc()
            since = self.due_since.pop(account, None)
            if since is not None:
                metrics.VALUATION_LAG.observe(max(0, time.time_ns() - since) / NS)
            valuations.append((account, payload))
        dirty: set[str] = set()
        if with_prices:
            dirty, self.dirty_quotes = self.dirty_quotes, set()
        prices = [(s, encode(self.quotes[s])) for s in sorted(dirty)]
        if not valuations and not prices:
            return
        if self._kv_valuations is None or self._kv_prices is None:
            raise RuntimeError("the pricer has not started: no KV bucket to write to")
        puts = [(self._kv_valuations, key, value) for key, value in valuations]
        puts += [(self._kv_prices, key, value) for key, value in prices]
        for start in range(0, len(puts), KV_CONCURRENCY):
            chunk = puts[start:start + KV_CONCURRENCY]
            results = await asyncio.gather(*(kv.put(key, value) for kv, key, value in chunk),
                                           return_exceptions=True)
            for (kv, key, _), result in zip(chunk, results):
                if isinstance(result, BaseException):
                    self.stats.kv_errors += 1
                    log.warning("kv_put_failed", key=key, error=type(result).__name__)
                    # Not written (the bus away for a moment): written again by a later flush,
                    # with what is then current, rather than left stale until the next change.
                    if kv is self._kv_prices:
                        self.dirty_quotes.add(key)
                    else:
                        self._touch([key])
