"""The test helper's files are the collector's files: contract_data.py, fed the
real recording, writes byte for byte what the batcher (``encode_records``)
writes from the same messages as ring records. Skipped where the backend has
no batcher yet."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Dict, List, Tuple

import pytest
from contract_data import (
    CRYPTOFEED_HTTP,
    CRYPTOFEED_SYMBOLS,
    CRYPTOFEED_WS,
    ContractWriter,
    _local_us,
    write_cryptofeed,
)

from binance_streamer import records, schema


def _batcher_files(backend: ModuleType, recs: List[bytes], symbols: List[str]) -> Dict[str, bytes]:
    out: Dict[str, bytes] = {}
    for path, kind, rows in backend.encode_records(recs, symbols, False).files:
        out[path] = out.get(path, schema.header(kind)) + rows
    return out


def _written(root: Path) -> Dict[str, bytes]:
    return {f"{p.parent.name}/{p.name}": p.read_bytes() for p in sorted(root.glob("*/*.csv"))}


def test_recording_matches_the_batcher(tmp_path: Path, backend: ModuleType) -> None:
    if not hasattr(backend, "encode_records"):
        pytest.skip("this backend has no JSON-to-CSV batcher yet")
    symbols = list(CRYPTOFEED_SYMBOLS)
    events: List[Tuple[int, int, bytes, int]] = []
    with open(CRYPTOFEED_WS, encoding="utf-8") as f:
        next(f)
        for line in f:
            ts, _, frame = line.partition(": ")
            sid = symbols.index(json.loads(frame)["data"]["s"])
            events.append((_local_us(ts), 1, frame.rstrip("\n").encode(), sid))
    with open(CRYPTOFEED_HTTP, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                url, _, rest = line.partition(" -> ")
                ts, _, body = rest.partition(": ")
                sid = symbols.index(url.split("symbol=", 1)[1].split("&", 1)[0])
                events.append((_local_us(ts), 0, body.rstrip("\n").encode(), sid))
    events.sort(key=lambda e: (e[0], e[1]))
    recs = [
        records.pack(records.KIND_FRAME if is_frame else records.KIND_SNAPSHOT, sid, t, payload)
        for t, is_frame, payload, sid in events
    ]
    write_cryptofeed(tmp_path)
    assert _written(tmp_path) == _batcher_files(backend, recs, symbols)


def test_gap_and_sample_rows_match_the_batcher(tmp_path: Path, backend: ModuleType) -> None:
    if not hasattr(backend, "encode_records") or not hasattr(records, "KIND_ORDERBOOK"):
        pytest.skip("this backend has no JSON-to-CSV batcher yet")
    t = 1_704_067_200_123_456
    gap = {
        "stream": "depth@100ms",
        "reason": "sequence_break",
        "last_id": 5,
        "next_id": 9,
        "detail": 'a, "b"',
    }
    gap2 = {"stream": "*", "reason": "ring_full_dropped", "last_id": None, "next_id": None, "detail": ""}
    book = {"last_update_id": 77, "bids": [["1.50", "2"], ["1.40", "3"]], "asks": [["1.60", "1"]]}
    recs = [
        records.pack(records.KIND_GAP, 0, t, json.dumps(gap).encode()),
        records.pack(records.KIND_GAP, 0, t + 1, json.dumps(gap2).encode()),
        records.pack(records.KIND_ORDERBOOK, 0, t + 2, json.dumps(book).encode()),
    ]
    w = ContractWriter(tmp_path)
    w.gap(t, "BTCUSDT", gap["stream"], gap["reason"], 5, 9, gap["detail"])
    w.gap(t + 1, "BTCUSDT", "*", "ring_full_dropped")
    w.orderbook(t + 2, "BTCUSDT", 77, book["bids"], book["asks"])
    w.close()
    assert _written(tmp_path) == _batcher_files(backend, recs, ["BTCUSDT"])
