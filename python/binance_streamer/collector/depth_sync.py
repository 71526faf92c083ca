"""Per-symbol depth synchronisation in a worker (Binance USDⓈ-M rules, applied
by the native order book): buffer diffs, take a REST snapshot after the first
diff, bridge it, chain on ``pu``, and resync — recording a gap — whenever the
chain breaks, the connection drops, or records had to be dropped.

The rules themselves live in ``OrderBook``; this class decides *when* to fetch
a snapshot and what to record.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Optional

from binance_streamer import records
from binance_streamer.collector import gaps
from binance_streamer.collector.rest import RestFatal, RestRetry, SnapshotClient

log = logging.getLogger(__name__)

Emit = Callable[[bytes], None]  # push a record to the writer and the orderbook manager


class DepthSync:
    def __init__(
        self,
        backend: Any,
        symbol: str,
        symbol_id: int,
        stream: str,
        rest: SnapshotClient,
        emit: Emit,
        max_buffer: int = 10_000,
    ):
        self.symbol, self.symbol_id, self.stream = symbol, symbol_id, stream
        self.book = backend.OrderBook(max_buffer)
        self.rest = rest
        self.emit = emit
        self.synced = False
        self.last_u: Optional[int] = None  # last u applied while synced
        self.resyncs = 0
        self.gaps = 0
        self.snapshots = 0
        self._task: Optional[asyncio.Future[None]] = None
        self._pending_reason: Optional[str] = None
        self.log = logging.LoggerAdapter(log, {"symbol": symbol})

    # --- events ---------------------------------------------------------------

    def on_diff(self, frame: bytes) -> None:
        try:
            status, a, b = self.book.apply_diff_bytes(frame)
        except ValueError as exc:
            # A malformed frame: the writer records it as malformed; the chain is
            # unknown from here, so the book must be re-based.
            self._break(gaps.MALFORMED, self.last_u, None, str(exc))
            return
        if status == "applied" or status == "synced":
            if not self.synced:
                self._now_synced(b)
            self.last_u = b
        elif status == "gap":
            # The book cleared itself and buffers from this diff on.
            self._break(
                gaps.SEQUENCE_BREAK, a, b, f"pu does not chain: previous u {a}, next U {b}", invalidate=False
            )
            self._fetch()
        elif status == "unbridged":
            # The loaded snapshot is older than the stream: a newer one is needed.
            self._break(
                gaps.SNAPSHOT_UNBRIDGED,
                a,
                b,
                "snapshot older than the stream; fetching another",
                invalidate=False,
            )
            self._fetch()
        elif status == "buffered" and not self.synced:
            self._fetch()
        # "stale": older than the book, nothing to do.

    def on_reconnect(self, outage: float) -> None:
        """The socket was replaced: whatever happened meanwhile is unknown."""
        self._break(gaps.RECONNECT, self.last_u, None, f"websocket reconnected after {outage:.1f} s")

    def on_dropped(self) -> None:
        """Depth records for this symbol were dropped on a full ring: the files
        (or the manager's book) miss diffs, so re-base with a fresh snapshot."""
        if self._pending_reason is None:
            self._break(gaps.RESYNC, self.last_u, None, "depth records dropped on a full ring")

    def request_resync(self, why: str) -> None:
        self._break(gaps.RESYNC, self.last_u, None, why)

    # --- internals ------------------------------------------------------------

    def _now_synced(self, last_u: int) -> None:
        self.synced = True
        self._pending_reason = None
        self.log.info("depth in sync at update id %d", last_u)

    def _break(
        self,
        reason: str,
        last_id: Optional[int],
        next_id: Optional[int],
        detail: str,
        invalidate: bool = True,
    ) -> None:
        self.gaps += 1
        self.emit(gaps.gap_record(self.symbol_id, self.stream, reason, last_id, next_id, detail))
        self.log.warning("depth %s: %s; resyncing", reason, detail)
        self.synced = False
        self.last_u = None
        if invalidate:
            # The next diff is buffered and triggers the snapshot fetch
            # (snapshot after the first diff, so the buffer can bridge it).
            self.book.invalidate()
        self.resyncs += 1
        self._pending_reason = reason

    def cancel(self) -> None:
        """Stop a snapshot fetch in progress (the worker is stopping)."""
        if self._task is not None:
            self._task.cancel()

    def _fetch(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._snapshot_loop())

    async def _snapshot_loop(self) -> None:
        delay = 0.5
        try:
            while True:
                try:
                    body, t_us = await self.rest.fetch_depth(self.symbol)
                except RestRetry as exc:
                    wait = max(delay, exc.delay)
                    self.log.warning("snapshot failed (%s); retrying in %.1f s", exc, wait)
                    await asyncio.sleep(wait)
                    delay = min(delay * 2, 30.0)
                    continue
                except RestFatal as exc:
                    self.log.error("%s; this symbol's depth cannot be synced (retrying in 60 s)", exc)
                    await asyncio.sleep(60)
                    continue
                self.snapshots += 1
                self.emit(records.pack(records.KIND_SNAPSHOT, self.symbol_id, t_us, body))
                try:
                    status, a, b = self.book.apply_snapshot_bytes(body)
                except ValueError as exc:
                    self.log.error("malformed depth snapshot (%s); fetching another", exc)
                    await asyncio.sleep(delay)
                    continue
                if status == "synced":
                    self._now_synced(b)
                    self.last_u = b
                    return
                if status == "loaded":
                    return  # no buffered diff reaches it yet; the next diff must bridge it
                # "unbridged": older than every buffered diff (Binance's snapshot
                # lagged the stream): record it and ask again.
                self.emit(
                    gaps.gap_record(
                        self.symbol_id,
                        self.stream,
                        gaps.SNAPSHOT_UNBRIDGED,
                        a,
                        b,
                        "snapshot older than the buffered diffs; fetching another",
                    )
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        finally:
            self._task = None
