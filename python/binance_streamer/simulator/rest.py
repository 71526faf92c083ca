"""REST endpoints: depth snapshots, exchangeInfo, ping, time, aggTrades, klines.

Request weights follow the USDⓈ-M documentation. The ``X-MBX-USED-WEIGHT-1M``
window is the *simulated* UTC minute (the exchange resets on the clock minute
and a client calibrates against ``/fapi/v1/time``, which reports simulated
time), so with ``clock_speed=60`` it resets every host second. Over the limit:
429 with ``Retry-After`` (host seconds to the next simulated minute); after
``ban_after_429`` such refusals in one window: 418 for ``ban_seconds`` of
simulated time. Refused requests still cost weight, as on the exchange.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from aiohttp import web

from . import payloads
from .exchange_info import exchange_info
from .klines import INTERVALS, Bar
from .market import Trade
from .truth import RestRecord, SnapshotRecord

if TYPE_CHECKING:
    from .server import SimServer

__all__ = ["DEPTH_WEIGHTS", "RestApi", "WeightLimiter"]

DEPTH_WEIGHTS = {5: 2, 10: 2, 20: 2, 50: 2, 100: 5, 500: 10, 1000: 20}
_JSON = "application/json"
Body = Union[dict[str, Any], list[Any], str]


class ApiError(Exception):
    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


class WeightLimiter:
    """Per-IP request weight over the simulated minute (the simulator has one IP)."""

    def __init__(self, server: SimServer) -> None:
        cfg = server.config
        self.clock = server.clock
        self.limit = cfg.weight_limit
        self.ban_after_429 = cfg.ban_after_429
        self.ban_ms = int(cfg.ban_seconds * 1000)
        self.window = -1
        self.used = 0
        self.refused = 0
        self.banned_until_ms = 0

    def charge(self, weight: int) -> Optional[tuple[int, Body, float]]:
        """Add ``weight``; return (status, body, retry_after_s) when refused."""
        now = self.clock.now_ms()
        minute = now // 60_000
        if minute != self.window:
            self.window, self.used, self.refused = minute, 0, 0
        self.used += weight
        if now < self.banned_until_ms:
            return 418, self._ban_body(), self._host_s(self.banned_until_ms - now)
        if self.used <= self.limit:
            return None
        if self.refused >= self.ban_after_429:
            self.banned_until_ms = now + self.ban_ms
            return 418, self._ban_body(), self._host_s(self.ban_ms)
        self.refused += 1
        body = {
            "code": -1003,
            "msg": f"Too many requests; current limit of IP(127.0.0.1) is {self.limit} "
            "requests per minute. Please use the websocket for live updates to avoid "
            "polling the API.",
        }
        return 429, body, self._host_s((minute + 1) * 60_000 - now)

    def _ban_body(self) -> dict[str, Any]:
        return {
            "code": -1003,
            "msg": f"Way too many requests; IP(127.0.0.1) banned until {self.banned_until_ms}. "
            "Please use the websocket for live updates to avoid bans.",
        }

    def _host_s(self, sim_ms: float) -> float:
        return max(1.0, math.ceil(self.clock.real_seconds(sim_ms)))


def _error_body(status: int) -> dict[str, Any]:
    if status == 429:
        return {"code": -1003, "msg": "Too many requests; please use the websocket."}
    if status == 418:
        return {"code": -1003, "msg": "Way too many requests; IP(127.0.0.1) banned."}
    if status >= 500:
        return {
            "code": -1001,
            "msg": "Internal error; unable to process your request. Please try again.",
        }
    return {"code": -1000, "msg": "An unknown error occurred while processing the request."}


def _peer(request: web.Request) -> str:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return f"{peer[0]}:{peer[1]}" if peer else "?"


def _int_param(request: web.Request, name: str, default: Optional[int] = None) -> Optional[int]:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or len(raw) > 20:
        raise ApiError(
            400,
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.",
        )
    return int(raw)


class RestApi:
    def __init__(self, server: SimServer) -> None:
        self.server = server
        self.limiter = WeightLimiter(server)

    def routes(self) -> list[web.RouteDef]:
        ep = self._endpoint
        return [
            web.get("/fapi/v1/ping", ep(lambda r: 1, self._ping)),
            web.get("/fapi/v1/time", ep(lambda r: 1, self._time)),
            web.get("/fapi/v1/exchangeInfo", ep(lambda r: 1, self._exchange_info)),
            web.get("/fapi/v1/depth", ep(self._depth_weight, self._depth)),
            web.get("/fapi/v1/aggTrades", ep(lambda r: 20, self._agg_trades)),
            web.get("/fapi/v1/klines", ep(self._klines_weight, self._klines)),
        ]

    def _endpoint(
        self,
        weight_of: Callable[[web.Request], int],
        handler: Callable[[web.Request], Any],
    ) -> Callable[[web.Request], Any]:
        async def serve(request: web.Request) -> web.Response:
            faults = self.server.fault_state
            refusal = self.limiter.charge(weight_of(request))
            status, body, retry_after = 200, None, None
            if refusal is not None:
                status, body, retry_after = refusal
            else:
                forced = faults.take_forced(request.path)
                faults.rest_requests += 1
                every = faults.rest_error_every
                if forced is not None:
                    status, body, retry_after = forced.status, None, forced.retry_after
                elif every and faults.rest_requests % every == 0:
                    status, body = faults.rest_error_status, None
            if status == 200:
                try:
                    body = await handler(request)
                except ApiError as err:
                    status, body = err.status, {"code": err.code, "msg": err.msg}
            elif body is None:
                body = _error_body(status)
            headers = {"X-MBX-USED-WEIGHT-1M": str(self.limiter.used)}
            retry_s = None if retry_after is None else int(math.ceil(retry_after))
            if retry_s is not None:
                headers["Retry-After"] = str(retry_s)
            self.server.truth.rest_log.append(
                RestRecord(
                    time.time(),
                    self.server.clock.now_ms(),
                    request.path_qs,
                    status,
                    self.limiter.used,
                    retry_s,
                    _peer(request),
                )
            )
            text = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))
            return web.Response(text=text, status=status, content_type=_JSON, headers=headers)

        return serve

    def _symbol(self, request: web.Request) -> str:
        symbol = request.query.get("symbol")
        if not symbol:
            raise ApiError(
                400,
                -1102,
                "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
            )
        if symbol not in self.server.engine.by_symbol:
            raise ApiError(400, -1121, "Invalid symbol.")
        return symbol

    async def _ping(self, request: web.Request) -> Body:
        return {}

    async def _time(self, request: web.Request) -> Body:
        return {"serverTime": self.server.clock.now_ms()}

    async def _exchange_info(self, request: web.Request) -> Body:
        engine, cfg = self.server.engine, self.server.config
        ins = [st.instrument for st in engine.states]
        return exchange_info(ins, self.server.clock.now_ms(), cfg.weight_limit)

    # -- depth ------------------------------------------------------------------

    @staticmethod
    def _depth_weight(request: web.Request) -> int:
        raw = request.query.get("limit", "500")
        return DEPTH_WEIGHTS.get(int(raw), 2) if raw.isdigit() and len(raw) < 10 else 2

    async def _depth(self, request: web.Request) -> Body:
        symbol = self._symbol(request)
        limit = _int_param(request, "limit", 500)
        if limit not in DEPTH_WEIGHTS:
            raise ApiError(400, -4021, "Invalid depth limit.")
        server, faults = self.server, self.server.fault_state
        faults.snapshots_served += 1
        stale = faults.take_stale(symbol) or bool(
            faults.stale_every and faults.snapshots_served % faults.stale_every == 0
        )
        take = server.engine.stale_snapshot if stale else server.engine.snapshot
        last_id, engine_ms, bids, asks = take(symbol, limit)
        event_ms = max(server.clock.now_ms(), engine_ms)
        ins = server.engine.by_symbol[symbol].instrument
        text = payloads.depth_snapshot(ins, last_id, event_ms, engine_ms, bids, asks)
        record = SnapshotRecord(
            symbol,
            limit,
            last_id,
            event_ms,
            engine_ms,
            time.time(),
            stale,
            _peer(request),
            json.loads(text),
        )
        truth = server.truth
        with truth.lock:
            truth.symbols[symbol].snapshots.append(record)
        delay = faults.take_delay()
        if delay:
            await asyncio.sleep(delay)
        return text

    # -- backfill endpoints -----------------------------------------------------

    async def _agg_trades(self, request: web.Request) -> Body:
        symbol = self._symbol(request)
        limit = _int_param(request, "limit", 500) or 500
        if limit > 1000:
            raise ApiError(400, -1130, "Data sent for parameter 'limit' is not valid.")
        from_id = _int_param(request, "fromId")
        start, end = _int_param(request, "startTime"), _int_param(request, "endTime")
        if start is not None and end is not None and end - start > 3_600_000:
            raise ApiError(400, -1127, "More than 1 hours between startTime and endTime.")
        st = self.server.engine.by_symbol[symbol]
        with self.server.truth.lock:
            rows = st.truth.trades.rows()
        if from_id is not None:
            rows = [r for r in rows if r[0] >= from_id][:limit]
        elif start is not None or end is not None:
            lo, hi = start or 0, end if end is not None else 1 << 62
            rows = [r for r in rows if lo <= r[6] <= hi][:limit]
        else:
            rows = rows[-limit:]
        ins = st.instrument
        return [
            payloads.agg_trade_rest(ins, Trade(a, p, q, f, last, bool(m)), t_ms)
            for a, p, q, f, last, m, t_ms, _e in rows
        ]

    @staticmethod
    def _klines_weight(request: web.Request) -> int:
        raw = request.query.get("limit", "500")
        limit = int(raw) if raw.isdigit() and len(raw) < 10 else 500
        return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10

    async def _klines(self, request: web.Request) -> Body:
        symbol = self._symbol(request)
        interval = request.query.get("interval", "")
        if interval not in INTERVALS:
            raise ApiError(400, -1120, "Invalid interval.")
        limit = _int_param(request, "limit", 500) or 500
        if limit > 1500:
            raise ApiError(400, -1130, "Data sent for parameter 'limit' is not valid.")
        start, end = _int_param(request, "startTime"), _int_param(request, "endTime")
        st = self.server.engine.by_symbol[symbol]
        bars: list[Bar] = st.kbook.bars(interval)
        if start is not None:
            bars = [b for b in bars if b.open_ms >= start]
        if end is not None:
            bars = [b for b in bars if b.open_ms <= end]
        bars = bars[:limit] if start is not None else bars[-limit:]
        return [payloads.kline_rest(st.instrument, b) for b in bars]
