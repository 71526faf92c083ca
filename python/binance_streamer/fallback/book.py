"""Pure-Python twin of the native ``OrderBook`` (rust/src/book.rs): same API, same
results, same errors. docs/orderbook.md describes the rules and the result tuples.

Each side is a dict ``key -> (price text, quantity text)`` plus a sorted list of
keys (``bisect``), the fastest sorted structure the standard library offers: the
list moves only pointers, in C. Keys are exact integers in 1e-18 units.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from typing import Any, Deque, Dict, Iterable, List, Optional, Tuple, Union

from .book_parse import (
    SCALE,
    DiffFields,
    Level,
    count,
    diff_fields,
    parse_decimal,
    parse_diff,
    parse_snapshot,
    places,
    scaled_to_text,
    snapshot_fields,
)
from .book_parse import depth_ids as depth_ids

DEFAULT_MAX_BUFFERED = 1000

Result = Tuple[str, int, int]
Pair = Tuple[str, str]
FloatPair = Tuple[float, float]

_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_MASK = 2**64 - 1


class _Side:
    """One side: keys ascending, so the best bid is the last key and the best ask the first."""

    __slots__ = ("levels", "keys", "is_bids")

    def __init__(self, is_bids: bool) -> None:
        self.levels: Dict[int, Pair] = {}
        self.keys: List[int] = []
        self.is_bids = is_bids

    def apply(self, changes: Iterable[Level]) -> None:
        levels = self.levels
        keys = self.keys
        for key, price, qty_key, qty in changes:
            if qty_key:
                if key not in levels:
                    insort(keys, key)
                levels[key] = (price, qty)
            elif levels.pop(key, None) is not None:
                del keys[bisect_left(keys, key)]

    def load(self, changes: Iterable[Level]) -> None:
        """As if applied in order to an empty side: last entry wins, zero removes."""
        levels: Dict[int, Pair] = {}
        for key, price, qty_key, qty in changes:
            if qty_key:
                levels[key] = (price, qty)
            else:
                levels.pop(key, None)
        self.levels = levels
        self.keys = sorted(levels)

    def clear(self) -> None:
        self.levels = {}
        self.keys = []

    def best_key(self) -> Optional[int]:
        if not self.keys:
            return None
        return self.keys[-1] if self.is_bids else self.keys[0]

    def top_keys(self, n: Optional[int]) -> List[int]:
        keys = self.keys
        if self.is_bids:
            return keys[::-1] if n is None else keys[: -n - 1 : -1] if n else []
        return keys[:] if n is None else keys[:n]


def _float_pair(pair: Pair) -> FloatPair:
    return float(pair[0]), float(pair[1])


def _check_bool(value: Any) -> None:
    # The native binding accepts only real bools here; do the same.
    if value.__class__ is not bool:
        raise TypeError(f"as_float must be a bool, not {type(value).__name__}")


class OrderBook:
    """The local order book of one symbol, kept in sync by Binance USDⓈ-M rules."""

    __slots__ = ("_bids", "_asks", "_state", "_last", "_buffer", "_max_buffered")

    def __init__(self, max_buffered: int = DEFAULT_MAX_BUFFERED) -> None:
        self._max_buffered = count(max_buffered, "max_buffered")
        self._bids = _Side(True)
        self._asks = _Side(False)
        self._state = "empty"
        self._last = 0
        self._buffer: Deque[DiffFields] = deque(maxlen=self._max_buffered)

    # ---- input ---------------------------------------------------------------

    def apply_snapshot(self, last_update_id: int, bids: Any, asks: Any) -> Result:
        last, bid_levels, ask_levels = snapshot_fields(last_update_id, bids, asks)
        return self._snapshot(last, bid_levels, ask_levels)

    def apply_snapshot_bytes(self, body: bytes) -> Result:
        return self._snapshot(*parse_snapshot(body))

    def apply_diff(
        self,
        first_update_id: int,
        final_update_id: int,
        prev_final_update_id: int,
        bids: Any,
        asks: Any,
    ) -> Result:
        fields = diff_fields(first_update_id, final_update_id, prev_final_update_id, bids, asks)
        return self._on_diff(fields)

    def apply_diff_bytes(self, frame: bytes) -> Result:
        return self._on_diff(parse_diff(frame))

    def invalidate(self) -> None:
        self._clear_book()
        self._buffer.clear()

    def _clear_book(self) -> None:
        self._bids.clear()
        self._asks.clear()
        self._state = "empty"
        self._last = 0

    def _snapshot(self, last_update_id: int, bids: List[Level], asks: List[Level]) -> Result:
        self._bids.load(bids)
        self._asks.load(asks)
        self._state = "loaded"
        self._last = last_update_id
        buffered = self._buffer
        self._buffer = deque(maxlen=self._max_buffered)
        problem: Optional[Result] = None
        for diff in buffered:
            result = self._on_diff(diff)
            if problem is None and result[0] in ("unbridged", "gap"):
                problem = result
        if self._state == "synced":
            return ("synced", last_update_id, self._last)
        if problem is not None:
            return problem
        return ("loaded", last_update_id, 0)

    def _on_diff(self, diff: DiffFields) -> Result:
        state = self._state
        if state == "synced":
            last = self._last
            if diff.last < last:
                return ("stale", last, diff.last)
            if diff.prev != last:
                self._clear_book()
                self._buffer_diff(diff)
                return ("gap", last, diff.first)
            self._bids.apply(diff.bids)
            self._asks.apply(diff.asks)
            self._last = diff.last
            return ("applied", last, diff.last)
        if state == "loaded":
            snapshot = self._last
            if diff.last < snapshot:
                return ("stale", snapshot, diff.last)
            if diff.first <= snapshot:
                self._bids.apply(diff.bids)
                self._asks.apply(diff.asks)
                self._last = diff.last
                self._state = "synced"
                return ("synced", snapshot, diff.last)
            self._clear_book()
            self._buffer_diff(diff)
            return ("unbridged", snapshot, diff.first)
        return self._buffer_diff(diff)

    def _buffer_diff(self, diff: DiffFields) -> Result:
        buffer = self._buffer
        if buffer and buffer[-1].last == diff.prev:
            prev = diff.prev
        else:
            buffer.clear()
            prev = 0
        buffer.append(diff)  # a full deque drops its oldest entry
        return ("buffered", prev, diff.last)

    # ---- state and queries ---------------------------------------------------

    @property
    def state(self) -> str:
        return self._state

    @property
    def synced(self) -> bool:
        return self._state == "synced"

    @property
    def last_update_id(self) -> Optional[int]:
        return None if self._state == "empty" else self._last

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    @property
    def max_buffered(self) -> int:
        return self._max_buffered

    @property
    def bid_count(self) -> int:
        return len(self._bids.keys)

    @property
    def ask_count(self) -> int:
        return len(self._asks.keys)

    def best_bid(self, as_float: bool = False) -> Union[Pair, FloatPair, None]:
        _check_bool(as_float)
        keys = self._bids.keys
        if not keys:
            return None
        pair = self._bids.levels[keys[-1]]
        return _float_pair(pair) if as_float else pair

    def best_ask(self, as_float: bool = False) -> Union[Pair, FloatPair, None]:
        _check_bool(as_float)
        keys = self._asks.keys
        if not keys:
            return None
        pair = self._asks.levels[keys[0]]
        return _float_pair(pair) if as_float else pair

    def bids(self, n: Optional[int] = None, as_float: bool = False) -> Union[List[Pair], List[FloatPair]]:
        return self._top(self._bids, n, as_float)

    def asks(self, n: Optional[int] = None, as_float: bool = False) -> Union[List[Pair], List[FloatPair]]:
        return self._top(self._asks, n, as_float)

    @staticmethod
    def _top(side: _Side, n: Optional[int], as_float: bool) -> Union[List[Pair], List[FloatPair]]:
        if n is not None:
            n = count(n, "n")
        _check_bool(as_float)
        levels = side.levels
        pairs = [levels[k] for k in side.top_keys(n)]
        return [_float_pair(p) for p in pairs] if as_float else pairs

    def _best_prices(self) -> Optional[Tuple[int, int, int]]:
        """(bid key, ask key, places of the more precise of the two) or None."""
        bid, ask = self._bids.best_key(), self._asks.best_key()
        if bid is None or ask is None:
            return None
        p = max(places(self._bids.levels[bid][0]), places(self._asks.levels[ask][0]))
        return bid, ask, p

    def mid(self, as_float: bool = False) -> Union[str, float, None]:
        _check_bool(as_float)
        best = self._best_prices()
        if best is None:
            return None
        bid, ask, p = best
        # (bid + ask) / 2 in 1e-19 units is exact: (bid + ask) * 5.
        text = scaled_to_text((bid + ask) * 5, 19, p)
        return float(text) if as_float else text

    def spread(self, as_float: bool = False) -> Union[str, float, None]:
        _check_bool(as_float)
        best = self._best_prices()
        if best is None:
            return None
        bid, ask, p = best
        text = scaled_to_text(ask - bid, 18, p)
        return float(text) if as_float else text

    def checksum(self, n: int = 10) -> int:
        """FNV-1a over 64-bit words of the top n levels; see docs/orderbook.md."""
        n = count(n, "n")
        h = _FNV_OFFSET
        bid_keys = self._bids.top_keys(n)
        ask_keys = self._asks.top_keys(n)
        words = [len(bid_keys), len(ask_keys)]
        for side, keys in ((self._bids, bid_keys), (self._asks, ask_keys)):
            levels = side.levels
            for key in keys:
                qty_key = parse_decimal(levels[key][1])[0]
                words.extend(divmod(key, SCALE))
                words.extend(divmod(qty_key, SCALE))
        for word in words:
            h = ((h ^ word) * _FNV_PRIME) & _MASK
        return h

    def __repr__(self) -> str:
        return (
            f"OrderBook(state='{self._state}', last_update_id={self.last_update_id}, "
            f"bids={self.bid_count}, asks={self.ask_count}, buffered={self.buffered})"
        )


__all__ = ["OrderBook", "depth_ids"]
