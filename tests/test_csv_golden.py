"""Golden files: one real (or documented-layout) example of every file kind,
written as the writer would (header row + rows), checked by hand against the
exchange's field meanings. See tests/golden/README.md."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Dict, List, Tuple

from binance_streamer import records, schema

GOLDEN = Path(__file__).parent / "golden"
RECORD_KINDS = {
    "frame": records.KIND_FRAME,
    "snapshot": records.KIND_SNAPSHOT,
    "gap": records.KIND_GAP,
    "orderbook": records.KIND_ORDERBOOK,
}


def golden_input() -> Tuple[List[bytes], List[str]]:
    spec = json.loads((GOLDEN / "records.json").read_text(encoding="utf-8"))
    symbols: List[str] = spec["symbols"]
    recs = [
        records.pack(
            RECORD_KINDS[r["record"]],
            symbols.index(r["symbol"]),
            r["local_time_us"],
            r["payload"].encode(),
        )
        for r in spec["records"]
    ]
    return recs, symbols


def written_files(backend: ModuleType) -> Dict[str, bytes]:
    """Each output file as the writer creates it: header row, then the rows."""
    recs, symbols = golden_input()
    res = backend.encode_records(recs, symbols)
    assert res.skipped == {}
    return {path: schema.header(kind) + data for path, kind, data in res.files}


def test_every_file_kind_has_a_golden_example(backend: ModuleType) -> None:
    kinds = {kind for _, kind, _ in backend.encode_records(*golden_input()).files}
    assert kinds == set(schema.KINDS)


def test_output_matches_the_golden_files(backend: ModuleType) -> None:
    got = written_files(backend)
    on_disk = {p.relative_to(GOLDEN).as_posix(): p.read_bytes() for p in GOLDEN.glob("*/*.csv")}
    assert sorted(got) == sorted(on_disk)
    for path, data in got.items():
        assert data == on_disk[path], path


def test_data_format_doc_shows_the_golden_files() -> None:
    """docs/data-format.md's examples are these files, byte for byte."""
    doc = (Path(__file__).parent.parent / "docs" / "data-format.md").read_text(encoding="utf-8")
    for path in sorted(GOLDEN.glob("*/*.csv")):
        assert "```csv\n" + path.read_text(encoding="utf-8") + "```\n" in doc, path.name
