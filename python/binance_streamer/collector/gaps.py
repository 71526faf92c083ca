"""Gap records: every place data may be missing or was re-based goes into the
gaps file, so a reader knows exactly which intervals are unknown."""

from __future__ import annotations

import json
import time
from typing import Optional

from binance_streamer import records

# reason column values (documented in docs/data-format.md)
START = "start"
RECONNECT = "reconnect"
SEQUENCE_BREAK = "sequence_break"
RESYNC = "resync"
SNAPSHOT_UNBRIDGED = "snapshot_unbridged"
RING_FULL = "ring_full_dropped"
STREAM_SILENT = "stream_silent"
PARTIAL_ROW = "partial_row_repaired"
MALFORMED = "malformed_frame"


def now_us() -> int:
    return time.time_ns() // 1000


def gap_record(
    symbol_id: int,
    stream: str,
    reason: str,
    last_id: Optional[int] = None,
    next_id: Optional[int] = None,
    detail: str = "",
    local_time_us: Optional[int] = None,
) -> bytes:
    payload = json.dumps(
        {"stream": stream, "reason": reason, "last_id": last_id, "next_id": next_id, "detail": detail},
        separators=(",", ":"),
    ).encode()
    return records.pack(
        records.KIND_GAP, symbol_id, now_us() if local_time_us is None else local_time_us, payload
    )
