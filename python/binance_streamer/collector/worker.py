"""A symbol worker process: websocket connections for its symbols, REST
snapshots, depth sync, and pushing every frame into its two rings (to the
writer: everything; to the orderbook manager: depth diffs and snapshots).

Per frame the Python work is: stamp the receive time, read the stream name
from the frame's first bytes, push. Depth frames also go through the native
order book (for validation); no JSON is parsed in Python.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Dict, List, Optional

from binance_streamer import records, streams
from binance_streamer.collector import frames, gaps
from binance_streamer.collector.connection import GiveUp, StreamConnection
from binance_streamer.collector.depth_sync import DepthSync
from binance_streamer.collector.outbox import Outbox
from binance_streamer.collector.plan import Plan, WorkerPlan
from binance_streamer.collector.rest import SnapshotClient
from binance_streamer.collector.stats import StatsFile
from binance_streamer.config import Config

log = logging.getLogger(__name__)

SPILL_LIMIT = 64 << 20  # bytes of records held in memory per ring when it is full
UNKNOWN_SYMBOL = 0xFFFF
_START_DETAIL = "collector (re)started: nothing before this row is covered by this run"


class _StreamStats:
    __slots__ = ("messages", "last", "window_start", "window_count", "rate", "silent_reported")

    def __init__(self) -> None:
        self.messages = 0
        self.last: Optional[float] = None
        self.window_start = time.monotonic()
        self.window_count = 0
        self.rate = 0.0
        self.silent_reported = False


class Worker:
    def __init__(
        self,
        cfg: Config,
        plan: Plan,
        wplan: WorkerPlan,
        backend: Any,
        writer_ring: Any,
        book_ring: Any,
        runtime_root: Any,
        resync_epoch: Any = None,
    ):
        self.cfg = cfg
        self.plan = plan
        self.wplan = wplan
        self.backend = backend
        self.resync_epoch = resync_epoch
        self._epoch_seen = resync_epoch.value if resync_epoch is not None else 0
        self.to_writer = Outbox(writer_ring, writer_ring.name, SPILL_LIMIT, self._on_drop)
        self.to_book = Outbox(book_ring, book_ring.name, SPILL_LIMIT, self._on_drop)
        n_workers = len(plan.workers)
        self.rest = SnapshotClient(
            cfg.network.rest_base_url,
            cfg.network.snapshot_limit,
            cfg.network.connect_timeout,
            share=1.0 / n_workers,
        )
        self.stats_file = StatsFile(runtime_root, wplan.role, cfg.monitoring.status_interval)
        self.sym_ids = {s: plan.symbol_id(s) for s in wplan.symbols}
        self.depth: Dict[bytes, DepthSync] = {}
        self.stream_symbol: Dict[bytes, int] = {}
        self.stream_stats: Dict[bytes, _StreamStats] = {}
        self.unrouted = 0
        # aggTrade ids are contiguous per symbol: a hole (after a reconnect, or
        # anywhere) is recorded with the exact ids on both sides.
        self.agg_last: Dict[bytes, int] = {}
        self.agg_pending: Dict[bytes, str] = {}
        self.agg_names: Dict[bytes, str] = {}
        for sym in wplan.symbols:
            for name in plan.streams[sym]:
                wire = streams.wire_name(sym, name).encode()
                self.stream_symbol[wire] = self.sym_ids[sym]
                self.stream_stats[wire] = _StreamStats()
                if name == "aggTrade":
                    self.agg_names[wire] = name
                    self.agg_pending[wire] = gaps.START  # row written with the first id received
                if streams.is_depth(name):
                    self.depth[wire] = DepthSync(
                        backend, sym, self.sym_ids[sym], name, self.rest, self._emit_both
                    )
        self.by_symbol_id = {d.symbol_id: d for d in self.depth.values()}
        self.connections: List[StreamConnection] = [
            StreamConnection(c, cfg.network, self._on_frame, self._on_reconnect, self._on_unrouted)
            for c in wplan.connections
        ]

    # --- the hot path ---------------------------------------------------------------

    def _on_frame(self, frame: bytes, t_us: int, stream: bytes) -> None:
        sid = self.stream_symbol[stream]
        rec = records.pack(records.KIND_FRAME, sid, t_us, frame)
        self.to_writer.push(rec)
        st = self.stream_stats[stream]
        st.messages += 1
        st.window_count += 1
        st.last = time.monotonic()
        depth = self.depth.get(stream)
        if depth is not None:
            self.to_book.push(rec)
            depth.on_diff(frame)
        elif stream in self.agg_names:
            self._check_agg(stream, sid, frame, t_us)

    def _check_agg(self, stream: bytes, sid: int, frame: bytes, t_us: int) -> None:
        a = frames.agg_trade_id(frame)
        if a is None:
            return  # malformed: the writer reports it
        last = self.agg_last.get(stream)
        reason = self.agg_pending.pop(stream, None)
        if last is None and reason is not None:
            self.to_writer.push(gaps.gap_record(sid, "aggTrade", reason, None, a, _START_DETAIL, t_us))
        elif last is not None and a > last + 1:
            why = reason or gaps.SEQUENCE_BREAK
            self.to_writer.push(
                gaps.gap_record(
                    sid, "aggTrade", why, last, a, f"aggTrade ids {last + 1}..{a - 1} missing", t_us
                )
            )
        if last is None or a > last:
            self.agg_last[stream] = a

    # --- events ---------------------------------------------------------------------

    def _emit_both(self, rec: bytes) -> None:
        self.to_writer.push(rec)
        self.to_book.push(rec)

    def _on_drop(self, symbol_id: int, kind: int) -> None:
        d = self.by_symbol_id.get(symbol_id)
        if d is not None and kind in (records.KIND_FRAME, records.KIND_SNAPSHOT):
            d.on_dropped()

    def _on_unrouted(self, frame: bytes) -> None:
        # Control replies and errors ({"result":..}, {"error":..}): not data, but
        # never silent: logged, counted, and passed to the writer, which reports them.
        self.unrouted += 1
        if self.unrouted <= 20:
            log.warning("unexpected frame (not a subscribed stream): %.200r", frame)
        self.to_writer.push(records.pack(records.KIND_FRAME, UNKNOWN_SYMBOL, time.time_ns() // 1000, frame))

    def _on_reconnect(self, conn: StreamConnection, reason: str, outage: float) -> None:
        for sym, name in conn.plan.streams:
            wire = streams.wire_name(sym, name).encode()
            d = self.depth.get(wire)
            if d is not None:
                d.on_reconnect(outage)
            elif wire in self.agg_names:
                self.agg_pending[wire] = gaps.RECONNECT  # exact ids known at the next trade
            else:
                self.to_writer.push(
                    gaps.gap_record(
                        self.sym_ids[sym],
                        name,
                        gaps.RECONNECT,
                        detail=f"websocket reconnected after {outage:.1f} s ({reason}); events meanwhile are missing",
                    )
                )

    # --- housekeeping ---------------------------------------------------------------

    async def _housekeeping(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.to_writer.drain()
            self.to_book.drain()
            now = time.monotonic()
            self._watch_streams(now)
            if self.resync_epoch is not None and self.resync_epoch.value != self._epoch_seen:
                self._epoch_seen = self.resync_epoch.value
                for d in self.depth.values():
                    d.request_resync("orderbook manager restarted")
            if self.stats_file.due():
                self._write_stats(now)
            await asyncio.sleep(0.01 if (self.to_writer.backlog or self.to_book.backlog) else 0.05)

    def _watch_streams(self, now: float) -> None:
        """A stream silent while its siblings on the same connection flow: report
        it once and re-establish the connection (Binance acks streams it never serves)."""
        limit = self.cfg.network.stall_timeout
        for conn in self.connections:
            if not conn.connected or now - conn.last_frame > limit:
                continue
            for sym, name in conn.plan.streams:
                wire = streams.wire_name(sym, name).encode()
                st = self.stream_stats[wire]
                last = conn.last_by_stream.get(wire)
                silent_for = now - (last if last is not None else st.window_start)
                if silent_for > limit and not st.silent_reported:
                    st.silent_reported = True
                    log.warning(
                        "stream %s silent for %.0f s while its connection delivers; reconnecting",
                        wire.decode(),
                        silent_for,
                    )
                    self.to_writer.push(
                        gaps.gap_record(
                            self.sym_ids[sym],
                            name,
                            gaps.STREAM_SILENT,
                            detail=f"no frame for {silent_for:.0f} s",
                        )
                    )
                    conn.request_reconnect(f"stream {wire.decode()} silent")
                elif last is not None and now - last < limit:
                    st.silent_reported = False

    def _write_stats(self, now: float) -> None:
        syms: Dict[str, Any] = {}
        for sym in self.wplan.symbols:
            entry: Dict[str, Any] = {"streams": {}, "gaps": 0, "reconnects": 0}
            for name in self.plan.streams[sym]:
                wire = streams.wire_name(sym, name).encode()
                st = self.stream_stats[wire]
                span = now - st.window_start
                if span >= 1.0:
                    st.rate = st.window_count / span
                    st.window_start, st.window_count = now, 0
                entry["streams"][name] = {
                    "messages": st.messages,
                    "rate": st.rate,
                    "last_age_s": None if st.last is None else now - st.last,
                }
                d = self.depth.get(wire)
                if d is not None:
                    entry["gaps"] += d.gaps
                    entry["synced"] = d.synced
                    entry["snapshots"] = d.snapshots
            entry["reconnects"] = sum(
                c.reconnects for c in self.connections if any(s == sym for s, _ in c.plan.streams)
            )
            syms[sym] = entry
        self.stats_file.write(
            {
                "symbols": syms,
                "unrouted": self.unrouted,
                "spill_bytes": self.to_writer.spill_bytes + self.to_book.spill_bytes,
                "dropped": self.to_writer.dropped_total + self.to_book.dropped_total,
                "ring_drops": {
                    self.to_writer.name: self.to_writer.dropped_total,
                    self.to_book.name: self.to_book.dropped_total,
                },
                "rest_requests": self.rest.requests,
                "rest_throttled": self.rest.throttled,
            }
        )

    # --- run --------------------------------------------------------------------------

    def _mark_start(self) -> None:
        """Files are appended across runs: say where this run's coverage begins, so
        the hole since the previous run (or a crashed worker) is explained."""
        for sym in self.wplan.symbols:
            for name in self.plan.streams[sym]:
                if name != "aggTrade":  # aggTrade's start row carries the first id (see _check_agg)
                    self.to_writer.push(
                        gaps.gap_record(self.sym_ids[sym], name, gaps.START, detail=_START_DETAIL)
                    )

    async def run(self, stop_flag: Any) -> bool:
        """Collect until ``stop_flag`` is set; True if a connection gave up (max_retries)."""
        self._mark_start()
        stop = asyncio.Event()
        tasks = [asyncio.ensure_future(c.run(stop)) for c in self.connections]
        tasks.append(asyncio.ensure_future(self._housekeeping(stop)))
        gave_up = False
        try:
            while not stop_flag.is_set() and not gave_up:
                for t in [t for t in tasks if t.done()]:
                    exc = t.exception()
                    if isinstance(exc, GiveUp):
                        log.error("giving up: %s", exc)
                        gave_up = True
                    elif exc is not None:
                        raise exc
                await asyncio.sleep(0.1)
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            for d in self.depth.values():
                d.cancel()
            await self.rest.close()
            # Flush what waits in memory into the rings before exiting.
            deadline = time.monotonic() + 5.0
            while (self.to_writer.backlog or self.to_book.backlog) and time.monotonic() < deadline:
                self.to_writer.drain()
                self.to_book.drain()
                await asyncio.sleep(0.01)
            self._write_stats(time.monotonic())
        return gave_up
