"""Drives every symbol's market on one tick schedule and turns ticks into stream events.

Tick ``k`` happens at host time ``anchor + k / rate`` and simulated time
``clock_start + k * 1000 * speed / rate``; symbols step in a fixed order inside
a tick and a seeded "rest of the exchange" gap is taken from the shared
update-id counter before each, so ids, prices and trades are a pure function
of the config — only *when* a frame leaves the socket depends on the host.

Events are built only for streams somebody subscribed to (``wanted``), but the
depth windows' ``pu`` chains advance regardless, so a stream joined late still
chains correctly from its first event.
"""

from __future__ import annotations

import random
from collections.abc import Container
from typing import NamedTuple, Optional

from . import payloads
from .clock import SimClock
from .config import SimConfig
from .instruments import instrument_for
from .klines import INTERVALS, KlineBook
from .market import Change, SymbolMarket, UpdateIds
from .streams import DEPTH_SPEEDS, PARTIAL_LEVELS
from .truth import (
    KIND_AGG_TRADE,
    KIND_DEPTH,
    KIND_KLINE,
    KIND_OTHER,
    SymbolTruth,
    Truth,
)

__all__ = ["Engine", "Frame", "pushes_at"]

_KLINE_WINDOW_MS = 250
_MARK_SPEEDS = {1000: "@markPrice@1s", 3000: "@markPrice"}
_FUNDING_MS = 8 * 3600 * 1000
_PARTIAL_SUFFIX = {100: "@100ms", 250: "", 500: "@500ms"}


class Frame(NamedTuple):
    stream: str
    kind: int  # truth.KIND_*
    seq: int  # row in the stream's truth log, -1 when not logged
    payload: str


class DepthWindow:
    """Change-log rows covered by the next event of one depth speed, and its ``pu``."""

    __slots__ = ("lo", "pu")

    def __init__(self, lo: int, pu: int) -> None:
        self.lo = lo
        self.pu = pu


def pushes_at(k: int, window_ms: int) -> bool:
    """Whether a stream with nominal period ``window_ms`` pushes at tick ``k``.

    A tick stands for the 100 ms window, so ``@depth`` (250 ms) pushes on 2 or 3
    ticks alternately and ``@500ms`` on every 5th.
    """
    if window_ms <= 100:
        return True
    return k * 100 // window_ms > (k - 1) * 100 // window_ms


class SymbolState:
    """One symbol's market, bars, truth and precomputed stream names."""

    def __init__(self, symbol: str, cfg: SimConfig, ids: UpdateIds, truth: Truth, start_ms: int):
        self.instrument = ins = instrument_for(symbol)
        seed_rng = random.Random(f"{cfg.seed}:{symbol}:ids")
        self.market = SymbolMarket(
            ins,
            random.Random(f"{cfg.seed}:{symbol}:market"),
            ids,
            levels=cfg.book_levels,
            trades_per_tick=cfg.trades_per_tick,
            updates_per_tick=cfg.updates_per_tick,
            agg_id_start=seed_rng.randrange(1_000_000_000, 4_000_000_000),
            trade_id_start=seed_rng.randrange(4_000_000_000, 9_000_000_000),
        )
        self.delay_rng = random.Random(f"{cfg.seed}:{symbol}:delay")
        self.kbook = KlineBook(start_ms, self.market.last_price, cfg.truth_limit)
        self.truth = SymbolTruth(ins, cfg.truth_limit, ids.value, start_ms)
        self.truth.base_bids = dict(self.market.bids)
        self.truth.base_asks = dict(self.market.asks)
        truth.symbols[symbol] = self.truth
        low = symbol.lower()
        self.agg_name = f"{low}@aggTrade"
        self.depth_names = {ms: f"{low}@depth{sfx}" for sfx, ms in DEPTH_SPEEDS.items()}
        self.partial_names = {
            (n, ms): f"{low}@depth{n}{sfx}" for n in PARTIAL_LEVELS for ms, sfx in _PARTIAL_SUFFIX.items()
        }
        self.kline_names = {iv: f"{low}@kline_{iv}" for iv in INTERVALS}
        self.ticker_name = f"{low}@bookTicker"
        self.mark_names = {ms: f"{low}{sfx}" for ms, sfx in _MARK_SPEEDS.items()}
        self.windows = {ms: DepthWindow(0, ids.value) for ms in DEPTH_SPEEDS.values()}
        self.last_top: Optional[tuple[int, int, int, int]] = None
        self.skip_speeds: set[int] = set()  # depth speeds whose next event is withheld


class Engine:
    """The deterministic core: ``step()`` runs the next tick and returns its frames."""

    def __init__(self, cfg: SimConfig, clock: SimClock, truth: Truth, wanted: Container[str]):
        self.cfg = cfg
        self.clock = clock
        self.truth = truth
        self.wanted = wanted
        id_rng = random.Random(f"{cfg.seed}:exchange")
        self.ids = UpdateIds(id_rng.randrange(9_000_000_000_000, 12_000_000_000_000))
        self.hidden_rng = id_rng
        self.tick = 0
        self.tick_ms_step = 1000.0 * cfg.clock_speed / cfg.rate
        self.max_delay_ms = max(0, min(3, int(self.tick_ms_step) - 1))
        self.last_tick_ms = clock.start_ms
        self.states = [SymbolState(s, cfg, self.ids, truth, clock.start_ms) for s in cfg.symbols]
        self.by_symbol = {st.instrument.symbol: st for st in self.states}

    def tick_ms(self, k: int) -> int:
        return self.clock.start_ms + int(k * self.tick_ms_step)

    def step(self) -> list[Frame]:
        self.tick = k = self.tick + 1
        t_ms = self.last_tick_ms = self.tick_ms(k)
        frames: list[Frame] = []
        for st in self.states:
            self.ids.take(int(self.hidden_rng.random() * 64))  # the rest of the exchange
            self._step_symbol(st, k, t_ms, frames)
        return frames

    def _step_symbol(self, st: SymbolState, k: int, t_ms: int, frames: list[Frame]) -> None:
        wanted, ins, market, log = self.wanted, st.instrument, st.market, st.truth
        e_ms = t_ms + int(st.delay_rng.random() * (self.max_delay_ms + 1))
        closed = st.kbook.advance(t_ms)
        changes, trades = market.step()
        extend = log.changes.data.extend
        for c in changes:
            extend((c.uid, c.is_bid, c.price, c.qty))
        for iv, bar in closed:
            name = st.kline_names[iv]
            if name in wanted:
                seq = log.kline_log(iv).append((e_ms, True, bar.as_tuple()))
                text = payloads.kline(ins, iv, bar, e_ms, True)
                frames.append(Frame(name, KIND_KLINE, seq, text))
        agg_wanted = st.agg_name in wanted
        for t in trades:
            seq = log.trades.append(
                (t.agg_id, t.price, t.qty, t.first_id, t.last_id, t.buyer_maker, t_ms, e_ms)
            )
            st.kbook.add_trade(t.price, t.qty, t.first_id, t.last_id, not t.buyer_maker)
            if agg_wanted:
                text = payloads.agg_trade(ins, t, t_ms, e_ms)
                frames.append(Frame(st.agg_name, KIND_AGG_TRADE, seq, text))
        self._depth(st, k, t_ms, e_ms, changes, frames)
        if pushes_at(k, _KLINE_WINDOW_MS):
            for iv, name in st.kline_names.items():
                if name in wanted:
                    bar = st.kbook.current(iv)
                    seq = log.kline_log(iv).append((e_ms, False, bar.as_tuple()))
                    text = payloads.kline(ins, iv, bar, e_ms, False)
                    frames.append(Frame(name, KIND_KLINE, seq, text))
        if st.ticker_name in wanted:
            top = market.top()
            if top != st.last_top:
                st.last_top = top
                text = payloads.book_ticker(ins, market.last_uid, top, t_ms, e_ms)
                frames.append(Frame(st.ticker_name, KIND_OTHER, -1, text))
        else:
            st.last_top = None
        for ms, name in st.mark_names.items():
            if name in wanted and pushes_at(k, ms):
                frames.append(Frame(name, KIND_OTHER, -1, self._mark_price(st, e_ms)))

    def _depth(
        self,
        st: SymbolState,
        k: int,
        t_ms: int,
        e_ms: int,
        tick_changes: list[Change],
        frames: list[Frame],
    ) -> None:
        wanted, log, market = self.wanted, st.truth, st.market
        hi = len(log.changes)
        tick_lo = hi - len(tick_changes)
        for ms, win in st.windows.items():
            if hi == win.lo or not pushes_at(k, ms):
                continue
            first_id = log.changes.row(win.lo)[0]  # type: ignore[index]
            last_id = market.last_uid
            name = st.depth_names[ms]
            if name in wanted:
                withheld = ms in st.skip_speeds
                st.skip_speeds.discard(ms)
                row = (e_ms, t_ms, first_id, last_id, win.pu, win.lo, hi, withheld)
                seq = log.depth_log(ms).append(row)
                if not withheld:
                    # a one-tick window is exactly this tick's changes: skip the log slice
                    window = tick_changes if win.lo == tick_lo else log.changes.rows(win.lo, hi)
                    text = Truth.depth_payload(log, row, window)
                    frames.append(Frame(name, KIND_DEPTH, seq, text))
            for n in PARTIAL_LEVELS:
                pname = st.partial_names.get((n, ms))
                if pname is not None and pname in wanted:
                    bids, asks = market.depth(n)
                    text = payloads.depth_partial(
                        st.instrument, e_ms, t_ms, first_id, last_id, win.pu, bids, asks
                    )
                    frames.append(Frame(pname, KIND_OTHER, -1, text))
            win.pu = last_id
            win.lo = hi

    def _mark_price(self, st: SymbolState, e_ms: int) -> str:
        bb, _, ba, _ = st.market.top()
        shift = 8 - st.instrument.price_decimals  # to units of 1e-8
        mark = (bb + ba) * 10**shift // 2 if shift >= 0 else (bb + ba) // (2 * 10**-shift)
        index = mark - mark // 5000
        next_funding = (e_ms // _FUNDING_MS + 1) * _FUNDING_MS
        return payloads.mark_price(st.instrument, e_ms, mark, index, index, 10_000, next_funding)

    # -- what REST and faults need ---------------------------------------

    def snapshot(
        self, symbol: str, limit: int
    ) -> tuple[int, int, list[tuple[int, int]], list[tuple[int, int]]]:
        """(lastUpdateId, engine ms, bids, asks) of the book as last published."""
        st = self.by_symbol[symbol]
        bids, asks = st.market.depth(limit)
        return st.market.last_uid, self.last_tick_ms, bids, asks

    def stale_snapshot(
        self, symbol: str, limit: int
    ) -> tuple[int, int, list[tuple[int, int]], list[tuple[int, int]]]:
        """The oldest book the truth still holds: older than any event a client can buffer."""
        log = self.by_symbol[symbol].truth
        with self.truth.lock:
            bids = sorted(log.base_bids.items(), reverse=True)[:limit]
            asks = sorted(log.base_asks.items())[:limit]
            return log.base_uid, log.base_ms, bids, asks

    def depth_streams_wanted(self, symbol: str) -> list[int]:
        st = self.by_symbol[symbol]
        return [ms for ms, name in st.depth_names.items() if name in self.wanted]
