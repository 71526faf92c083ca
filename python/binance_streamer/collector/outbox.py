"""A worker's way into one ring that never blocks the websocket reader.

When the ring is full, records wait in a bounded in-process spill queue (order
kept: once anything is spilled, new records queue behind it). Past the bound,
records are dropped and counted per symbol; as soon as there is room again a
gap row says exactly how many records were lost and when. Gap records are never
dropped themselves.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Deque, Dict, List, Optional

from binance_streamer import records
from binance_streamer.collector import gaps

log = logging.getLogger(__name__)


@dataclass
class _Drops:
    count: int = 0
    nbytes: int = 0
    first_us: int = 0
    last_us: int = 0


class Outbox:
    def __init__(
        self,
        ring: Any,
        name: str,
        spill_limit_bytes: int,
        on_drop: Optional[Callable[[int, int], None]] = None,
    ):
        self.ring = ring
        self.name = name
        self.spill_limit = spill_limit_bytes
        self.on_drop = on_drop  # (symbol_id, kind) -> None: e.g. force a depth resync
        self._spill: Deque[bytes] = deque()
        self.spill_bytes = 0
        self.spill_high_water = 0
        self._drops: Dict[int, _Drops] = {}
        self.dropped_total = 0
        self.pushed = 0
        self._warned = False

    @property
    def backlog(self) -> int:
        return len(self._spill)

    def push(self, rec: bytes) -> None:
        if not self._spill and self.ring.try_push(rec):
            self.pushed += 1
            return
        kind = rec[0]
        if kind != records.KIND_GAP and self.spill_bytes + len(rec) > self.spill_limit:
            self._drop(rec)
            return
        if not self._warned:
            log.warning("ring %s is full; spilling into memory (limit %d bytes)", self.name, self.spill_limit)
            self._warned = True
        self._spill.append(rec)
        self.spill_bytes += len(rec)
        self.spill_high_water = max(self.spill_high_water, self.spill_bytes)

    def drain(self) -> int:
        """Move spilled records into the ring while it has room; report drops. Returns records moved."""
        moved = 0
        while self._spill:
            rec = self._spill[0]
            if not self.ring.try_push(rec):
                break
            self._spill.popleft()
            self.spill_bytes -= len(rec)
            moved += 1
        self.pushed += moved
        if not self._spill:
            if self._warned:
                log.info("ring %s has room again; spill queue drained", self.name)
                self._warned = False
            if self._drops:
                self._report_drops()
        return moved

    def _drop(self, rec: bytes) -> None:
        kind, _flags, symbol_id, _res, t = records.HEADER.unpack_from(rec)
        d = self._drops.setdefault(symbol_id, _Drops(first_us=t))
        if d.count == 0:
            log.error("ring %s and its spill queue are full: dropping records (recorded as gaps)", self.name)
        d.count += 1
        d.nbytes += len(rec)
        d.last_us = t
        self.dropped_total += 1
        if self.on_drop is not None:
            self.on_drop(symbol_id, kind)

    def _report_drops(self) -> None:
        pending: List[bytes] = []
        for symbol_id, d in sorted(self._drops.items()):
            detail = (
                f"dropped {d.count} records ({d.nbytes} bytes) received between "
                f"local_time_us {d.first_us} and {d.last_us}: ring {self.name} full"
            )
            pending.append(gaps.gap_record(symbol_id, "*", gaps.RING_FULL, detail=detail))
        self._drops.clear()
        for rec in pending:
            self.push(rec)
