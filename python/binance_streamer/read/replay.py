"""Book replay: the order book through time, rebuilt from the snapshot and
depth files with the backend's ``OrderBook`` (the same rules the collector
applied live), restarting at each recorded resync.

Ordering. Depth updates are taken in file order. Each snapshot (lastUpdateId
``L``) is applied just before the first update ``D`` with ``u >= L``: that is
where it belongs by ids, whatever the clocks said, and it is equivalent to
the collector's buffering (diffs older than ``L`` would have been stale).

A snapshot is usable before ``D`` when ``D.pu <= L <= D.u``: either ``D``
bridges it (``U <= L <= u``, the exchange's rule), or no update of this
symbol lies between ``D.pu`` and ``D.U``, so the book at ``L`` is the book at
``D.pu`` and ``D`` applies on top of it. (The book applies a snapshot only in
the first case, so in the second it is loaded as of ``D.U``: ``D`` then sets
each of its levels to absolute quantities, and the book after ``D`` is exact.)

What a usable snapshot does depends on the replayed book:

- the book is live and ``D`` chains onto it: the snapshot is a *check*. A
  second book starts from it, ``D`` is applied to both, and their levels are
  compared where both are known (below). On a mismatch the replay restarts
  from the snapshot, as the collector would have after a resync;
- otherwise (start, after a gap, or ``D`` does not chain): a *resync*, the
  replay restarts from it.

Where a book is known. A REST snapshot holds the best N levels per side, so a
book rebuilt from it knows every level from its best price down to its last
bid (and up to its last ask); diffs keep that range exact, but levels further
out that never changed are unknown. Two books are compared only on the
prices both know, over the best ``compare_levels`` levels.

The OrderBook Manager's top-N samples (orderbook files) are compared the same
way with the replayed book after the update whose ``u`` is their update id.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Generic, Iterator, List, Optional, Sequence, Tuple, TypeVar, Union

import numpy as np

from binance_streamer import native
from binance_streamer.read.files import DataFile, DayLike, find
from binance_streamer.read.load import DEFAULT_CHUNK_BYTES, FileReader, OnBadLine

Levels = List[List[str]]
FloatLevels = List[Tuple[float, float]]
DEFAULT_COMPARE_LEVELS = 100
UPDATE_KEY = ("first_update_id", "final_update_id", "prev_final_update_id")


@dataclass
class Update:
    """One depth update, as recorded (one file row per level)."""

    first_update_id: int
    final_update_id: int
    prev_final_update_id: int
    event_time_ms: int
    local_time_us: int
    bids: Levels
    asks: Levels
    file: DataFile
    line: int


@dataclass
class Snapshot:
    last_update_id: int
    event_time_ms: int  # -1 when the exchange gave none
    local_time_us: int
    bids: Levels
    asks: Levels
    file: DataFile
    line: int

    @property
    def known(self) -> Tuple[float, float]:
        """(lowest bid, highest ask) it holds: the range where a book from it is exact."""
        lo = min((float(p) for p, _ in self.bids), default=math.inf)
        hi = max((float(p) for p, _ in self.asks), default=-math.inf)
        return lo, hi


@dataclass
class Sample:
    """A top-N sample the OrderBook Manager wrote (an orderbook file record)."""

    last_update_id: int
    local_time_us: int
    bids: FloatLevels
    asks: FloatLevels
    file: DataFile
    line: int


@dataclass
class Step:
    """One event of the replay, after it took effect.

    ``kind`` is "diff", "snapshot" or "sample". ``status``: for a diff, the
    book's outcome ("applied", "synced", "stale", "buffered", "gap",
    "unbridged"); for a snapshot, "resync" (the replay restarted from it),
    "match" or "mismatch" (checked against the replayed book; on a mismatch the
    replay restarted from it) or "unbridged" (not usable); for a sample,
    "match", "mismatch" or "skipped" (no live book at its update id).
    ``book`` is the live book *now*: later steps change it, so copy what you
    need (``book.bids(10)``, ``book.mid(as_float=True)``...). A sample has
    no exchange time: its ``event_time_ms`` is -1."""

    kind: str
    status: str
    update_id: int
    event_time_ms: int
    local_time_us: int
    book: Any
    file: DataFile
    line: int
    mismatch: str = ""


@dataclass
class _Live:
    book: Any
    known: Tuple[float, float] = (math.inf, -math.inf)


@dataclass
class _Pending:
    """A snapshot waiting for the update it was placed before."""

    snapshot: Snapshot
    book: Any = None  # the check book (None: not usable)
    resync: bool = False
    steps: List[Step] = field(default_factory=list)


class BookReplay:
    """Replays ``symbol``'s book over the days ``start``..``end`` (inclusive) of ``data_dir``.

    Iterate for every step, or ask for the book at a time or an update id.
    ``backend``: "native", "python" or None (the usual choice, see native.py).
    """

    def __init__(
        self,
        data_dir: Union[str, Path],
        symbol: str,
        start: DayLike,
        end: Optional[DayLike] = None,
        *,
        backend: Optional[Union[str, ModuleType]] = None,
        compare_levels: int = DEFAULT_COMPARE_LEVELS,
        max_buffered: int = 1000,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        on_bad_line: Optional[OnBadLine] = None,
    ):
        self.module = backend if isinstance(backend, ModuleType) else native.load(backend)
        self.symbol = symbol
        found = find(
            data_dir, symbol, ["depth", "snapshot", "orderbook"], start, start if end is None else end
        )
        self.depth_files = [f for f in found if f.kind == "depth"]
        self.snapshot_files = [f for f in found if f.kind == "snapshot"]
        self.sample_files = [f for f in found if f.kind == "orderbook"]
        self.compare_levels = compare_levels
        self.max_buffered = max_buffered
        self.chunk_bytes = chunk_bytes
        self.on_bad_line = on_bad_line
        self.bytes_read = 0  # of depth files, by the current iteration

    # --- reading ---------------------------------------------------------------------

    def _reader(self, f: DataFile, columns: Optional[Sequence[str]] = None) -> FileReader:
        return FileReader(
            f.path,
            f.kind,
            self.symbol,
            decimals="str",
            columns=columns,
            chunk_bytes=self.chunk_bytes,
            on_bad_line=self.on_bad_line,
        )

    def _groups(
        self, f: DataFile, cols: Tuple[str, ...]
    ) -> Iterator[Tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(rows, lines, starts) of whole records (runs of rows equal in ``cols``):
        a record cut by a chunk boundary is held until the next chunk completes it."""
        reader = self._reader(f)
        held: Optional[Tuple[np.ndarray, np.ndarray]] = None
        done = 0
        for chunk in reader:
            rows, lines = chunk.rows, chunk.lines
            if held is not None:
                rows, lines = np.concatenate((held[0], rows)), np.concatenate((held[1], lines))
            starts = _starts(rows, cols)
            held = rows[starts[-1] :], lines[starts[-1] :]
            if len(starts) > 1:
                yield rows[: starts[-1]], lines[: starts[-1]], starts[:-1]
            if f.kind == "depth":
                self.bytes_read += reader.bytes_read - done
                done = reader.bytes_read
        if held is not None:
            yield held[0], held[1], np.zeros(1, dtype=np.intp)
        if f.kind == "depth":
            self.bytes_read += reader.bytes_read - done

    def updates(self) -> Iterator[Update]:
        """Every depth update of the range, in file order."""
        for f in self.depth_files:
            for rows, lines, starts in self._groups(f, UPDATE_KEY):
                yield from _updates(rows, lines, starts, f)

    def snapshots(self) -> Iterator[Snapshot]:
        """Every snapshot of the range, in file order (lastUpdateId order), one at a time."""
        for f in self.snapshot_files:
            for rows, lines, starts in self._groups(f, ("last_update_id",)):
                for a, b in zip(starts, np.append(starts[1:], len(rows))):
                    bids, asks = _levels(rows[a:b])
                    r = rows[a]
                    yield Snapshot(
                        int(r["last_update_id"]),
                        int(r["event_time_ms"]),
                        int(r["local_time_us"]),
                        bids,
                        asks,
                        f,
                        int(lines[a]),
                    )

    def samples(self) -> Iterator[Sample]:
        """Every top-N sample of the range, in file order."""
        for f in self.sample_files:
            for rows, lines, starts in self._groups(f, ("local_time_us", "last_update_id")):
                for a, b in zip(starts, np.append(starts[1:], len(rows))):
                    bids, asks = _levels(rows[a:b])
                    yield Sample(
                        int(rows[a]["last_update_id"]),
                        int(rows[a]["local_time_us"]),
                        [(float(p), float(q)) for p, q in bids],
                        [(float(p), float(q)) for p, q in asks],
                        f,
                        int(lines[a]),
                    )

    # --- replaying -------------------------------------------------------------------

    def __iter__(self) -> Iterator[Step]:
        return self._run(None)

    def book_at(self, *, event_time_ms: Optional[int] = None, update_id: Optional[int] = None) -> Any:
        """The book as it was after the last update with ``E <= event_time_ms``
        (or ``u <= update_id``): a fresh replay from the start of the range.
        Its ``synced`` says whether the book was valid then. For many
        queries, iterate once instead."""
        if (event_time_ms is None) == (update_id is None):
            raise ValueError("give exactly one of event_time_ms and update_id")
        if event_time_ms is not None:
            t = event_time_ms

            def stop(d: Update) -> bool:
                return d.event_time_ms > t
        else:
            x = update_id

            def stop(d: Update) -> bool:
                return d.final_update_id > x  # type: ignore[operator]

        steps = self._run(stop)
        book = None
        for step in steps:
            book = step.book
        return book if book is not None else self.module.OrderBook(self.max_buffered)

    def top_of_book(self) -> np.ndarray:
        """Best bid and ask after every update that left a live book: a structured
        array (event_time_ms, local_time_us, final_update_id, bid_price,
        bid_quantity, ask_price, ask_quantity) of int64 / float64."""
        dtype = np.dtype(
            [
                ("event_time_ms", np.int64),
                ("local_time_us", np.int64),
                ("final_update_id", np.int64),
                ("bid_price", np.float64),
                ("bid_quantity", np.float64),
                ("ask_price", np.float64),
                ("ask_quantity", np.float64),
            ]
        )
        out = []
        nan = (math.nan, math.nan)
        for step in self:
            if step.kind != "diff" or not step.book.synced:
                continue
            bid = step.book.best_bid(True) or nan
            ask = step.book.best_ask(True) or nan
            out.append((step.event_time_ms, step.local_time_us, step.update_id, *bid, *ask))
        return np.array(out, dtype=dtype)

    def _run(self, stop: Optional[Callable[[Update], bool]]) -> Iterator[Step]:
        self.bytes_read = 0
        live = _Live(self.module.OrderBook(self.max_buffered))
        snaps = _Peek(self.snapshots())
        samples = _Peek(self.samples())
        for d in self.updates():
            if stop is not None and stop(d):
                return
            pending = []
            while snaps.head is not None and snaps.head.last_update_id <= d.final_update_id:
                pending.append(self._place(snaps.pop(), d, live))
            for p in pending:
                if p.resync:
                    live = _Live(p.book, p.snapshot.known)
            status = live.book.apply_diff(
                d.first_update_id, d.final_update_id, d.prev_final_update_id, d.bids, d.asks
            )[0]
            for p in pending:
                if p.book is not None and not p.resync:
                    p.book.apply_diff(
                        d.first_update_id, d.final_update_id, d.prev_final_update_id, d.bids, d.asks
                    )
                    known = _common(live.known, p.snapshot.known)
                    diff = _compare(live.book, p.book, known, self.compare_levels, "replayed", "snapshot")
                    if diff:
                        p.steps[0].status, p.steps[0].mismatch = "mismatch", diff
                        live = _Live(p.book, p.snapshot.known)
                    else:
                        p.steps[0].status = "match"
                for s in p.steps:
                    s.book = live.book
                    yield s
            yield Step(
                "diff",
                status,
                d.final_update_id,
                d.event_time_ms,
                d.local_time_us,
                live.book,
                d.file,
                d.line,
            )
            while samples.head is not None and samples.head.last_update_id <= d.final_update_id:
                yield self._sample(samples.pop(), d, live)
        # Snapshots and samples after the last update are left unused.

    def _place(self, s: Snapshot, d: Update, live: _Live) -> _Pending:
        """What snapshot ``s`` does just before update ``d``."""
        step = Step(
            "snapshot",
            "unbridged",
            s.last_update_id,
            s.event_time_ms,
            s.local_time_us,
            live.book,
            s.file,
            s.line,
        )
        p = _Pending(s, steps=[step])
        if not d.prev_final_update_id <= s.last_update_id <= d.final_update_id:
            return p
        book = self.module.OrderBook(self.max_buffered)
        book.apply_snapshot(max(s.last_update_id, d.first_update_id), s.bids, s.asks)
        p.book = book
        if not (live.book.synced and d.prev_final_update_id == live.book.last_update_id):
            p.resync = True
            step.status = "resync"
        return p

    def _sample(self, s: Sample, d: Update, live: _Live) -> Step:
        step = Step("sample", "skipped", s.last_update_id, -1, s.local_time_us, live.book, s.file, s.line)
        if s.last_update_id != d.final_update_id or not live.book.synced:
            return step
        diff = _compare_levels(
            live.book.bids(len(s.bids), True),
            live.book.asks(len(s.asks), True),
            s.bids,
            s.asks,
            live.known,
            "replayed",
            "sample",
        )
        step.status, step.mismatch = ("mismatch", diff) if diff else ("match", "")
        return step


# --- helpers ---------------------------------------------------------------------------

T = TypeVar("T")


class _Peek(Generic[T]):
    """An iterator whose next item can be looked at before it is taken."""

    def __init__(self, items: Iterator[T]):
        self._items = items
        self.head: Optional[T] = next(items, None)

    def pop(self) -> T:
        item = self.head
        assert item is not None
        self.head = next(self._items, None)
        return item


def _starts(rows: np.ndarray, cols: Tuple[str, ...]) -> np.ndarray:
    change = np.zeros(len(rows), dtype=bool)
    if len(rows):
        change[0] = True
        for c in cols:
            change[1:] |= rows[c][1:] != rows[c][:-1]
    return np.flatnonzero(change)


def _levels(rows: np.ndarray) -> Tuple[Levels, Levels]:
    side = rows["side"]
    bids = np.flatnonzero(side == "bid")
    asks = np.flatnonzero(side == "ask")
    price, qty = rows["price"], rows["quantity"]
    return (
        [[price[i], qty[i]] for i in bids],
        [[price[i], qty[i]] for i in asks],
    )


def _updates(rows: np.ndarray, lines: np.ndarray, starts: np.ndarray, f: DataFile) -> Iterator[Update]:
    ends = np.append(starts[1:], len(rows))
    U = rows["first_update_id"].tolist()
    u = rows["final_update_id"].tolist()
    pu = rows["prev_final_update_id"].tolist()
    E = rows["event_time_ms"].tolist()
    t = rows["local_time_us"].tolist()
    side = rows["side"].tolist()
    price = rows["price"].tolist()
    qty = rows["quantity"].tolist()
    ln = lines.tolist()
    for a, b in zip(starts.tolist(), ends.tolist()):
        bids: Levels = []
        asks: Levels = []
        for i in range(a, b):
            s = side[i]
            if s == "bid":
                bids.append([price[i], qty[i]])
            elif s == "ask":
                asks.append([price[i], qty[i]])
        yield Update(U[a], u[a], pu[a], E[a], t[a], bids, asks, f, ln[a])


def _common(a: Tuple[float, float], b: Tuple[float, float]) -> Tuple[float, float]:
    return max(a[0], b[0]), min(a[1], b[1])


def _compare(live: Any, other: Any, known: Tuple[float, float], n: int, name_a: str, name_b: str) -> str:
    return _compare_levels(
        live.bids(n, True),
        live.asks(n, True),
        other.bids(n, True),
        other.asks(n, True),
        known,
        name_a,
        name_b,
    )


def _compare_levels(
    bids_a: FloatLevels,
    asks_a: FloatLevels,
    bids_b: FloatLevels,
    asks_b: FloatLevels,
    known: Tuple[float, float],
    name_a: str,
    name_b: str,
) -> str:
    """ "" when the two sides agree on the known prices, else the first difference."""
    lo, hi = known
    for side, a, b, inside in (
        ("bid", bids_a, bids_b, lambda p: p >= lo),
        ("ask", asks_a, asks_b, lambda p: p <= hi),
    ):
        a = [x for x in a if inside(x[0])]
        b = [x for x in b if inside(x[0])]
        for (pa, qa), (pb, qb) in zip(a, b):
            if pa != pb:
                # The better price is a level one book has and the other lacks.
                better_a = pa > pb if side == "bid" else pa < pb
                p, has, lacks = (pa, name_a, name_b) if better_a else (pb, name_b, name_a)
                return f"{side} {p!r} is in the {has} book, not in the {lacks}"
            if qa != qb:
                return f"{side} {pa!r}: {name_a} quantity {qa!r}, {name_b} {qb!r}"
        if len(a) != len(b):
            # The known prices are the best ones, so the shorter list ran out of
            # levels, not of the top-n cut: the longer one has a level more.
            n = min(len(a), len(b))
            longer, has, lacks = (a, name_a, name_b) if len(a) > len(b) else (b, name_b, name_a)
            return f"{side} {longer[n][0]!r} is in the {has} book, not in the {lacks}"
    return ""
