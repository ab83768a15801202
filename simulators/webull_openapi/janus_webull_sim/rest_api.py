"""The Webull OpenAPI REST surface: route a verified request to the engine and shape the answer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from janus_webull_sim.engine import Engine
from janus_webull_sim.errors import BadRequest, NotFound, SimError
from janus_webull_sim.tokens import TokenStore

STOCK_CATEGORIES = ("US_STOCK", "US_ETF")
MAX_PAGE = 100


@dataclass(frozen=True)
class ApiRequest:
    method: str
    path: str
    version: str  # x-version: v2 / v3 select the pagination protocol of open orders
    query: dict[str, str]
    body: Any  # parsed JSON, or None for GET
    access_token: str | None


def _symbols(query: dict[str, str]) -> list[str]:
    raw = query.get("symbols", "")
    symbols = [s.strip() for s in raw.split(",") if s.strip()]
    if not symbols:
        raise BadRequest("symbols is required")
    if len(symbols) > MAX_PAGE:
        raise BadRequest(f"at most {MAX_PAGE} symbols per request")
    category = query.get("category")
    if category not in STOCK_CATEGORIES:
        raise BadRequest(f"category must be one of {', '.join(STOCK_CATEGORIES)}")
    return symbols


def _page_size(query: dict[str, str], default: int = 10) -> int:
    raw = query.get("page_size")
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise BadRequest(f"page_size must be an integer from 1 to {MAX_PAGE}")
    return int(raw)


def _body(req: ApiRequest) -> dict[str, Any]:
    if not isinstance(req.body, dict):
        raise BadRequest("the request body must be a JSON object")
    return req.body


class RestApi:
    def __init__(self, engine: Engine, tokens: TokenStore, *, token_check_enabled: bool):
        self._engine = engine
        self._tokens = tokens
        self._token_check = token_check_enabled
        get, post = "GET", "POST"
        self._routes: dict[tuple[str, str], Callable[[ApiRequest], Any]] = {
            (get, "/openapi/config"): lambda r: {"token_check_enabled": self._token_check},
            (post, "/auth/tokens/create"): self._token_create,
            (post, "/auth/tokens/check"): self._token_check_call,
            (get, "/trading/accounts/list"): self._accounts,
            (get, "/trading/assets/balances/get"): lambda r: engine.balance(r.query.get("account_id", "")),
            (get, "/trading/assets/positions/list"): lambda r: engine.positions(r.query.get("account_id", "")),
            (get, "/trading/instruments/stocks/profiles/list"): self._instruments,
            (get, "/market-data/stocks/snapshots/list"): lambda r: engine.snapshot(_symbols(r.query)),
            (post, "/trading/orders/place"): lambda r: engine.place(
                _body(r).get("account_id"), _body(r).get("new_orders"), _body(r).get("client_combo_order_id")),
            (post, "/trading/orders/replace"): lambda r: engine.replace(_body(r).get("account_id"), _body(r).get("modify_orders")),
            (post, "/trading/orders/cancel"): lambda r: engine.cancel(_body(r).get("account_id"), _body(r).get("client_order_id")),
            (get, "/trading/orders/get"): self._order_detail,
            (get, "/trading/orders/open-orders/list"): self._open_orders,
        }
        self._public = {"/openapi/config", "/auth/tokens/create", "/auth/tokens/check"}

    def handle(self, req: ApiRequest) -> tuple[int, Any]:
        try:
            route = self._routes.get((req.method, req.path))
            if route is None:
                if any(path == req.path for _, path in self._routes):
                    raise SimError(f"{req.method} not allowed on {req.path}", error_code="METHOD_NOT_ALLOWED", status=405)
                raise NotFound(f"no such API: {req.path}")
            if self._token_check and req.path not in self._public:
                self._tokens.require(req.access_token, self._engine.now_ms())
            return 200, route(req)
        except SimError as exc:
            return exc.status, exc.body()

    def _token_create(self, req: ApiRequest) -> Any:
        return self._tokens.create(_body(req).get("token"), self._engine.now_ms()).body()

    def _token_check_call(self, req: ApiRequest) -> Any:
        return self._tokens.check(_body(req).get("token"), self._engine.now_ms()).body()

    def _accounts(self, req: ApiRequest) -> Any:
        return [
            {
                "user_id": a.config.user_id, "account_id": a.account_id,
                "account_number": a.config.account_number, "account_type": a.config.account_type,
                "account_class": a.config.account_class, "account_label": a.config.account_label,
            }
            for a in self._engine.accounts.values()
        ]

    def _instruments(self, req: ApiRequest) -> Any:
        out = []
        for sym in _symbols(req.query):
            inst = self._engine.instruments.get(sym)
            if inst is not None:
                out.append({
                    "symbol": inst.symbol, "instrument_id": inst.instrument_id, "name": inst.name,
                    "exchange_code": inst.exchange_code, "currency": inst.currency,
                    "instrument_type": "EQUITY", "market": "US", "category": "US_STOCK",
                    "shortable": inst.shortable,
                })
        return out

    def _order_detail(self, req: ApiRequest) -> Any:
        return self._engine.order(req.query.get("account_id", ""), req.query.get("client_order_id", "")).group_json()

    def _open_orders(self, req: ApiRequest) -> Any:
        orders = self._engine.open_orders(req.query.get("account_id", ""))
        ids = [o.client_order_id for o in orders]
        if req.version == "v2":
            # Legacy paging: page_size and the last client order id of the previous page.
            size = _page_size(req.query)
            start = self._after(ids, req.query.get("last_client_order_id"))
            return [o.group_json() for o in orders[start:start + size]]
        # v3: fixed pages; pagination_key is returned only while more pages follow.
        size = 10
        start = self._after(ids, req.query.get("pagination_key"))
        page = orders[start:start + size]
        body: dict[str, Any] = {"orders": [o.group_json() for o in page]}
        if start + size < len(orders):
            body["pagination_key"] = page[-1].client_order_id
        return body

    @staticmethod
    def _after(ids: list[str], last: str | None) -> int:
        if not last:
            return 0
        if last not in ids:
            raise BadRequest("the pagination key is unknown or its order is no longer open",
                             error_code="INVALID_PAGINATION_KEY")
        return ids.index(last) + 1
