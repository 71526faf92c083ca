"""Replays of recorded Binance USDⓈ-M data (tests/data/SOURCES.md) through the
backend under test: the sync rules must hold with no false gap, and the levels must
match an independent textbook rebuild."""

from __future__ import annotations

import gzip
import json
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Dict, List, Tuple

CRYPTOFEED = "cryptofeed/sample_data/BINANCE_FUTURES"
BTCUSDT = "hftbacktest/examples/usdm/btcusdt_20240808_depth.gz"


def cryptofeed_events(data_dir: Path) -> List[Tuple[float, str, bool, bytes]]:
    """(receive time, symbol, is_snapshot, raw body) for the depth data, in receive order."""
    events = []
    with open(data_dir / f"{CRYPTOFEED}.http.0.0", "rb") as http:
        for line in filter(None, (raw.strip() for raw in http)):
            url, rest = line.split(b" -> ", 1)
            ts, body = rest.split(b": ", 1)
            symbol = url.split(b"symbol=")[1].split(b"&")[0].decode().lower()
            events.append((float(ts), symbol, True, body))
    with open(data_dir / f"{CRYPTOFEED}.ws.1.0", "rb") as ws:
        next(ws)  # the URL line
        for line in ws:
            ts, frame = line.rstrip(b"\n").split(b": ", 1)
            stream = json.loads(frame)["stream"]
            if "@depth" in stream:
                events.append((float(ts), stream.split("@")[0], False, frame))
    events.sort(key=lambda e: e[0])
    return events


def test_cryptofeed_capture_syncs_every_symbol_without_a_false_gap(
    backend: ModuleType, data_dir: Path
) -> None:
    books: Dict[str, object] = defaultdict(backend.OrderBook)
    seen: Dict[str, Counter] = defaultdict(Counter)
    for _, symbol, is_snapshot, body in cryptofeed_events(data_dir):
        book = books[symbol]
        result = book.apply_snapshot_bytes(body) if is_snapshot else book.apply_diff_bytes(body)
        seen[symbol][result[0]] += 1
    assert sorted(books) == ["akrousdt", "ctkusdt", "keepusdt", "sushiusdt"]
    for symbol, counts in seen.items():
        assert counts["gap"] == counts["unbridged"] == 0, (symbol, counts)
        assert counts["synced"] == 1, (symbol, counts)
        assert counts["applied"] > 100, (symbol, counts)
        book = books[symbol]
        assert book.synced
        assert Decimal(book.best_bid()[0]) < Decimal(book.best_ask()[0])


def test_cryptofeed_capture_bridges_on_the_documented_boundaries(backend: ModuleType, data_dir: Path) -> None:
    """SUSHIUSDT's first applicable diff has U == lastUpdateId; the other three
    symbols' have u == lastUpdateId, which must be kept (the spot rule drops it)."""
    events = cryptofeed_events(data_dir)
    for _, symbol, _, body in (e for e in events if e[2]):
        book = backend.OrderBook()
        status, last_update_id, _ = book.apply_snapshot_bytes(body)
        assert status == "loaded"
        bridge = None
        for _, s, is_snapshot, frame in events:
            if s != symbol or is_snapshot:
                continue
            result = book.apply_diff_bytes(frame)
            if result[0] == "synced":
                bridge = backend.depth_ids(frame)
            else:
                assert result[0] == ("applied" if bridge else "stale"), (symbol, result)
        assert bridge is not None, symbol
        first, last, _ = bridge
        if symbol == "sushiusdt":
            assert first == last_update_id
        else:
            assert last == last_update_id


def btcusdt_bodies(data_dir: Path) -> List[bytes]:
    with gzip.open(data_dir / BTCUSDT, "rb") as lines:
        return [line.split(b" ", 1)[1].rstrip(b"\n") for line in lines]


def test_btcusdt_depth0ms_capture_has_no_false_gap(backend: ModuleType, data_dir: Path) -> None:
    """1 snapshot among 2,000 @depth@0ms diffs; the 5th-oldest buffered diff bridges it."""
    book = backend.OrderBook()
    statuses = []
    for body in btcusdt_bodies(data_dir):
        if body.startswith(b'{"lastUpdateId"'):
            statuses.append(book.apply_snapshot_bytes(body)[0])
        else:
            statuses.append(book.apply_diff_bytes(body)[0])
            if book.synced:
                assert Decimal(book.best_bid()[0]) < Decimal(book.best_ask()[0])
    assert Counter(statuses) == {"buffered": 6, "synced": 1, "applied": 1994}
    assert statuses[6] == "synced"


def test_btcusdt_levels_match_a_textbook_rebuild(backend: ModuleType, data_dir: Path) -> None:
    """An independent Decimal-keyed rebuild (drop u < L, then apply in order) ends
    with exactly the same levels."""
    bodies = btcusdt_bodies(data_dir)
    at = next(i for i, b in enumerate(bodies) if b.startswith(b'{"lastUpdateId"'))
    snapshot = json.loads(bodies[at])
    sides: Tuple[Dict[Decimal, str], Dict[Decimal, str]] = ({}, {})
    for side, key in zip(sides, ("bids", "asks")):
        side.update((Decimal(p), q) for p, q in snapshot[key])
    diffs = [json.loads(b)["data"] for i, b in enumerate(bodies) if i != at]
    for diff in (d for d in diffs if d["u"] >= snapshot["lastUpdateId"]):
        for side, key in zip(sides, ("b", "a")):
            for price, qty in diff[key]:
                if Decimal(qty) == 0:
                    side.pop(Decimal(price), None)
                else:
                    side[Decimal(price)] = qty

    book = backend.OrderBook()
    for i, body in enumerate(bodies):
        if i == at:
            book.apply_snapshot_bytes(body)
        else:
            book.apply_diff_bytes(body)
    bids = [(str(p), sides[0][p]) for p in sorted(sides[0], reverse=True)]
    asks = [(str(p), sides[1][p]) for p in sorted(sides[1])]
    assert book.bids() == bids
    assert book.asks() == asks
    assert book.bid_count > 2000 and book.ask_count > 2000  # grew past the 1000-level snapshot
