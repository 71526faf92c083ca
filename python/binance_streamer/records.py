"""The ring record: what a symbol worker pushes and the writer / orderbook
manager pop. One fixed 16-byte little-endian header, then the payload bytes.

    offset  size  field
    0       1     kind           (KIND_* below)
    1       1     flags          (0; reserved)
    2       2     symbol_id      (index into the run's symbol table)
    4       4     reserved       (0)
    8       8     local_time_us  (int64, local receive time, µs since the Unix epoch)
    16      ...   payload

Both backends (native and fallback) and every process use this layout.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

HEADER = struct.Struct("<BBHIq")
HEADER_SIZE = HEADER.size  # 16

KIND_FRAME = 1  # raw websocket text frame as received (bare payload or combined wrapper)
KIND_SNAPSHOT = 2  # raw REST GET /fapi/v1/depth body; the symbol comes from symbol_id
KIND_GAP = 3  # JSON object: {"stream", "reason", "last_id", "next_id", "detail"}
# Top-N book sampled by the order-book manager, best first:
# {"last_update_id": N, "bids": [["price", "qty"], ...], "asks": [...]}
KIND_ORDERBOOK = 4

KINDS = {
    KIND_FRAME: "frame",
    KIND_SNAPSHOT: "snapshot",
    KIND_GAP: "gap",
    KIND_ORDERBOOK: "orderbook",
}


class Record(NamedTuple):
    kind: int
    symbol_id: int
    local_time_us: int
    payload: bytes


def pack(kind: int, symbol_id: int, local_time_us: int, payload: bytes) -> bytes:
    """Header + payload as one bytes object, ready for ``Ring.try_push``."""
    return HEADER.pack(kind, 0, symbol_id, 0, local_time_us) + payload


def unpack(record: bytes) -> Record:
    kind, _flags, symbol_id, _res, t = HEADER.unpack_from(record)
    return Record(kind, symbol_id, t, bytes(record[HEADER_SIZE:]))
