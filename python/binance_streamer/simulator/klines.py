"""Kline intervals and bars aggregated from the simulated trades.

Only 1m bars are built trade by trade; every longer interval is folded from
finished 1m bars plus the running one, so supporting all fifteen Binance
intervals costs a handful of additions per simulated minute.
Empty bars follow the exchange: o=h=l=c=previous close, zero volumes,
``f``/``L`` = -1.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional

__all__ = ["INTERVALS", "Bar", "KlineBook", "bar_open", "next_open"]

MINUTE_MS = 60_000
DAY_MS = 1440 * MINUTE_MS
WEEK_MS = 7 * DAY_MS
_MONDAY_OFFSET_MS = 4 * DAY_MS  # 1970-01-01 was a Thursday; weekly bars open on Monday

_FIXED_MINUTES = {
    "1m": 1,
    "3m": 3,
    "5m": 5,
    "15m": 15,
    "30m": 30,
    "1h": 60,
    "2h": 120,
    "4h": 240,
    "6h": 360,
    "8h": 480,
    "12h": 720,
    "1d": 1440,
    "3d": 4320,
}
INTERVALS: tuple[str, ...] = (*_FIXED_MINUTES, "1w", "1M")


def bar_open(interval: str, t_ms: int) -> int:
    """Open time of the ``interval`` bar containing ``t_ms`` (UTC)."""
    minutes = _FIXED_MINUTES.get(interval)
    if minutes is not None:
        span = minutes * MINUTE_MS
        return t_ms - t_ms % span
    if interval == "1w":
        return t_ms - (t_ms - _MONDAY_OFFSET_MS) % WEEK_MS
    if interval == "1M":
        d = datetime.fromtimestamp(t_ms / 1000, tz=timezone.utc)
        return calendar.timegm((d.year, d.month, 1, 0, 0, 0)) * 1000
    raise ValueError(f"unknown kline interval {interval!r}")


def next_open(interval: str, open_ms: int) -> int:
    """Open time of the bar after the one opening at ``open_ms``."""
    minutes = _FIXED_MINUTES.get(interval)
    if minutes is not None:
        return open_ms + minutes * MINUTE_MS
    if interval == "1w":
        return open_ms + WEEK_MS
    if interval == "1M":
        d = datetime.fromtimestamp(open_ms / 1000, tz=timezone.utc)
        year, month = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
        return calendar.timegm((year, month, 1, 0, 0, 0)) * 1000
    raise ValueError(f"unknown kline interval {interval!r}")


@dataclass
class Bar:
    """One kline in integer units (prices/qty as in :mod:`.instruments`)."""

    open_ms: int
    close_ms: int
    o: int
    h: int
    low: int
    c: int
    v: int = 0
    q: int = 0  # quote volume, price units x qty units
    n: int = 0  # number of trades (fills), not aggTrades
    taker_v: int = 0
    taker_q: int = 0
    first_id: int = -1
    last_id: int = -1

    @classmethod
    def empty(cls, open_ms: int, close_ms: int, price: int) -> Bar:
        return cls(open_ms, close_ms, price, price, price, price)

    def add_trade(self, price: int, qty: int, first_id: int, last_id: int, taker_buy: bool) -> None:
        if self.first_id < 0:
            self.o = self.h = self.low = price
            self.first_id = first_id
        else:
            self.h = max(self.h, price)
            self.low = min(self.low, price)
        self.c = price
        self.last_id = last_id
        self.v += qty
        self.q += price * qty
        self.n += last_id - first_id + 1
        if taker_buy:
            self.taker_v += qty
            self.taker_q += price * qty

    def fold(self, other: Bar) -> None:
        """Absorb a later bar (a finished or running 1m bar) into this longer one."""
        if other.first_id < 0:
            return
        if self.first_id < 0:
            self.o, self.h, self.low = other.o, other.h, other.low
            self.first_id = other.first_id
        else:
            self.h = max(self.h, other.h)
            self.low = min(self.low, other.low)
        self.c = other.c
        self.last_id = other.last_id
        self.v += other.v
        self.q += other.q
        self.n += other.n
        self.taker_v += other.taker_v
        self.taker_q += other.taker_q

    def copy(self) -> Bar:
        return Bar(**self.__dict__)

    def as_tuple(self) -> tuple[int, ...]:
        """Ints only: the form the truth log keeps (no per-push object for the GC to walk)."""
        return (
            self.open_ms,
            self.close_ms,
            self.o,
            self.h,
            self.low,
            self.c,
            self.v,
            self.q,
            self.n,
            self.taker_v,
            self.taker_q,
            self.first_id,
            self.last_id,
        )


class KlineBook:
    """Bars of every interval for one symbol, driven by the simulated clock."""

    def __init__(self, start_ms: int, price: int, history_limit: int) -> None:
        open_ms = bar_open("1m", start_ms)
        self.minute = Bar.empty(open_ms, open_ms + MINUTE_MS - 1, price)
        self.history: list[Bar] = []  # finished 1m bars, oldest first
        self.history_limit = history_limit
        self._partial: dict[str, Bar] = {}
        for iv in INTERVALS[1:]:
            iv_open = bar_open(iv, open_ms)
            self._partial[iv] = Bar.empty(iv_open, next_open(iv, iv_open) - 1, price)

    def advance(self, t_ms: int) -> list[tuple[str, Bar]]:
        """Move the clock to ``t_ms``; return every (interval, bar) that closed, in order."""
        closed: list[tuple[str, Bar]] = []
        while t_ms > self.minute.close_ms:
            done = self.minute
            self.history.append(done)
            if len(self.history) > 2 * self.history_limit:
                del self.history[: len(self.history) - self.history_limit]
            closed.append(("1m", done))
            following = done.close_ms + 1
            for iv, bar in self._partial.items():
                bar.fold(done)
                if following > bar.close_ms:
                    closed.append((iv, bar))
                    self._partial[iv] = Bar.empty(following, next_open(iv, following) - 1, bar.c)
            self.minute = Bar.empty(following, following + MINUTE_MS - 1, done.c)
        return closed

    def add_trade(self, price: int, qty: int, first_id: int, last_id: int, taker_buy: bool) -> None:
        self.minute.add_trade(price, qty, first_id, last_id, taker_buy)

    def current(self, interval: str) -> Bar:
        """The running bar of ``interval`` including the running minute."""
        if interval == "1m":
            return self.minute
        bar = self._partial[interval].copy()
        bar.fold(self.minute)
        return bar

    def bars(self, interval: str) -> list[Bar]:
        """Every retained bar of ``interval`` (finished ones, then the running one)."""
        if interval == "1m":
            return [*self.history, self.minute]
        out: list[Bar] = []
        current: Optional[Bar] = None
        for minute in [*self.history, self.minute]:
            iv_open = bar_open(interval, minute.open_ms)
            if current is None or current.open_ms != iv_open:
                current = Bar.empty(iv_open, next_open(interval, iv_open) - 1, minute.o)
                out.append(current)
            current.fold(minute)
        return out
