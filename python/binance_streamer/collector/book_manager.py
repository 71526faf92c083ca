"""The OrderBook Manager process: keeps a full book per symbol from the depth
diffs and snapshots the workers forward, publishes each symbol's best bid/ask
on the shared-memory board, and every ``orderbook.snapshot_interval`` sends the
top-N levels to the writer (``orderbook_<SYMBOL>_<day>.csv``).

It applies exactly the records the worker applied, in the worker's order, so
its books follow the worker's sync decisions; a gap the worker detects shows
up here as the same ``pu`` break, and the worker's next snapshot re-bases both.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Dict, Sequence

from binance_streamer import records
from binance_streamer.bbo import Board
from binance_streamer.collector.outbox import Outbox
from binance_streamer.collector.stats import StatsFile

log = logging.getLogger(__name__)

IDLE_WAIT = 0.002


class BookManager:
    def __init__(
        self,
        backend: Any,
        in_rings: Dict[str, Any],
        out_ring: Any,
        symbols: Sequence[str],
        board: Board,
        snapshot_interval: float,
        depth_levels: int,
        runtime_root: Any,
        status_interval: float = 1.0,
    ):
        self.backend = backend
        self.in_rings = in_rings
        self.out = Outbox(out_ring, out_ring.name, 16 << 20)
        self.symbols = list(symbols)
        self.books: Dict[int, Any] = {}
        self.board = board
        self.snapshot_interval = snapshot_interval
        self.depth_levels = depth_levels
        self.stats = StatsFile(runtime_root, "orderbook", status_interval)
        self.applied = 0
        self.gaps = 0
        self.errors = 0
        self._next_snapshot = time.monotonic() + snapshot_interval

    def _book(self, sid: int) -> Any:
        book = self.books.get(sid)
        if book is None:
            book = self.books[sid] = self.backend.OrderBook(10_000)
        return book

    def handle(self, rec: bytes) -> None:
        kind, _f, sid, _r, t_us = records.HEADER.unpack_from(rec)
        if sid >= len(self.symbols):
            return
        payload = rec[records.HEADER_SIZE :]
        book = self._book(sid)
        try:
            if kind == records.KIND_FRAME:
                status, _, _ = book.apply_diff_bytes(payload)
                if status == "gap":
                    self.gaps += 1  # the book clears itself; the worker's next snapshot re-bases it
                elif status in ("applied", "synced"):
                    self.applied += 1
                    self._publish(sid, book, t_us)
            elif kind == records.KIND_SNAPSHOT:
                status, _, _ = book.apply_snapshot_bytes(payload)
                if status == "synced":
                    self._publish(sid, book, t_us)
            elif kind == records.KIND_GAP:
                pass  # the worker resyncs; a snapshot record follows
        except ValueError as exc:
            self.errors += 1
            if self.errors <= 20:
                log.warning("%s: cannot apply a forwarded record: %s", self.symbols[sid], exc)
            book.invalidate()

    def _publish(self, sid: int, book: Any, t_us: int) -> None:
        bid = book.best_bid()
        ask = book.best_ask()
        self.board.publish(
            self.symbols[sid],
            bid[0] if bid else None,
            bid[1] if bid else None,
            ask[0] if ask else None,
            ask[1] if ask else None,
            book.last_update_id,
            t_us,
        )

    def _snapshot_rows(self) -> None:
        now_us = time.time_ns() // 1000
        for sid, book in sorted(self.books.items()):
            if not book.synced:
                continue
            bids, asks = book.bids(self.depth_levels), book.asks(self.depth_levels)
            payload = json.dumps(
                {
                    "last_update_id": book.last_update_id,
                    "bids": [list(lvl) for lvl in bids],
                    "asks": [list(lvl) for lvl in asks],
                },
                separators=(",", ":"),
            ).encode()
            self.out.push(records.pack(records.KIND_ORDERBOOK, sid, now_us, payload))

    def run(self, stop: Any) -> None:
        while True:
            stopping = stop.is_set()
            got = 0
            for ring in self.in_rings.values():
                for rec in ring.pop_batch(4096):
                    self.handle(rec)
                    got += 1
            now = time.monotonic()
            if now >= self._next_snapshot:
                self._next_snapshot = now + self.snapshot_interval
                self._snapshot_rows()
            self.out.drain()
            if self.stats.due():
                self._write_stats()
            if stopping and not got:
                break
            if not got:
                time.sleep(IDLE_WAIT)
        deadline = time.monotonic() + 5
        while self.out.backlog and time.monotonic() < deadline:
            self.out.drain()
            time.sleep(0.01)
        self._write_stats()

    def _write_stats(self) -> None:
        self.stats.write(
            {
                "applied": self.applied,
                "gaps": self.gaps,
                "errors": self.errors,
                "bbo": {self.symbols[sid]: _quote(self.board, self.symbols[sid]) for sid in self.books},
            }
        )


def _quote(board: Board, symbol: str) -> Dict[str, Any]:
    q = board.read(symbol)
    if q is None:
        return {}
    return {"bid": q.bid, "ask": q.ask, "update_id": q.update_id}
