"""The admin HTTP interface under ``/_sim/`` on the API port (unsigned; bind to loopback)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from janus_webull_sim.errors import BadRequest, NotFound, SimError

if TYPE_CHECKING:
    from janus_webull_sim.simulator import WebullSimulator


class AdminApi:
    def __init__(self, sim: WebullSimulator):
        self._sim = sim

    async def handle(self, method: str, name: str, body: Any) -> tuple[int, Any]:
        try:
            if not isinstance(body, dict):
                raise BadRequest("the body must be a JSON object")
            if method == "GET" and name == "state":
                return 200, self._sim.state()
            if method != "POST":
                raise NotFound(f"no admin endpoint {method} /_sim/{name}")
            return 200, self._post(name, body)
        except SimError as exc:
            return exc.status, exc.body()
        except (TypeError, ValueError, KeyError) as exc:
            return 400, {"error_code": "INVALID_PARAMETER", "message": str(exc)}

    def _post(self, name: str, body: dict[str, Any]) -> Any:
        sim = self._sim
        if name == "price":
            sim.set_price(body["symbol"], str(body["price"]))
            return {"symbol": body["symbol"], "price": sim.price(body["symbol"])}
        if name == "match":
            sim.match_now(bool(body.get("move_prices", False)))
            return {"ok": True}
        if name == "pause":
            sim.pause_matching(bool(body.get("paused", True)))
            return {"matching_paused": sim.matching_paused}
        if name == "end_of_day":
            return {"expired": sim.end_of_day()}
        if name == "session":
            return self._session(body)
        if name == "verify_tokens":
            sim.verify_tokens()
            return {"ok": True}
        if name == "scenario":
            return self._scenario(body)
        raise NotFound(f"no admin endpoint POST /_sim/{name}")

    def _session(self, body: dict[str, Any]) -> Any:
        sim, action = self._sim, body.get("action")
        if action == "close":
            return {"session": "closed", "expired": sim.close_session()}
        if action == "open":
            sim.open_session()
            return {"session": "open"}
        raise BadRequest(f"action must be \"open\" or \"close\", not {str(action)[:40]!r}")

    def _scenario(self, body: dict[str, Any]) -> Any:
        sim, scenario = self._sim, body.get("name")
        if scenario == "silent_stream":
            sim.silent_stream(True, pings=bool(body.get("pings", True)))
        elif scenario == "stream_restored":
            sim.silent_stream(False)
            sim.stream_up()
        elif scenario == "drop_stream":
            return {"dropped": sim.drop_stream(refuse_reconnect=bool(body.get("refuse_reconnect", False)))}
        elif scenario == "http_errors":
            sim.http_errors(int(body.get("status", 503)), int(body.get("count", 1)),
                            executed=bool(body.get("executed", False)))
        elif scenario == "slow_responses":
            count = body.get("count")
            sim.slow_responses(float(body["delay"]), int(count) if count is not None else None)
        elif scenario == "ping_interval":
            sim.set_ping_interval(float(body["seconds"]))
        elif scenario == "clear":
            sim.clear_faults()
        else:
            raise BadRequest(f"unknown scenario {scenario!r}")
        return {"faults": sim.faults.to_json()}
