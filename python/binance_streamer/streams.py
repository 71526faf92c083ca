"""Binance USDⓈ-M stream names: which ones exist, and which route serves them.

Binance acknowledges any SUBSCRIBE and then stays silent for names it does not
serve (``depth@250ms``, upper-case symbols, a stream on the wrong route), so the
collector accepts exactly the names that deliver data and says why for the rest.
"""

from __future__ import annotations

import difflib
import re
from typing import Tuple

KLINE_INTERVALS: Tuple[str, ...] = (
    "1m",
    "3m",
    "5m",
    "15m",
    "30m",
    "1h",
    "2h",
    "4h",
    "6h",
    "8h",
    "12h",
    "1d",
    "3d",
    "1w",
    "1M",
)
DEPTH_STREAMS: Tuple[str, ...] = ("depth", "depth@0ms", "depth@100ms", "depth@500ms")
PUBLIC_STREAMS: Tuple[str, ...] = (*DEPTH_STREAMS, "bookTicker", "trade")
MARKET_STREAMS: Tuple[str, ...] = ("aggTrade", "markPrice", "markPrice@1s")
FIXED_STREAMS: Tuple[str, ...] = (
    "aggTrade",
    "trade",
    *DEPTH_STREAMS,
    "bookTicker",
    "markPrice",
    "markPrice@1s",
)
EXPECTED = "aggTrade, trade, depth, depth@0ms, depth@100ms, depth@500ms, kline_<interval>, bookTicker, markPrice, markPrice@1s"


def is_depth(name: str) -> bool:
    return name in DEPTH_STREAMS


def route(name: str) -> str:
    """'public' or 'market': the URL route Binance serves the stream on."""
    if name in PUBLIC_STREAMS:
        return "public"
    if name in MARKET_STREAMS or name.startswith("kline_"):
        return "market"
    raise ValueError(f"unknown stream {name!r}")


def wire_name(symbol: str, name: str) -> str:
    """The name to subscribe to: lower-case symbol, e.g. ``btcusdt@depth@100ms``."""
    return f"{symbol.lower()}@{name}"


def validate(value: object) -> str:
    """Return the stream name if Binance USDⓈ-M serves it, else raise ValueError (one line)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a stream name, got {value!r} (expected {EXPECTED})")
    name = value.strip()
    if name in FIXED_STREAMS:
        return name
    if name.startswith("kline_"):
        interval = name[len("kline_") :]
        if interval in KLINE_INTERVALS:
            return name
        raise ValueError(
            f"bad kline interval {interval!r} in {name!r} (expected one of {', '.join(KLINE_INTERVALS)})"
        )
    head, _, tail = name.partition("@")
    if tail and head.lower() not in ("depth", "markprice") and _served(tail):
        raise ValueError(
            f"unknown stream {name!r}: give the stream type only, e.g. {tail!r} "
            "(the symbol comes from 'symbol')"
        )
    hint = _hint(name)
    raise ValueError(f"unknown stream {name!r}{hint} (expected {EXPECTED})")


def _served(name: str) -> bool:
    try:
        validate(name)
    except ValueError:
        return False
    return True


_PARTIAL_DEPTH = re.compile(r"^depth(5|10|20)(@\d+ms)?$")


def _hint(name: str) -> str:
    lower = name.lower()
    if lower == "depth@250ms":
        return "; use 'depth' (250 ms is its default speed; Binance acknowledges 'depth@250ms' and then sends nothing)"
    if _PARTIAL_DEPTH.match(lower):
        return "; partial-book streams are snapshots, not diffs, and cannot rebuild a book: use depth@100ms"
    for known in FIXED_STREAMS:
        if lower == known.lower():
            return f"; did you mean '{known}'? (names are case-sensitive)"
    close = difflib.get_close_matches(name, FIXED_STREAMS, n=1, cutoff=0.7)
    return f"; did you mean '{close[0]}'?" if close else ""
