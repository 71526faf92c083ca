"""Seeded, deterministic order-book model for one symbol.

Each call to :meth:`SymbolMarket.step` is one engine tick: a few taker orders
sweep the best levels (becoming aggTrades, one per price level touched, as the
exchange aggregates fills of one taker order at one price), then limit orders
are added, modified and cancelled near the touch, and levels drifting out of
the price band are removed. The mid therefore random-walks because liquidity is
taken and replaced, not because it is drawn directly.

Every level change takes its own id from the update-id counter shared by all
symbols, so a symbol's ids advance by more than one between its events exactly
as on the real exchange. All randomness comes from one ``random.Random`` per
symbol, so a given seed and symbol list always produce the same stream.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left, insort
from typing import NamedTuple

from .instruments import Instrument

__all__ = ["Change", "SymbolMarket", "Trade", "UpdateIds"]

# Average notional of one resting level and of one taker order, in quote units.
_LEVEL_NOTIONAL = 30_000.0
_TAKER_NOTIONAL = 5_000.0


class Change(NamedTuple):
    """One level set to an absolute quantity (0 removes it), with its update id."""

    uid: int
    is_bid: bool
    price: int
    qty: int


class Trade(NamedTuple):
    """One aggTrade: fills of a single taker order at a single price."""

    agg_id: int
    price: int
    qty: int
    first_id: int
    last_id: int
    buyer_maker: bool


class UpdateIds:
    """The exchange-wide update-id counter (one for all symbols)."""

    __slots__ = ("value",)

    def __init__(self, start: int) -> None:
        self.value = start

    def take(self, gap: int = 0) -> int:
        self.value += 1 + gap
        return self.value


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


class SymbolMarket:
    """Book, trade and id state of one symbol; only :meth:`step` mutates it."""

    def __init__(
        self,
        instrument: Instrument,
        rng: random.Random,
        ids: UpdateIds,
        *,
        levels: int,
        trades_per_tick: float,
        updates_per_tick: float,
        volatility: float = 4e-6,
        agg_id_start: int,
        trade_id_start: int,
    ) -> None:
        self.instrument = instrument
        self.rng = rng
        self._random = rng.random  # hot path: one bound method, no randrange overhead
        self.ids = ids
        self.band = levels  # max distance in ticks from the touch; bounds the book size
        self.trades_per_tick = trades_per_tick
        self.updates_per_tick = updates_per_tick
        self.tick = instrument.tick_units
        self.step_units = instrument.step_units
        price = instrument.start_price_units / 10**instrument.price_decimals
        qty_unit = 10.0**-instrument.qty_decimals
        self.level_mean = max(2.0, _LEVEL_NOTIONAL / price / qty_unit / self.step_units)
        self.taker_mean = max(1.0, _TAKER_NOTIONAL / price / qty_unit / self.step_units)
        self.next_agg_id = agg_id_start
        self.last_trade_id = trade_id_start
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.bid_prices: list[int] = []  # ascending; best bid is the last
        self.ask_prices: list[int] = []  # ascending; best ask is the first
        self.last_uid = ids.value
        self.last_price = instrument.start_price_units
        # The latent fair price random-walks; takers lean towards it, so the touch follows.
        self.fair = float(instrument.start_price_units)
        self.fair_sigma = max(0.3 * self.tick, volatility * self.fair)
        self._seed_book(instrument.start_price_units)

    # -- book primitives -------------------------------------------------

    def _seed_book(self, mid: int) -> None:
        tick, rng = self.tick, self.rng
        best_bid = mid - mid % tick
        best_ask = best_bid + tick
        for off in range(self.band + 1):
            if off == 0 or rng.random() < 0.8:
                self._put(True, best_bid - off * tick, self._level_qty())
            if off == 0 or rng.random() < 0.8:
                self._put(False, best_ask + off * tick, self._level_qty())

    def _put(self, is_bid: bool, price: int, qty: int) -> None:
        book, prices = (self.bids, self.bid_prices) if is_bid else (self.asks, self.ask_prices)
        if qty > 0:
            if price not in book:
                insort(prices, price)
            book[price] = qty
        elif price in book:
            del book[price]
            del prices[bisect_left(prices, price)]

    def _set(self, out: list[Change], is_bid: bool, price: int, qty: int, gap: int = 0) -> None:
        self._put(is_bid, price, qty)
        uid = self.ids.take(gap)
        self.last_uid = uid
        out.append(Change(uid, is_bid, price, qty))

    def _below(self, n: int) -> int:
        """Uniform integer in [0, n)."""
        return int(self._random() * n)

    def _exponential(self, mean: float) -> float:
        return -math.log(1.0 - self._random()) * mean

    def _level_qty(self) -> int:
        return max(1, round(self._exponential(self.level_mean))) * self.step_units

    def best_bid(self) -> int:
        return self.bid_prices[-1] if self.bid_prices else 0

    def best_ask(self) -> int:
        return self.ask_prices[0] if self.ask_prices else 0

    def top(self) -> tuple[int, int, int, int]:
        """(bid price, bid qty, ask price, ask qty) of the touch."""
        bb, ba = self.best_bid(), self.best_ask()
        return bb, self.bids.get(bb, 0), ba, self.asks.get(ba, 0)

    def depth(self, limit: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Top ``limit`` levels: bids best-first (descending), asks best-first (ascending)."""
        bids = [(p, self.bids[p]) for p in reversed(self.bid_prices[-limit:])]
        asks = [(p, self.asks[p]) for p in self.ask_prices[:limit]]
        return bids, asks

    # -- one tick --------------------------------------------------------

    def step(self) -> tuple[list[Change], list[Trade]]:
        """Advance one tick; return the level changes (in id order) and the aggTrades."""
        rng = self.rng
        changes: list[Change] = []
        trades: list[Trade] = []
        self.fair = max(float(self.tick), self.fair + rng.gauss(0.0, self.fair_sigma))
        for _ in range(_poisson(rng, self.trades_per_tick)):
            self._take(changes, trades)
        for _ in range(1 + _poisson(rng, max(0.0, self.updates_per_tick - 1.0))):
            self._limit_order(changes)
        if rng.random() < 0.3:
            self._deep_order(changes)
        self._refill(changes)
        self._trim_band(changes)
        return changes, trades

    def _take(self, changes: list[Change], trades: list[Trade]) -> None:
        rng = self.rng
        taker_buy = rng.random() < self._buy_probability()
        qty = max(1, round(self._exponential(self.taker_mean))) * self.step_units
        book, prices = (self.asks, self.ask_prices) if taker_buy else (self.bids, self.bid_prices)
        while qty > 0 and prices:
            price = prices[0] if taker_buy else prices[-1]
            fill = min(qty, book[price])
            fills = 1 + (rng.random() < 0.35) + (rng.random() < 0.1)
            fills = max(1, min(fills, fill // self.step_units))
            first = self.last_trade_id + 1
            if rng.random() < 0.02:  # ids of fills that are never aggregated (f/l holes)
                first += 1
            self.last_trade_id = first + fills - 1
            trade = Trade(self.next_agg_id, price, fill, first, self.last_trade_id, not taker_buy)
            trades.append(trade)
            self.next_agg_id += 1
            self.last_price = price
            self._set(changes, not taker_buy, price, book[price] - fill, self._below(3))
            qty -= fill

    def _buy_probability(self) -> float:
        bb, ba = self.best_bid(), self.best_ask()
        if not bb or not ba:
            return 0.5
        lean = (self.fair - (bb + ba) / 2.0) / (4.0 * self.tick)
        return 0.5 + 0.45 * math.tanh(lean)

    def _limit_order(self, changes: list[Change]) -> None:
        rng, tick = self.rng, self.tick
        is_bid = rng.random() < 0.5
        bb, ba = self.best_bid(), self.best_ask()
        book = self.bids if is_bid else self.asks
        if bb and ba and ba - bb > tick and rng.random() < 0.25:
            price = bb + tick if is_bid else ba - tick  # improve inside the spread
        elif is_bid and ba and self.fair > ba and rng.random() < 0.3:
            price = ba - tick  # liquidity follows the fair price up
        elif not is_bid and bb and self.fair < bb and rng.random() < 0.3:
            price = bb + tick
        else:
            off = int(self._exponential(6.0))
            if is_bid:
                price = (bb or (ba - tick)) - off * tick
            else:
                price = (ba or (bb + tick)) + off * tick
        if price <= 0 or (is_bid and ba and price >= ba) or (not is_bid and bb and price <= bb):
            return
        current = book.get(price, 0)
        r = rng.random()
        if current and r < 0.35:
            qty = 0
        elif current and r < 0.6:
            qty = max(self.step_units, current - self._level_qty() // 2)
        else:
            qty = current + self._level_qty()
        if qty != current:
            self._set(changes, is_bid, price, qty, self._below(4))

    def _deep_order(self, changes: list[Change]) -> None:
        rng, tick = self.rng, self.tick
        is_bid = rng.random() < 0.5
        off = self.band // 4 + self._below(self.band - self.band // 4 + 1)
        price = self.best_bid() - off * tick if is_bid else self.best_ask() + off * tick
        if price > 0 and (is_bid and self.best_bid() or not is_bid and self.best_ask()):
            book = self.bids if is_bid else self.asks
            if price not in book:
                self._set(changes, is_bid, price, self._level_qty(), self._below(4))

    def _refill(self, changes: list[Change]) -> None:
        """A side swept empty, or a spread blown wide, gets liquidity back at once."""
        tick = self.tick
        if not self.bid_prices:
            anchor = (self.best_ask() or self.last_price) - tick
            for off in range(5):
                if anchor - off * tick > 0:
                    self._set(changes, True, anchor - off * tick, self._level_qty())
        if not self.ask_prices:
            anchor = (self.best_bid() or self.last_price) + tick
            for off in range(5):
                self._set(changes, False, anchor + off * tick, self._level_qty())
        bb, ba = self.best_bid(), self.best_ask()
        if ba - bb > 20 * tick:
            self._set(changes, True, bb + tick, self._level_qty())
            self._set(changes, False, ba - tick, self._level_qty())

    def _trim_band(self, changes: list[Change]) -> None:
        """Levels further than ``band`` ticks from the touch are cancelled: bounded book."""
        floor = self.best_bid() - self.band * self.tick
        while self.bid_prices and self.bid_prices[0] < floor:
            self._set(changes, True, self.bid_prices[0], 0)
        ceiling = self.best_ask() + self.band * self.tick
        while self.ask_prices and self.ask_prices[-1] > ceiling:
            self._set(changes, False, self.ask_prices[-1], 0)
