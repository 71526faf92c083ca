"""What the simulator generated and sent, for tests to compare a collector against.

The engine writes on the server's event-loop thread; tests read from any
thread. High-volume records (level changes, aggTrades, depth events,
deliveries) are rows of integers in ``array('q')`` blocks (:class:`IntLog`):
a load test at tens of thousands of frames per second would otherwise spend
gigabytes on tuples. Payloads are rebuilt on demand with the same builders
that produced the sent text, so what a test reads is byte-for-byte what went
on the wire. Retention is bounded (``truth_limit`` rows per log); trimmed level
changes are folded into a base book so :meth:`Truth.book_at` keeps working for
every retained id.
"""

from __future__ import annotations

import json
import threading
from array import array
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Optional

from . import payloads
from .instruments import Instrument
from .klines import Bar
from .market import Trade

__all__ = [
    "Book",
    "ConnectionRecord",
    "Delivery",
    "IntLog",
    "KIND_AGG_TRADE",
    "KIND_DEPTH",
    "KIND_KLINE",
    "KIND_OTHER",
    "MalformedRecord",
    "RestRecord",
    "SnapshotRecord",
    "SymbolTruth",
    "Truth",
]

KIND_OTHER, KIND_AGG_TRADE, KIND_DEPTH, KIND_KLINE, KIND_MALFORMED = 0, 1, 2, 3, 4
_KIND_NAMES = {
    KIND_OTHER: "other",
    KIND_AGG_TRADE: "aggTrade",
    KIND_DEPTH: "depth",
    KIND_KLINE: "kline",
    KIND_MALFORMED: "malformed",
}


class IntLog:
    """Append-only rows of ``width`` ints with absolute row numbers that survive trimming."""

    __slots__ = ("data", "first", "keep", "width")

    def __init__(self, width: int, keep: int) -> None:
        self.width = width
        self.keep = keep
        self.first = 0  # absolute number of the oldest retained row
        self.data = array("q")

    def append(self, row: tuple[int, ...]) -> int:
        self.data.extend(row)
        return self.first + len(self.data) // self.width - 1

    def __len__(self) -> int:
        """Rows ever appended (so the next row's number)."""
        return self.first + len(self.data) // self.width

    def row(self, n: int) -> Optional[tuple[int, ...]]:
        i = (n - self.first) * self.width
        if n < self.first or i >= len(self.data):
            return None
        return tuple(self.data[i : i + self.width])

    def rows(self, start: int = 0, stop: Optional[int] = None) -> list[tuple[int, ...]]:
        w = self.width
        lo = max(start, self.first) - self.first
        hi = len(self) - self.first if stop is None else min(stop, len(self)) - self.first
        if hi <= lo:
            return []
        block = self.data[lo * w : hi * w]
        return list(zip(*[iter(block)] * w))

    def needs_trim(self) -> bool:
        return len(self.data) > 2 * self.keep * self.width

    def trim(self) -> array:
        """Drop all but the newest ``keep`` rows; return the dropped block (flat)."""
        drop = len(self.data) // self.width - self.keep
        if drop <= 0:
            return array("q")
        cut = drop * self.width
        dropped = self.data[:cut]
        del self.data[:cut]
        self.first += drop
        return dropped


class ObjLog:
    """Like :class:`IntLog` for the few, richer records (kline pushes)."""

    __slots__ = ("first", "items", "keep")

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.first = 0
        self.items: list[Any] = []

    def append(self, item: Any) -> int:
        self.items.append(item)
        return self.first + len(self.items) - 1

    def get(self, n: int) -> Any:
        i = n - self.first
        return self.items[i] if 0 <= i < len(self.items) else None

    def needs_trim(self) -> bool:
        return len(self.items) > 2 * self.keep

    def trim(self) -> None:
        drop = len(self.items) - self.keep
        if drop > 0:
            del self.items[:drop]
            self.first += drop


class Book(NamedTuple):
    """A book as exact decimal text: ``{price: qty}`` per side."""

    symbol: str
    last_update_id: int
    bids: dict[str, str]
    asks: dict[str, str]

    def top(self, n: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """Best ``n`` levels of each side, best first."""
        bids = sorted(self.bids.items(), key=lambda kv: -float(kv[0]))[:n]
        asks = sorted(self.asks.items(), key=lambda kv: float(kv[0]))[:n]
        return bids, asks


class Delivery(NamedTuple):
    """One data frame written to one connection."""

    conn_id: int
    stream: str
    kind: str  # "aggTrade", "depth", "kline", "malformed" or "other"
    seq: int  # row in that stream's log (aggTrade: index of the trade), -1 if not logged
    sent_wall: float  # host time.time() when written to the socket
    sent_sim_ms: int  # simulated exchange time when written


@dataclass
class SnapshotRecord:
    symbol: str
    limit: int
    last_update_id: int
    event_ms: int
    engine_ms: int
    served_wall: float
    stale: bool
    client: str  # "host:port" of the caller
    payload: dict[str, Any] = field(repr=False)


@dataclass
class RestRecord:
    """One REST request as answered (also the refused ones)."""

    wall: float
    sim_ms: int
    path: str  # with the query string
    status: int
    used_weight: int  # X-MBX-USED-WEIGHT-1M after it
    retry_after: Optional[int]
    client: str  # "host:port" of the caller


@dataclass
class ConnectionRecord:
    conn_id: int
    path: str
    route: str  # "public", "market" or "legacy"
    combined: bool
    opened_wall: float
    streams: list[str] = field(default_factory=list)
    frames_sent: int = 0
    frames_discarded: int = 0  # generated for it while stalled
    closed_wall: Optional[float] = None
    close_reason: str = ""


@dataclass
class MalformedRecord:
    conn_id: int
    kind: str
    stream: str
    text: str
    wall: float


class SymbolTruth:
    """Every log of one symbol. Rows:

    - changes: (uid, is_bid, price, qty)
    - trades:  (agg_id, price, qty, first_id, last_id, buyer_maker, trade_ms, event_ms)
    - depth[speed]: (event_ms, engine_ms, U, u, pu, change_lo, change_hi, withheld)
    """

    def __init__(self, instrument: Instrument, keep: int, base_uid: int, base_ms: int) -> None:
        self.instrument = instrument
        self.changes = IntLog(4, keep)
        self.trades = IntLog(8, keep)
        self.depth: dict[int, IntLog] = {}
        self.klines: dict[str, ObjLog] = {}  # interval -> (event_ms, final, Bar.as_tuple())
        self.snapshots: list[SnapshotRecord] = []
        self.keep = keep
        self.base_bids: dict[int, int] = {}
        self.base_asks: dict[int, int] = {}
        self.base_uid = base_uid
        self.base_ms = base_ms

    def depth_log(self, speed: int) -> IntLog:
        log = self.depth.get(speed)
        if log is None:
            log = self.depth[speed] = IntLog(8, self.keep)
        return log

    def kline_log(self, interval: str) -> ObjLog:
        log = self.klines.get(interval)
        if log is None:
            log = self.klines[interval] = ObjLog(self.keep)
        return log

    def fold(self, dropped: array) -> None:
        """Apply trimmed level changes to the base book."""
        for i in range(0, len(dropped), 4):
            uid, is_bid, price, qty = dropped[i : i + 4]
            side = self.base_bids if is_bid else self.base_asks
            if qty:
                side[price] = qty
            else:
                side.pop(price, None)
            self.base_uid = uid


class Truth:
    """Read side for tests (thread-safe) plus the recording hooks the server calls."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.lock = threading.Lock()
        self.symbols: dict[str, SymbolTruth] = {}
        self.deliveries = IntLog(6, keep)  # (conn, stream_code, kind, seq, wall_us, sim_ms)
        self._stream_names: list[str] = []
        self._stream_codes: dict[str, int] = {}
        self.conns: dict[int, ConnectionRecord] = {}
        self.rest_log = ObjLog(keep)
        self.malformed_frames: list[MalformedRecord] = []
        self.fault_log: list[tuple[float, str, str]] = []

    # -- recording (event-loop thread) ------------------------------------

    def stream_code(self, name: str) -> int:
        code = self._stream_codes.get(name)
        if code is None:
            code = self._stream_codes[name] = len(self._stream_names)
            self._stream_names.append(name)
        return code

    def trim(self) -> None:
        """Bound memory; called by the engine between ticks."""
        for st in self.symbols.values():
            if st.changes.needs_trim():
                with self.lock:
                    st.fold(st.changes.trim())
            for log in (st.trades, *st.depth.values()):
                if log.needs_trim():
                    with self.lock:
                        log.trim()
            for klog in st.klines.values():
                if klog.needs_trim():
                    with self.lock:
                        klog.trim()
        if self.deliveries.needs_trim():
            with self.lock:
                self.deliveries.trim()
        if self.rest_log.needs_trim():
            with self.lock:
                self.rest_log.trim()

    def note_fault(self, wall: float, kind: str, detail: str) -> None:
        self.fault_log.append((wall, kind, detail))

    # -- payload rebuilding (shared with the engine) ---------------------

    @staticmethod
    def depth_payload(st: SymbolTruth, row: tuple[int, ...], changes: list[tuple[int, ...]]) -> str:
        """The diff event text for a depth row, from its slice of the change log."""
        event_ms, engine_ms, first_id, last_id, prev_id = row[:5]
        bids: dict[int, int] = {}
        asks: dict[int, int] = {}
        for _uid, is_bid, price, qty in changes:
            (bids if is_bid else asks)[price] = qty
        return payloads.depth_update(
            st.instrument,
            event_ms,
            engine_ms,
            first_id,
            last_id,
            prev_id,
            sorted(bids.items()),
            sorted(asks.items()),
        )

    @staticmethod
    def trade_payload(st: SymbolTruth, row: tuple[int, ...]) -> str:
        agg_id, price, qty, first_id, last_id, maker, trade_ms, event_ms = row
        trade = Trade(agg_id, price, qty, first_id, last_id, bool(maker))
        return payloads.agg_trade(st.instrument, trade, trade_ms, event_ms)

    # -- reading (any thread) --------------------------------------------

    def _symbol(self, symbol: str) -> SymbolTruth:
        st = self.symbols.get(symbol)
        if st is None:
            raise KeyError(f"symbol {symbol!r} is not simulated (have {sorted(self.symbols)})")
        return st

    def agg_trades(self, symbol: str) -> list[dict[str, Any]]:
        """Every aggTrade the market produced for ``symbol`` (retained part), ids contiguous."""
        st = self._symbol(symbol)
        with self.lock:
            rows = st.trades.rows()
        return [json.loads(self.trade_payload(st, r)) for r in rows]

    def depth_diffs(
        self, symbol: str, speed: str = "100ms", *, include_withheld: bool = False
    ) -> list[dict[str, Any]]:
        """Every diff event of ``<symbol>@depth@<speed>`` built while someone subscribed.

        ``speed`` is "0ms", "100ms", "250ms" (plain ``@depth``) or "500ms". Events
        withheld by the skip-update-id fault are left out unless asked for.
        """
        st = self._symbol(symbol)
        ms = _speed_ms(speed)
        with self.lock:
            log = st.depth.get(ms)
            rows = log.rows() if log else []
            first_change = rows[0][5] if rows else 0
            changes = st.changes.rows(first_change)
            base = st.changes.first if rows else 0
        out: list[dict[str, Any]] = []
        offset = max(first_change, base)
        for row in rows:
            if row[7] and not include_withheld:
                continue
            if row[5] < offset:
                continue  # its changes were trimmed
            text = self.depth_payload(st, row, changes[row[5] - offset : row[6] - offset])
            event = json.loads(text)
            if include_withheld:
                event["_withheld"] = bool(row[7])
            out.append(event)
        return out

    def klines(self, symbol: str, interval: str = "1m", *, final_only: bool = False) -> list[dict[str, Any]]:
        """Kline payloads pushed on ``<symbol>@kline_<interval>`` (x:true ones are the bars)."""
        st = self._symbol(symbol)
        with self.lock:
            log = st.klines.get(interval)
            pushes: list[tuple[int, bool, tuple[int, ...]]] = list(log.items) if log else []
        return [
            json.loads(payloads.kline(st.instrument, interval, Bar(*bar), event_ms, final))
            for event_ms, final, bar in pushes
            if final or not final_only
        ]

    def snapshots(self, symbol: str) -> list[SnapshotRecord]:
        """Every REST depth snapshot served for ``symbol``, in order."""
        st = self._symbol(symbol)
        with self.lock:
            return list(st.snapshots)

    def book_at(self, symbol: str, update_id: int) -> Book:
        """The true book after every change with id <= ``update_id``."""
        st = self._symbol(symbol)
        with self.lock:
            bids = dict(st.base_bids)
            asks = dict(st.base_asks)
            base_uid = st.base_uid
            rows = st.changes.rows()
        if update_id < base_uid:
            raise LookupError(
                f"{symbol}: update id {update_id} is older than the retained history "
                f"(oldest {base_uid}); raise truth_limit"
            )
        last = base_uid
        for uid, is_bid, price, qty in rows:
            if uid > update_id:
                break
            side = bids if is_bid else asks
            if qty:
                side[price] = qty
            else:
                side.pop(price, None)
            last = uid
        ins = st.instrument
        return Book(
            symbol,
            last,
            {ins.price_text(p): ins.qty_text(q) for p, q in bids.items()},
            {ins.price_text(p): ins.qty_text(q) for p, q in asks.items()},
        )

    def last_update_id(self, symbol: str) -> int:
        st = self._symbol(symbol)
        with self.lock:
            log = st.changes
            return log.row(len(log) - 1)[0] if len(log) > log.first else st.base_uid  # type: ignore[index]

    def book(self, symbol: str) -> Book:
        """The book as of the newest change."""
        return self.book_at(symbol, self.last_update_id(symbol))

    def connections(self) -> list[ConnectionRecord]:
        with self.lock:
            return [ConnectionRecord(**vars(c)) for c in self.conns.values()]

    def deliveries_for(self, conn_id: Optional[int] = None, stream: Optional[str] = None) -> list[Delivery]:
        """Frames written to sockets, oldest first, optionally for one connection/stream."""
        with self.lock:
            rows = self.deliveries.rows()
            names = list(self._stream_names)
        code = self._stream_codes.get(stream) if stream is not None else None
        if stream is not None and code is None:
            return []
        return [
            Delivery(c, names[s], _KIND_NAMES[k], seq, wall / 1e6, sim)
            for c, s, k, seq, wall, sim in rows
            if (conn_id is None or c == conn_id) and (code is None or s == code)
        ]

    def sent(self, conn_id: int, stream: str) -> list[tuple[dict[str, Any], float]]:
        """(payload, send wall time) of every logged frame of ``stream`` sent on ``conn_id``."""
        out: list[tuple[dict[str, Any], float]] = []
        symbol_lower, _, rest = stream.partition("@")
        st = self.symbols.get(symbol_lower.upper())
        if st is None:
            return out
        for d in self.deliveries_for(conn_id, stream):
            if d.kind == "aggTrade":
                with self.lock:
                    row = st.trades.row(d.seq)
                if row is not None:
                    out.append((json.loads(self.trade_payload(st, row)), d.sent_wall))
            elif d.kind == "depth":
                speed = _speed_ms(rest.partition("@")[2] or "250ms")
                with self.lock:
                    row = st.depth[speed].row(d.seq)
                    changes = st.changes.rows(row[5], row[6]) if row else []
                if row is not None and row[5] >= st.changes.first:
                    out.append((json.loads(self.depth_payload(st, row, changes)), d.sent_wall))
            elif d.kind == "kline":
                interval = rest.partition("_")[2]
                with self.lock:
                    klog = st.klines.get(interval)
                    item = klog.get(d.seq) if klog else None
                if item is not None:
                    event_ms, final, bar = item
                    text = payloads.kline(st.instrument, interval, Bar(*bar), event_ms, final)
                    out.append((json.loads(text), d.sent_wall))
        return out

    def rest_requests(self) -> list[RestRecord]:
        """Every REST request answered, oldest first (to check back-off after 429/418)."""
        with self.lock:
            return list(self.rest_log.items)

    def malformed(self) -> list[MalformedRecord]:
        with self.lock:
            return list(self.malformed_frames)

    def faults(self) -> list[tuple[float, str, str]]:
        """(wall time, fault, detail) of every fault applied, in order."""
        with self.lock:
            return list(self.fault_log)


def _speed_ms(speed: str) -> int:
    table = {"0ms": 0, "100ms": 100, "250ms": 250, "500ms": 500}
    if speed not in table:
        raise ValueError(f"depth speed must be one of {sorted(table)}, got {speed!r}")
    return table[speed]
