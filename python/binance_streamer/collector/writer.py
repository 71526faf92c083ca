"""The Writer process: drains every ring, turns records into CSV rows with the
batcher (native or fallback), and appends them to the per-symbol per-day files.

Exactly-once on top of the rings' at-least-once delivery: see journal.py.
On disk errors (ENOSPC, EACCES, EIO, ...) nothing is committed in the rings, so
records stay queued; the batch is undone and retried after a pause.
"""

from __future__ import annotations

import logging
import resource
import time
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

from binance_streamer.collector import gaps
from binance_streamer.collector.files import FileSet
from binance_streamer.collector.journal import Journal, JournalEntry
from binance_streamer.collector.stats import StatsFile

log = logging.getLogger(__name__)

IDLE_WAIT = 0.005
DISK_RETRY = 2.0
MAX_BATCH_BYTES = 32 << 20


class Writer:
    def __init__(
        self,
        backend: Any,
        rings: Dict[str, Any],
        symbols: Sequence[str],
        output_dir: Path,
        runtime_root: Path,
        batch_size: int,
        flush_interval: float,
        keep_all_klines: bool,
        status_interval: float = 1.0,
    ):
        self.backend = backend
        self.rings = rings
        self.symbols = list(symbols)
        self.files = FileSet(output_dir, max_open=open_file_budget(len(symbols)), buffer_size=64 << 10)
        self.journal = Journal(runtime_root / "writer.journal")
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.keep_all_klines = keep_all_klines
        self.stats = StatsFile(runtime_root, "writer", status_interval)
        self.rows_bytes = 0
        self.records = 0
        self.batches = 0
        self.malformed: Counter[str] = Counter()
        self.malformed_samples: List[str] = []
        self.disk_errors = 0
        self.last_batch_ms = 0.0
        self.lag_s = 0.0

    # --- start-up -----------------------------------------------------------------

    def recover(self) -> None:
        """Bring files and rings back to a consistent point after a crash."""
        entry = self.journal.read()
        if entry is not None and entry.state == "begin":
            for rel, size in entry.sizes.items():
                self.files.truncate(rel, size)
            log.warning("undid a half-written batch from a crash (%d files); rewriting it", len(entry.sizes))
        elif entry is not None and entry.state == "done":
            for name, pos in entry.positions.items():
                ring = self.rings.get(name)
                if ring is None or ring.committed_position >= pos:
                    continue
                skipped = 0
                while ring.read_position < pos:
                    got = ring.peek_batch(1)
                    if not got:
                        break
                    skipped += 1
                ring.commit()
                log.info("ring %s: skipped %d records already written before a crash", name, skipped)
        self.journal.clear()

    # --- the loop -----------------------------------------------------------------

    def run(self, stop: Any) -> None:
        """Write until ``stop`` is set and every ring is empty."""
        self.recover()
        self.files.repair_all()
        self._emit_repairs()
        pending: List[bytes] = []
        first_pending = 0.0
        while True:
            stopping = stop.is_set()
            got = self._collect(pending)
            if pending and not first_pending:
                first_pending = time.monotonic()
            due = pending and (
                len(pending) >= self.batch_size
                or time.monotonic() - first_pending >= self.flush_interval
                or stopping
            )
            if due:
                if self._write(pending):
                    pending = []
                    first_pending = 0.0
                else:
                    time.sleep(DISK_RETRY)
            if self.stats.due():
                self._write_stats()
            if stopping and not pending and not got:
                break
            if not got and not due:
                time.sleep(IDLE_WAIT)
        self.files.close_all()
        self.journal.clear()  # everything written and committed: nothing to recover
        self._write_stats()

    def _collect(self, pending: List[bytes]) -> int:
        room = max(1, self.batch_size - len(pending))
        got = 0
        for ring in self.rings.values():
            recs = ring.peek_batch(room, MAX_BATCH_BYTES)
            if recs:
                pending.extend(recs)
                got += len(recs)
        return got

    def _write(self, recs: List[bytes]) -> bool:
        t0 = time.perf_counter()
        result = self.backend.encode_records(recs, self.symbols, self.keep_all_klines)
        outputs: List[Tuple[str, str, bytes]] = result.files
        self._note_malformed(result)
        positions = {name: ring.read_position for name, ring in self.rings.items()}
        sizes = {rel: self.files.size(rel) for rel, _, _ in outputs}
        try:
            self.journal.write(JournalEntry("begin", positions, sizes))
            for rel, kind, rows in outputs:
                self.files.append(rel, kind, rows)
            self.files.flush()
            self.journal.write(JournalEntry("done", positions, {}))
        except OSError as exc:
            self.disk_errors += 1
            log.error(
                "disk error while writing a batch of %d records (%s); keeping them queued and retrying",
                len(recs),
                exc,
            )
            for rel, size in sizes.items():
                try:
                    self.files.truncate(rel, size)
                except OSError:
                    pass
            self.files.close_all()
            return False
        for ring in self.rings.values():
            ring.commit()
        self.records += len(recs)
        self.rows_bytes += sum(len(r) for _, _, r in outputs)
        self.batches += 1
        self.last_batch_ms = (time.perf_counter() - t0) * 1000
        newest = max((int.from_bytes(r[8:16], "little", signed=True) for r in recs[-64:]), default=0)
        self.lag_s = max(0.0, time.time() - newest / 1e6) if newest else 0.0
        return True

    def _note_malformed(self, result: Any) -> None:
        for kind, (n, sample, reason) in result.skipped.items():
            self.malformed[kind] += n
            if len(self.malformed_samples) < 20:
                self.malformed_samples.append(f"{kind}: {reason}: {bytes(sample[:200])!r}")
                log.warning("skipped %d malformed %s records: %s (first: %.200r)", n, kind, reason, sample)

    def _emit_repairs(self) -> None:
        """Record each partial row cut at start-up as a gap row of its symbol."""
        if not self.files.repairs:
            return
        recs = []
        for rep in self.files.repairs:
            symbol = rep.rel_path.split("/", 1)[0]
            sid = self.symbols.index(symbol) if symbol in self.symbols else 0
            recs.append(
                gaps.gap_record(
                    sid,
                    rep.rel_path.rsplit("/", 1)[-1],
                    gaps.PARTIAL_ROW,
                    detail=f"cut {rep.cut_bytes} bytes of a partial last row",
                )
            )
        self.files.repairs.clear()
        result = self.backend.encode_records(recs, self.symbols, self.keep_all_klines)
        for rel, kind, rows in result.files:
            self.files.append(rel, kind, rows)
        self.files.flush()

    def _write_stats(self) -> None:
        self.stats.write(
            {
                "records": self.records,
                "batches": self.batches,
                "rows_bytes": self.rows_bytes,
                "malformed": dict(self.malformed),
                "malformed_samples": self.malformed_samples[-5:],
                "disk_errors": self.disk_errors,
                "last_batch_ms": self.last_batch_ms,
                "lag_s": self.lag_s,
                "rings": {name: _ring_stats(r) for name, r in self.rings.items()},
            }
        )


def open_file_budget(n_symbols: int) -> int:
    """How many files the writer keeps open: every file a symbol writes (up to ~10
    kinds, two days around midnight) so none is closed and reopened per batch,
    within the process's file-descriptor limit (raised to its hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    limit = 1 << 20 if soft == resource.RLIM_INFINITY else soft
    return max(64, min(n_symbols * 20, limit - 256))


def _ring_stats(ring: Any) -> Dict[str, Any]:
    s = dict(ring.stats())
    s["fill"] = ring.fill_ratio
    return s
