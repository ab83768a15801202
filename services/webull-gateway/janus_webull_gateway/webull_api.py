"""The thin adapter over Webull's official SDK (webull-openapi-python-sdk 3.0.4).

Every method here BLOCKS (requests / grpc): the gateway calls them through ``asyncio.to_thread``.
The SDK's side effects are tamed once, before any client is built: its loggers go to a null
handler owned by us (no stdout logger, no ``webull_trade_sdk.log`` in the working directory, and
no error logs that dump signed headers), tokens live in a directory we choose, the events
client's ``print`` of its metadata and signature is silenced, and proxies are bypassed for the
configured hosts only by the process environment the operator controls.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable
from typing import Any

import grpc
from webull.core import request as core_request
from webull.core.client import ApiClient
from webull.core.exception.exceptions import ClientException, ServerException
from webull.core.http import protocol_type
from webull.core.retry.backoff_strategy import FixedDelayStrategy
from webull.core.retry.retry_condition import RetryCondition
from webull.core.retry.retry_policy import RetryPolicy
from webull.data.data_client import DataClient
from webull.trade import trade_events_client as _events_module
from webull.trade.events import events_pb2_grpc as pb_grpc
from webull.trade.trade_client import TradeClient
from webull.trade.trade_events_client import TradeEventsClient

from janus_common.config import WebullConnection

_SDK_LOGGERS = ("webull", "webull.core", "webull.trade", "webull.data")
_tamed = False


class _NullStream(io.TextIOBase):
    def write(self, s: str) -> int:
        return len(s)


_NULL_STREAM = _NullStream()


def _silence_loggers() -> None:
    # The SDK's error logs dump whole signed requests: they never reach any handler of ours.
    for name in _SDK_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers[:] = [logging.NullHandler()]
        logger.propagate = False
        logger.setLevel(logging.CRITICAL + 1)


def tame_sdk() -> None:
    """Process-wide, idempotent."""
    global _tamed
    if _tamed:
        return
    _silence_loggers()
    # The events client prints the gRPC metadata, signature included: never let that reach stdout.
    _events_module.print = lambda *args, **kwargs: None
    _tamed = True


class WebullError(Exception):
    """A failed Webull call, classified. ``retryable``: nothing was decided (429, 5xx, network);
    anything else is Webull's answer (a 4xx with its error code)."""

    def __init__(self, http_status: int | None, code: str, text: str) -> None:
        super().__init__(f"{http_status} {code}: {text}")
        self.http_status = http_status
        self.code = code
        self.text = text

    @property
    def retryable(self) -> bool:
        return self.http_status is None or self.http_status == 429 or self.http_status >= 500

    @property
    def not_found(self) -> bool:
        return self.http_status == 404


def _sdk_error(exc: ServerException | ClientException) -> WebullError:
    status = exc.get_http_status() if isinstance(exc, ServerException) else None
    return WebullError(status, str(exc.get_error_code() or "CLIENT"), str(exc.get_error_msg() or ""))


def _classified(fn: Callable[[], Any]) -> Any:
    try:
        res = fn()
    except (ServerException, ClientException) as exc:
        raise _sdk_error(exc) from None
    except (OSError, ValueError) as exc:
        raise WebullError(None, type(exc).__name__, str(exc)) from None
    try:
        return res.json()
    except ValueError:
        raise WebullError(None, "BAD_BODY", "Webull answered something that is not JSON") from None


class WebullApi:
    def __init__(self, conn: WebullConnection, token_dir: str, *, timeout: float = 10.0) -> None:
        tame_sdk()
        if not conn.tls:
            # Process-wide in the SDK; only ever turned on for a plain-HTTP endpoint (the simulator).
            core_request.set_default_protocol_type(protocol_type.HTTP)
        self.conn = conn
        self.api = ApiClient(conn.app_key, conn.app_secret, conn.region, port=conn.port or (443 if conn.tls else 80),
                             timeout=timeout, connect_timeout=timeout)
        self.api.add_endpoint(conn.region, conn.host)
        self.api.set_token_dir(token_dir)
        # TradeClient/DataClient add a stdout logger and ./webull_trade_sdk.log unless the client
        # says a logger is set: say so with a sink to nowhere, then take the loggers back.
        self.api.set_stream_logger(log_level=logging.CRITICAL, stream=_NULL_STREAM)
        _silence_loggers()
        self.account_id = conn.account_id or ""
        self.trade: TradeClient | None = None
        self.data: DataClient | None = None

    @property
    def trading(self) -> TradeClient:
        """The trade client; a retryable WebullError until :meth:`connect` has built it."""
        if self.trade is None:
            raise WebullError(None, "NOT_CONNECTED", "the Webull trade client is not built yet")
        return self.trade

    @property
    def market_data(self) -> DataClient:
        """The data client; a retryable WebullError until :meth:`connect` has built it."""
        if self.data is None:
            raise WebullError(None, "NOT_CONNECTED", "the Webull data client is not built yet")
        return self.data

    def connect(self) -> str:
        """Builds the clients (the SDK fetches /openapi/config, and tokens if asked) and checks
        the account; returns the account id."""
        self.trade = _classified_build(lambda: TradeClient(self.api))
        self.data = _classified_build(lambda: DataClient(self.api))
        accounts = _classified(lambda: self.trading.account_v2.get_account_list())
        ids = [a.get("account_id") for a in accounts or []]
        if not self.account_id:
            if not ids:
                raise WebullError(404, "ACCOUNT_NOT_FOUND", "no account behind these credentials")
            self.account_id = ids[0]
        elif self.account_id not in ids:
            raise WebullError(404, "ACCOUNT_NOT_FOUND", f"account {self.account_id} is not behind these credentials")
        return self.account_id

    # --- orders -------------------------------------------------------------------------
    def place(self, new_order: dict[str, Any]) -> dict[str, Any]:
        return _classified(lambda: self.trading.order_v3.place_order(self.account_id, [new_order]))

    def place_group(self, new_orders: list[dict[str, Any]]) -> Any:
        """Several orders in one place_order call (a one-cancels-the-other group)."""
        return _classified(lambda: self.trading.order_v3.place_order(self.account_id, new_orders))

    def replace(self, modify_order: dict[str, Any]) -> dict[str, Any]:
        """Modify a working order (``order_v3.replace_order``): ``modify_order`` names it by
        ``client_order_id`` and carries only what changes; the answer is ``{client_order_id,
        order_id}``, the same ids as before. A refusal is a non-retryable WebullError with
        Webull's code."""
        return _classified(lambda: self.trading.order_v3.replace_order(self.account_id, [modify_order]))

    def detail(self, coid: str) -> dict[str, Any] | None:
        try:
            return _classified(lambda: self.trading.order_v3.get_order_detail(self.account_id, coid))
        except WebullError as exc:
            if exc.not_found:
                return None
            raise

    def cancel(self, coid: str) -> dict[str, Any]:
        return _classified(lambda: self.trading.order_v3.cancel_order(self.account_id, coid))

    def open_orders(self) -> list[dict[str, Any]]:
        """Every open order group, all pages (v3 paging by pagination_key)."""
        groups: list[dict[str, Any]] = []
        key = None
        for _ in range(1000):
            body = _classified(lambda: self.trading.order_v3.list_order_open(self.account_id, pagination_key=key))
            groups.extend(body.get("orders") or [])
            key = body.get("pagination_key")
            if not key:
                break
        return groups

    # --- account ------------------------------------------------------------------------
    def positions(self) -> list[dict[str, Any]]:
        return _classified(lambda: self.trading.account_v2.get_account_position(self.account_id)) or []

    def balance(self) -> dict[str, Any]:
        return _classified(lambda: self.trading.account_v2.get_account_balance(self.account_id)) or {}

    def instruments(self, symbols: list[str], category: str = "US_STOCK") -> list[dict[str, Any]]:
        return _classified(lambda: self.market_data.instrument.list_instruments(symbols, category)) or []


def _classified_build(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except (ServerException, ClientException) as exc:
        raise _sdk_error(exc) from None
    except OSError as exc:
        raise WebullError(None, type(exc).__name__, str(exc)) from None


# The Webull SDK ships no types (its modules are Any to mypy), so its base class is Any.
class _NoRetry(RetryCondition):  # type: ignore[misc]
    def should_retry(self, ctx: Any) -> int:
        return RetryCondition.NO_RETRY


class EventStream:
    """One subscription of the trade-event stream on its own thread. The gateway's loop, not the
    SDK, decides about reconnecting (with backoff), so the SDK is told never to retry; our own
    channel lets ``close`` end a subscription that went silent."""

    def __init__(self, conn: WebullConnection, account_id: str, *, on_connect: Callable[[], None],
                 on_event: Callable[[dict[str, Any]], None], on_ping: Callable[[], None],
                 on_end: Callable[[str], None]) -> None:
        tame_sdk()
        self.client = TradeEventsClient(conn.app_key, conn.app_secret, conn.region,
                                        host=conn.grpc_host or conn.host, port=conn.grpc_port or 443,
                                        tls_enable=conn.tls,
                                        retry_policy=RetryPolicy(_NoRetry(), FixedDelayStrategy(0)))
        self.target = f"{conn.grpc_host or conn.host}:{conn.grpc_port or 443}"
        self.tls = conn.tls
        self.account_id = account_id
        self.closed = False
        self._channel: grpc.Channel | None = None

        def connected(_client: Any, _payload: Any, _resp: Any) -> None:
            on_connect()

        def message(_event_type: Any, _sub_type: Any, payload: Any, _resp: Any) -> None:
            if self.closed:
                raise RuntimeError("stream closed")  # ends the SDK's loop
            if isinstance(payload, dict):
                on_event(payload)

        def logged(_level: int, text: str) -> None:
            if "Ping" in text:
                on_ping()

        self.client.on_connect = connected
        self.client.on_events_message = message
        self.client.on_log = logged
        self._on_end = on_end
        self._thread = threading.Thread(target=self._run, name="webull-events", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        reason = "ended"
        try:
            if self.tls:
                self._channel = grpc.secure_channel(self.target, grpc.ssl_channel_credentials())
            else:
                self._channel = grpc.insecure_channel(self.target)
            with self._channel:
                # The SDK's own loop over our channel (do_subscribe would open a channel we cannot close).
                self.client._stream_processing(pb_grpc.EventServiceStub(self._channel), [self.account_id])
        except grpc.RpcError as exc:
            reason = f"grpc {exc.code().name if hasattr(exc, 'code') else 'error'}"
        except Exception as exc:  # noqa: BLE001 - reported to the loop, which reconnects
            reason = type(exc).__name__
        finally:
            self._on_end(reason)

    def close(self) -> None:
        self.closed = True
        if self._channel is not None:
            self._channel.close()
