"""Stream names, routes and WebSocket paths, with Binance USDⓈ-M's routing rules.

Depth and bookTicker are served on ``/public``, aggTrade, kline and markPrice on
``/market``. The legacy unrouted paths (``/ws``, ``/stream``) behave like
``/public``. A stream that is malformed, names an unknown type or symbol, uses
an upper-case symbol, or sits on the wrong route is still acknowledged — it
simply never delivers, which is exactly what makes routing mistakes silent on
the real exchange and why the collector needs a staleness watchdog.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from .klines import INTERVALS

__all__ = [
    "DEPTH_SPEEDS",
    "PARTIAL_LEVELS",
    "ROUTES",
    "StreamSpec",
    "WsPath",
    "delivered_on",
    "parse_stream",
    "parse_ws_path",
]

PUBLIC, MARKET, LEGACY = "public", "market", "legacy"
ROUTES = (PUBLIC, MARKET)
DEPTH_SPEEDS: dict[str, int] = {"": 250, "@0ms": 0, "@100ms": 100, "@500ms": 500}
PARTIAL_LEVELS = (5, 10, 20)
_PARTIAL_SPEEDS: dict[str, int] = {"": 250, "@100ms": 100, "@500ms": 500}
_PARTIAL = re.compile(r"depth(5|10|20)(@100ms|@500ms)?")
_MARK_SPEEDS: dict[str, int] = {"markPrice": 3000, "markPrice@1s": 1000}


@dataclass(frozen=True)
class StreamSpec:
    """A stream the simulator can deliver."""

    name: str
    symbol: str  # exchange symbol, upper case
    kind: str  # aggTrade | depth | depthPartial | kline | bookTicker | markPrice
    route: str  # public | market
    speed_ms: int = 0  # depth window, partial window, markPrice period
    levels: int = 0  # partial depth only
    interval: str = ""  # kline only


def parse_stream(name: str) -> Optional[StreamSpec]:
    """The stream ``name`` denotes, or None when the exchange would ack and stay silent."""
    sym, sep, rest = name.partition("@")
    if not sep or not sym or sym != sym.lower():
        return None
    symbol = sym.upper()
    if rest == "aggTrade":
        return StreamSpec(name, symbol, "aggTrade", MARKET)
    if rest == "bookTicker":
        return StreamSpec(name, symbol, "bookTicker", PUBLIC)
    if rest in _MARK_SPEEDS:
        return StreamSpec(name, symbol, "markPrice", MARKET, speed_ms=_MARK_SPEEDS[rest])
    if rest.startswith("kline_"):
        interval = rest[len("kline_") :]
        if interval in INTERVALS:
            return StreamSpec(name, symbol, "kline", MARKET, interval=interval)
        return None
    if rest.startswith("depth"):
        suffix = rest[len("depth") :]
        if suffix in DEPTH_SPEEDS:
            return StreamSpec(name, symbol, "depth", PUBLIC, speed_ms=DEPTH_SPEEDS[suffix])
        m = _PARTIAL.fullmatch(rest)
        if m:
            speed = _PARTIAL_SPEEDS[m.group(2) or ""]
            return StreamSpec(name, symbol, "depthPartial", PUBLIC, speed_ms=speed, levels=int(m.group(1)))
    return None


def delivered_on(spec: StreamSpec, route: str) -> bool:
    """Whether a connection on ``route`` receives ``spec`` (legacy acts as public)."""
    return spec.route == (PUBLIC if route == LEGACY else route)


@dataclass(frozen=True)
class WsPath:
    route: str  # public | market | legacy
    combined: bool
    streams: tuple[str, ...]


def parse_ws_path(path: str, query_string: str, streams_param: Optional[str]) -> Optional[WsPath]:
    """Map a WebSocket request path to route/form/streams; None for paths the exchange rejects.

    ``/<route>/ws/<a>/<b>`` is the raw form (bare payloads), ``/<route>/stream?streams=a/b``
    the combined form. The query form ``/ws?<stream>`` is invalid on the real exchange.
    """
    parts = [p for p in path.split("/") if p]
    route = LEGACY
    if parts and parts[0] in ROUTES:
        route, parts = parts[0], parts[1:]
    if not parts:
        return None
    if parts[0] == "ws":
        if query_string:
            return None
        return WsPath(route, False, tuple(parts[1:]))
    if parts[0] == "stream" and len(parts) == 1:
        names = tuple(s for s in (streams_param or "").split("/") if s)
        return WsPath(route, True, names)
    return None
