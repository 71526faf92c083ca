"""Integrity checks of one stream's files, fed chunk by chunk in day order.

Each checker keeps just enough state (the last id, time or update) to carry
its checks across chunk and file boundaries, so a month streams through in
bounded memory. Checks are vectorised per chunk; only findings loop in Python.

Findings go to a ``Sink``: plain problems, and holes (missing ids, updates or
candles), which the sink tries to explain with a recorded gap row.

Holes are looked for on the ids in sorted order, so two swapped rows read as
one out-of-order row, not as a hole plus an out-of-order row.
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Any, Callable, Dict, Optional, Protocol, Tuple

import numpy as np

from binance_streamer.read.files import DataFile
from binance_streamer.read.gapindex import KNOWN_REASONS

MS_PER_DAY = 86_400_000
_EPOCH = dt.date(1970, 1, 1)

INTERVAL_MS: Dict[str, int] = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "3d": 259_200_000,
    "1w": 604_800_000,
}


class Sink(Protocol):
    def problem(self, file: DataFile, line: int, message: str) -> None: ...

    def hole(
        self,
        file: DataFile,
        line_before: int,
        line: int,
        message: str,
        t_before_us: int,
        t_after_us: int,
        last_id: Optional[int] = None,
        next_id: Optional[int] = None,
    ) -> None:
        """A hole between the row at ``line_before`` (0: in an earlier file) and the row at ``line``."""


def _day_name(ms: int) -> str:
    return (_EPOCH + dt.timedelta(days=ms // MS_PER_DAY)).strftime("%Y-%m-%d")


def _groups(keys: Tuple[np.ndarray, ...]) -> np.ndarray:
    """Start index of each run of rows whose ``keys`` are all equal."""
    n = len(keys[0])
    if n == 0:
        return np.empty(0, dtype=np.intp)
    change = np.zeros(n, dtype=bool)
    change[0] = True
    for k in keys:
        change[1:] |= k[1:] != k[:-1]
    return np.flatnonzero(change)


def _floats(values: np.ndarray) -> np.ndarray:
    if values.dtype == object:
        out = np.full(len(values), np.nan)
        ok = values != ""
        out[ok] = values[ok].astype(np.float64)
        return out
    return values


class StreamChecker:
    """Checks every stream has: rows in their day's file and in time order."""

    day_column = "event_time_ms"
    order_column = "event_time_ms"

    def __init__(self, sink: Sink):
        self.sink = sink
        self.file: Optional[DataFile] = None
        self._last_order: Optional[int] = None
        self._wrong_day = 0
        self._wrong_first: Tuple[int, int] = (0, 0)

    def start_file(self, f: DataFile) -> None:
        self.file = f
        self._day = (f.date - _EPOCH).days
        self._wrong_day = 0

    def feed(self, rows: np.ndarray, lines: np.ndarray) -> None:
        if len(rows) == 0:
            return
        self._check_day(rows, lines)
        self._check_order(rows, lines)
        self.check(rows, lines)

    def end_file(self) -> None:
        if self._wrong_day:
            line, ms = self._wrong_first
            self.sink.problem(
                self._f,
                line,
                f"{self._wrong_day} row(s) belong to another day's file (first: {self.day_column} {ms} "
                f"is {_day_name(ms)}, the file is for {self._f.date:%Y-%m-%d})",
            )

    def finish(self) -> None:
        """The stream's last file is done."""

    def check(self, rows: np.ndarray, lines: np.ndarray) -> None:
        """The kind's own checks."""

    @property
    def _f(self) -> DataFile:
        assert self.file is not None
        return self.file

    def day_ms(self, rows: np.ndarray) -> np.ndarray:
        return rows[self.day_column]

    def _check_day(self, rows: np.ndarray, lines: np.ndarray) -> None:
        ms = self.day_ms(rows)
        wrong = np.flatnonzero(ms // MS_PER_DAY != self._day)
        if len(wrong):
            if not self._wrong_day:
                self._wrong_first = (int(lines[wrong[0]]), int(ms[wrong[0]]))
            self._wrong_day += len(wrong)

    def _check_order(self, rows: np.ndarray, lines: np.ndarray) -> None:
        k = rows[self.order_column]
        first = k[0] if self._last_order is None else self._last_order
        before = np.maximum.accumulate(np.concatenate(([first], k)))[:-1]
        for i in np.flatnonzero(k < before):
            self.sink.problem(
                self._f, int(lines[i]), f"out of order: {self.order_column} {k[i]} after {before[i]}"
            )
        self._last_order = int(max(first, k.max()))


class IdChecker(StreamChecker):
    """aggTrade and trade ids: consecutive integers, each once."""

    def __init__(self, sink: Sink, id_column: str, what: str):
        super().__init__(sink)
        self.id_column = id_column
        self.what = what
        self._max: Optional[int] = None
        self._max_time = 0
        self._max_at: Tuple[Optional[DataFile], int] = (None, 0)
        self._last_row: Optional[Any] = None
        self._last_line = 0

    def check(self, rows: np.ndarray, lines: np.ndarray) -> None:
        ids = rows[self.id_column]
        t = rows["local_time_us"]
        col = self.id_column
        first = ids[0] - 1 if self._max is None else self._max
        before = np.maximum.accumulate(np.concatenate(([first], ids)))[:-1]
        for i in np.flatnonzero(ids <= before):
            prev_row = rows[i - 1] if i else self._last_row
            prev_line = int(lines[i - 1]) if i else self._last_line
            if ids[i] == before[i] and prev_row is not None and rows[i].tobytes() == prev_row.tobytes():
                message = f"duplicated row (same as line {prev_line})"
            elif ids[i] == before[i]:
                message = f"repeated {col} {ids[i]}"
            else:
                message = f"out of order: {col} {ids[i]} after {before[i]}"
            self.sink.problem(self._f, int(lines[i]), message)
        # Holes: ids above the previous maximum, in sorted order.
        fresh = np.flatnonzero(ids > first)
        if len(fresh):
            order = fresh[np.argsort(ids[fresh], kind="stable")]
            seq = ids[order]
            prev_ids = np.concatenate(([first], seq[:-1]))
            prev_t = np.concatenate(([self._max_time], t[order][:-1]))
            carried = self._max_at[1] if self._max_at[0] == self.file else 0
            prev_lines = np.concatenate(([carried], lines[order][:-1]))
            for j in np.flatnonzero(seq - prev_ids > 1):
                if j == 0 and self._max is None:
                    continue
                lo, hi = int(prev_ids[j]) + 1, int(seq[j]) - 1
                span = f"{lo}" if lo == hi else f"{lo}..{hi}"
                self.sink.hole(
                    self._f,
                    int(prev_lines[j]),
                    int(lines[order[j]]),
                    f"{self.what} missing: {col} {span} ({hi - lo + 1})",
                    int(prev_t[j]),
                    int(t[order[j]]),
                    int(prev_ids[j]),
                    int(seq[j]),
                )
            top = order[-1]
            if self._max is None or ids[top] > self._max:
                self._max, self._max_time = int(ids[top]), int(t[top])
                self._max_at = (self.file, int(lines[top]))
        self._last_row = rows[-1].copy()
        self._last_line = int(lines[-1])


class _Grouped(StreamChecker):
    """A stream whose logical records span several rows (one per level): the
    rows of the last record of a chunk are held back until the next chunk (or
    the file's end) completes it."""

    group_columns: Tuple[str, ...] = ()

    def __init__(self, sink: Sink):
        super().__init__(sink)
        self._held: Optional[Tuple[np.ndarray, np.ndarray]] = None

    def check(self, rows: np.ndarray, lines: np.ndarray) -> None:
        if self._held is not None:
            rows = np.concatenate((self._held[0], rows))
            lines = np.concatenate((self._held[1], lines))
        starts = _groups(tuple(rows[c] for c in self.group_columns))
        last = starts[-1]
        self._held = (rows[last:], lines[last:])
        if last:
            self.check_groups(rows[:last], lines[:last], starts[:-1])

    def end_file(self) -> None:
        if self._held is not None:
            rows, lines = self._held
            self._held = None
            self.check_groups(rows, lines, np.zeros(1, dtype=np.intp))
        super().end_file()

    def check_groups(self, rows: np.ndarray, lines: np.ndarray, starts: np.ndarray) -> None:
        raise NotImplementedError

    def _levels(
        self,
        rows: np.ndarray,
        lines: np.ndarray,
        starts: np.ndarray,
        label: Callable[[int], str],
        crossed: bool,
    ) -> None:
        """Duplicated levels; with ``crossed``, records (books) whose best bid is not below their best ask."""
        group = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(rows))))
        side = rows["side"]
        price = _floats(rows["price"])
        has = side != ""
        # Same side and price twice in one record.
        idx = np.flatnonzero(has)
        order = idx[np.lexsort((price[idx], side[idx] == "bid", group[idx]))]
        same = (
            (group[order][1:] == group[order][:-1])
            & (side[order][1:] == side[order][:-1])
            & (price[order][1:] == price[order][:-1])
        )
        for a, b in zip(order[:-1][same], order[1:][same]):
            first, second = sorted((int(lines[a]), int(lines[b])))
            self.sink.problem(
                self._f,
                second,
                f"duplicated row: {side[b]} {rows['price'][b]} twice in {label(group[b])} (lines {first} and {second})",
            )
        if not crossed:
            return
        for g in np.unique(group[has]):
            rows_g = slice(starts[g], starts[g + 1] if g + 1 < len(starts) else len(rows))
            s, p = side[rows_g], price[rows_g]
            if (s == "bid").any() and (s == "ask").any() and p[s == "bid"].max() >= p[s == "ask"].min():
                self.sink.problem(
                    self._f,
                    int(lines[starts[g]]),
                    f"crossed book in {label(g)}: best bid {p[s == 'bid'].max()} >= best ask {p[s == 'ask'].min()}",
                )


class DepthChecker(_Grouped):
    """Depth diffs: one update per run of rows with the same (U, u, pu); every
    update's pu must be the previous update's u."""

    group_columns = ("first_update_id", "final_update_id", "prev_final_update_id")

    def __init__(self, sink: Sink):
        super().__init__(sink)
        self._max_u: Optional[int] = None
        self._max_t = 0
        self._max_at: Tuple[Optional[DataFile], int] = (None, 0)

    def check_groups(self, rows: np.ndarray, lines: np.ndarray, starts: np.ndarray) -> None:
        U = rows["first_update_id"][starts]
        u = rows["final_update_id"][starts]
        pu = rows["prev_final_update_id"][starts]
        t = rows["local_time_us"][starts]
        gl = lines[starts]
        for i in np.flatnonzero(U > u):
            self.sink.problem(self._f, int(gl[i]), f"first_update_id {U[i]} > final_update_id {u[i]}")
        sizes = np.diff(np.append(starts, len(rows)))
        empty_in = np.add.reduceat((rows["side"] == "").astype(np.int64), starts)
        for i in np.flatnonzero((empty_in > 0) & (sizes > 1)):
            empty_rows = np.flatnonzero(rows["side"][starts[i] : starts[i] + sizes[i]] == "") + starts[i]
            if empty_in[i] == sizes[i]:
                line = int(lines[empty_rows[1]])
                message = f"duplicated row: update u={u[i]} without levels written {sizes[i]} times"
            else:
                line = int(lines[empty_rows[0]])
                message = f"update u={u[i]} has an empty row besides its levels"
            self.sink.problem(self._f, line, message)
        self._levels(rows, lines, starts, lambda g: f"update u={u[g]}", crossed=False)
        # Order and repeats of whole updates.
        first = u[0] - 1 if self._max_u is None else self._max_u
        before = np.maximum.accumulate(np.concatenate(([first], u)))[:-1]
        for i in np.flatnonzero(u <= before):
            what = "repeated" if u[i] == before[i] else "out of order"
            self.sink.problem(self._f, int(gl[i]), f"{what} update u={u[i]} (after u={before[i]})")
        # The pu chain, on the updates beyond the previous maximum in u order.
        fresh = np.flatnonzero(u > first)
        if not len(fresh):
            return
        order = fresh[np.argsort(u[fresh], kind="stable")]
        prev_u = np.concatenate(([first], u[order][:-1]))
        prev_t = np.concatenate(([self._max_t], t[order][:-1]))
        carried = self._max_at[1] if self._max_at[0] == self.file else 0
        prev_lines = np.concatenate(([carried], gl[order][:-1]))
        for j in np.flatnonzero(pu[order] != prev_u):
            if j == 0 and self._max_u is None:
                continue
            k = order[j]
            self.sink.hole(
                self._f,
                int(prev_lines[j]),
                int(gl[k]),
                f"pu chain broken: update U={U[k]} u={u[k]} has pu={pu[k]}, previous u={prev_u[j]}",
                int(prev_t[j]),
                int(t[k]),
                int(prev_u[j]),
                int(U[k]),
            )
        top = order[-1]
        self._max_u, self._max_t = int(u[top]), int(t[top])
        self._max_at = (self.file, int(gl[top]))


class SnapshotChecker(_Grouped):
    """REST snapshots: one per run of rows with the same lastUpdateId; levels
    best first and unique, the book not crossed."""

    group_columns = ("last_update_id",)
    order_column = "last_update_id"

    def day_ms(self, rows: np.ndarray) -> np.ndarray:
        e = rows["event_time_ms"]
        return np.where(e >= 0, e, rows["local_time_us"] // 1000)

    def check_groups(self, rows: np.ndarray, lines: np.ndarray, starts: np.ndarray) -> None:
        ids = rows["last_update_id"][starts]

        def label(g: int) -> str:
            return f"snapshot lastUpdateId={ids[g]}"

        self._levels(rows, lines, starts, label, crossed=True)
        _check_sorted(self, rows, lines, starts, label)


class OrderBookChecker(_Grouped):
    """The OrderBook Manager's top-N samples: levels numbered 1..n per side, best first."""

    group_columns = ("local_time_us", "last_update_id")
    day_column = order_column = "local_time_us"

    def day_ms(self, rows: np.ndarray) -> np.ndarray:
        return rows["local_time_us"] // 1000

    def check_groups(self, rows: np.ndarray, lines: np.ndarray, starts: np.ndarray) -> None:
        ids = rows["last_update_id"][starts]

        def label(g: int) -> str:
            return f"sample at update id {ids[g]}"

        self._levels(rows, lines, starts, label, crossed=True)
        _check_sorted(self, rows, lines, starts, label)
        ends = np.append(starts[1:], len(rows))
        for g, (a, b) in enumerate(zip(starts, ends)):
            for side in ("bid", "ask"):
                levels = rows["level"][a:b][rows["side"][a:b] == side]
                if len(levels) and not np.array_equal(levels, np.arange(1, len(levels) + 1)):
                    self.sink.problem(
                        self._f, int(lines[a]), f"{side} levels of the {label(g)} are not 1..{len(levels)}"
                    )


def _check_sorted(
    checker: StreamChecker,
    rows: np.ndarray,
    lines: np.ndarray,
    starts: np.ndarray,
    label: Callable[[int], str],
) -> None:
    """Bids strictly falling, asks strictly rising, in file order."""
    price = _floats(rows["price"])
    side = rows["side"]
    ends = np.append(starts[1:], len(rows))
    for g, (a, b) in enumerate(zip(starts, ends)):
        for name, sign in (("bid", -1.0), ("ask", 1.0)):
            sel = np.flatnonzero(side[a:b] == name) + a
            if len(sel) < 2:
                continue
            steps = np.diff(price[sel]) * sign
            bad = np.flatnonzero(steps < 0)
            if len(bad):
                i = sel[bad[0] + 1]
                checker.sink.problem(
                    checker._f,
                    int(lines[i]),
                    f"{name} {rows['price'][i]} out of price order in the {label(g)}",
                )


class KlineChecker(StreamChecker):
    """Closed candles: one per interval, back to back, with the right close time."""

    def __init__(self, sink: Sink, interval: str):
        super().__init__(sink)
        self.interval = interval
        self._prev_open: Optional[int] = None
        self._prev_t = 0
        self._prev_at: Tuple[Optional[DataFile], int] = (None, 0)

    def next_open(self, open_ms: int) -> int:
        if self.interval == "1M":
            d = dt.datetime.fromtimestamp(open_ms / 1000, dt.timezone.utc)
            y, m = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
            return calendar.timegm((y, m, 1, 0, 0, 0)) * 1000
        return open_ms + INTERVAL_MS[self.interval]

    def check(self, rows: np.ndarray, lines: np.ndarray) -> None:
        if self.interval not in INTERVAL_MS and self.interval != "1M":
            return
        closed = np.flatnonzero(rows["is_closed"])
        opens = rows["open_time_ms"]
        closes = rows["close_time_ms"]
        t = rows["local_time_us"]
        for i in closed:
            o = int(opens[i])
            line = int(lines[i])
            nxt = self.next_open(o)
            if int(closes[i]) != nxt - 1:
                self.sink.problem(
                    self._f,
                    line,
                    f"close_time_ms {closes[i]} does not end the {self.interval} candle opened at {o}",
                )
            if (
                INTERVAL_MS.get(self.interval, MS_PER_DAY + 1) <= MS_PER_DAY
                and o % INTERVAL_MS[self.interval]
            ):
                self.sink.problem(self._f, line, f"open_time_ms {o} is not on a {self.interval} boundary")
            prev = self._prev_open
            if prev is not None:
                expected = self.next_open(prev)
                if o == prev:
                    self.sink.problem(self._f, line, f"repeated closed candle open_time_ms {o}")
                    continue
                if o < prev:
                    self.sink.problem(self._f, line, f"out of order: candle open_time_ms {o} after {prev}")
                    continue
                if o > expected:
                    n, x = 0, expected
                    while x < o and n < 100_000:
                        n, x = n + 1, self.next_open(x)
                    self.sink.hole(
                        self._f,
                        self._prev_at[1] if self._prev_at[0] == self.file else 0,
                        line,
                        f"{n} {self.interval} kline(s) missing: open_time_ms {expected}..{o - 1}",
                        self._prev_t,
                        int(t[i]),
                    )
            self._prev_open, self._prev_t = o, int(t[i])
            self._prev_at = (self.file, line)


class GapsChecker(StreamChecker):
    day_column = order_column = "local_time_us"

    def day_ms(self, rows: np.ndarray) -> np.ndarray:
        return rows["local_time_us"] // 1000

    def check(self, rows: np.ndarray, lines: np.ndarray) -> None:
        for i in np.flatnonzero(~np.isin(rows["reason"], list(KNOWN_REASONS))):
            self.sink.problem(self._f, int(lines[i]), f"unknown gap reason {rows['reason'][i]!r}")
        for i in np.flatnonzero(rows["stream"] == ""):
            self.sink.problem(self._f, int(lines[i]), "gap row without a stream")


class BookTickerChecker(StreamChecker):
    def __init__(self, sink: Sink):
        super().__init__(sink)
        self._u: Optional[int] = None

    def check(self, rows: np.ndarray, lines: np.ndarray) -> None:
        u = rows["update_id"]
        first = u[0] if self._u is None else self._u
        before = np.maximum.accumulate(np.concatenate(([first], u)))[:-1]
        for i in np.flatnonzero(u < before):
            self.sink.problem(self._f, int(lines[i]), f"out of order: update_id {u[i]} after {before[i]}")
        self._u = int(max(first, u.max()))


def checker_for(f: DataFile, sink: Sink) -> StreamChecker:
    """A fresh checker for the stream ``f`` belongs to."""
    if f.kind == "aggtrade":
        return IdChecker(sink, "agg_trade_id", "aggTrades")
    if f.kind == "trade":
        return IdChecker(sink, "trade_id", "trades")
    if f.kind == "depth":
        return DepthChecker(sink)
    if f.kind == "snapshot":
        return SnapshotChecker(sink)
    if f.kind == "orderbook":
        return OrderBookChecker(sink)
    if f.kind == "kline":
        return KlineChecker(sink, f.interval)
    if f.kind == "gaps":
        return GapsChecker(sink)
    if f.kind == "bookticker":
        return BookTickerChecker(sink)
    return StreamChecker(sink)
