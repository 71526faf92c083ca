"""Book replay from the files: the real recording rebuilt exactly, resyncs,
checks against snapshots and samples, queries by time and update id, and the
same steps on both backends."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Dict, List, Tuple

import numpy as np
import pytest
from contract_data import (
    CRYPTOFEED_DAY,
    CRYPTOFEED_SYMBOLS,
    Outage,
    SyntheticMarket,
    cryptofeed_frames,
    cryptofeed_snapshots,
    write_cryptofeed,
)

from binance_streamer.read import BookReplay

SYM = "BTCUSDT"


@pytest.fixture(scope="module")
def cf_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cf")
    write_cryptofeed(root)
    return root


@pytest.fixture(scope="module")
def syn_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("syn")
    SyntheticMarket(symbol=SYM, seconds=200, outages=[Outage(118, 123)]).write(root)
    return root


def textbook_book(symbol: str) -> Tuple[Dict[float, float], Dict[float, float], int]:
    """The exchange's documented algorithm on the raw messages, with plain dicts."""
    body = next(b for _, s, b in cryptofeed_snapshots() if s == symbol)
    bids = {float(p): float(q) for p, q in body["bids"]}
    asks = {float(p): float(q) for p, q in body["asks"]}
    last = body["lastUpdateId"]
    synced = False
    for _, d in cryptofeed_frames():
        if d["e"] != "depthUpdate" or d["s"] != symbol or d["u"] < last:
            continue
        if synced:
            assert d["pu"] == last
        else:
            assert d["U"] <= last <= d["u"]
            synced = True
        for side, levels in ((bids, d["b"]), (asks, d["a"])):
            for p, q in levels:
                if float(q) == 0:
                    side.pop(float(p), None)
                else:
                    side[float(p)] = float(q)
        last = d["u"]
    return bids, asks, last


@pytest.mark.parametrize("symbol", CRYPTOFEED_SYMBOLS)
def test_real_recording_replays_to_the_textbook_book(cf_dir: Path, backend: ModuleType, symbol: str) -> None:
    steps = list(BookReplay(cf_dir, symbol, CRYPTOFEED_DAY, backend=backend))
    kinds = Counter((s.kind, s.status) for s in steps)
    assert kinds[("snapshot", "resync")] == 1
    assert kinds[("diff", "synced")] == 1
    assert kinds[("diff", "gap")] == 0 and kinds[("diff", "unbridged")] == 0
    # Everything before the snapshot was buffered, everything after applied.
    statuses = [s.status for s in steps if s.kind == "diff"]
    first_sync = statuses.index("synced")
    assert set(statuses[:first_sync]) <= {"buffered"} and set(statuses[first_sync + 1 :]) == {"applied"}
    book = steps[-1].book
    bids, asks, last = textbook_book(symbol)
    assert book.last_update_id == last
    assert book.bids(None, True) == sorted(bids.items(), reverse=True)
    assert book.asks(None, True) == sorted(asks.items())


def test_book_at_update_id_and_time(cf_dir: Path, backend: ModuleType) -> None:
    replay = BookReplay(cf_dir, "SUSHIUSDT", CRYPTOFEED_DAY, backend=backend)
    states = [
        (s.update_id, s.event_time_ms, s.book.bids(5), s.book.asks(5))
        for s in replay
        if s.kind == "diff" and s.book.synced
    ]
    for uid, e, bids, asks in (states[0], states[100], states[-1]):
        at = replay.book_at(update_id=uid)
        assert (at.last_update_id, at.bids(5), at.asks(5)) == (uid, bids, asks)
        at = replay.book_at(event_time_ms=e)
        assert at.last_update_id >= uid  # the last update at that millisecond
    before = replay.book_at(update_id=states[0][0] - 1)
    assert not before.synced
    with pytest.raises(ValueError, match="exactly one of"):
        replay.book_at()


def test_top_of_book(cf_dir: Path, backend: ModuleType) -> None:
    tob = BookReplay(cf_dir, "CTKUSDT", CRYPTOFEED_DAY, backend=backend).top_of_book()
    last = next(b for _, s, b in cryptofeed_snapshots() if s == "CTKUSDT")["lastUpdateId"]
    live = [
        d
        for _, d in cryptofeed_frames()
        if d["e"] == "depthUpdate" and d["s"] == "CTKUSDT" and d["u"] >= last
    ]
    assert tob["final_update_id"].tolist() == [d["u"] for d in live]
    assert (tob["bid_price"] < tob["ask_price"]).all()
    assert (np.diff(tob["event_time_ms"]) >= 0).all() and (np.diff(tob["final_update_id"]) > 0).all()
    assert tob.dtype["final_update_id"] == np.int64 and tob.dtype["bid_price"] == np.float64


def test_synthetic_checks_and_resync(syn_dir: Path, backend: ModuleType) -> None:
    steps = list(BookReplay(syn_dir, SYM, "20240101", "20240102", backend=backend))
    kinds = Counter((s.kind, s.status) for s in steps)
    # Start and after the outage: resync. Every minute: a snapshot that agrees.
    # Every 5 s: a top-N sample that agrees.
    assert kinds[("snapshot", "resync")] == 2
    assert kinds[("snapshot", "match")] == 2  # at 60 s and 180 s (120 s fell in the outage)
    # Those snapshots' lastUpdateId falls between two updates of the symbol.
    us = {s.update_id for s in steps if s.kind == "diff"}
    assert all(s.update_id not in us for s in steps if s.status == "match" and s.kind == "snapshot")
    assert kinds[("sample", "match")] >= 35 and kinds[("sample", "mismatch")] == 0
    assert kinds[("snapshot", "mismatch")] == 0 and kinds[("diff", "gap")] == 0


def _edit(path: Path, line: int, col: int, value: str) -> str:
    rows = path.read_text().splitlines(keepends=True)
    fields = rows[line - 1].rstrip("\n").split(",")
    old, fields[col] = fields[col], value
    rows[line - 1] = ",".join(fields) + "\n"
    path.write_text("".join(rows))
    return old


def test_deleted_update_gives_a_gap_then_a_resync(syn_dir: Path, tmp_path: Path, backend: ModuleType) -> None:
    root = tmp_path / "d"
    shutil.copytree(syn_dir, root)
    path = root / SYM / f"depth_{SYM}_20240101.csv"
    rows = path.read_text().splitlines(keepends=True)
    ids = [r.split(",")[5] for r in rows]
    i = 300
    while ids[i] == ids[i - 1]:
        i += 1
    j = i
    while ids[j] == ids[i]:
        j += 1
    path.write_text("".join(rows[:i] + rows[j:]))
    steps = list(BookReplay(root, SYM, "20240101", "20240102", backend=backend))
    statuses = [(s.kind, s.status) for s in steps]
    gap = statuses.index(("diff", "gap"))
    # Buffered until the next snapshot restarts the book.
    resync = statuses.index(("snapshot", "resync"), gap)
    assert set(statuses[gap + 1 : resync]) <= {("diff", "buffered"), ("sample", "skipped")}
    assert statuses[resync + 1] == ("diff", "synced")
    assert statuses.count(("sample", "mismatch")) == 0


def test_altered_level_is_a_mismatch_then_the_replay_restarts(
    syn_dir: Path, tmp_path: Path, backend: ModuleType
) -> None:
    root = tmp_path / "d"
    shutil.copytree(syn_dir, root)
    snap = root / SYM / f"{SYM}_depth_snapshot_20240101.csv"
    # The first snapshot's best bid quantity: the replay starts from a wrong book.
    old = _edit(snap, 2, 7, "999.999")
    steps = list(BookReplay(root, SYM, "20240101", "20240102", backend=backend))
    bad = [s for s in steps if s.status == "mismatch"]
    assert bad, "the wrong quantity must be seen"
    assert (
        bad[0].kind == "sample"
        and "quantity 999.999" in bad[0].mismatch
        and f"sample {float(old):g}" in bad[0].mismatch
    )
    # Samples never restart the book; the next snapshot does (if a diff has not
    # already overwritten the level), after which all agree.
    first = steps.index(bad[0])
    check = next(i for i, s in enumerate(steps) if i > first and s.kind == "snapshot")
    assert all(s.status != "mismatch" for s in steps[check + 1 :])


def test_chunk_boundaries_do_not_change_the_steps(syn_dir: Path, backend: ModuleType) -> None:
    def trace(chunk_bytes: int) -> List[Tuple[str, str, int]]:
        replay = BookReplay(syn_dir, SYM, "20240101", "20240102", backend=backend, chunk_bytes=chunk_bytes)
        return [(s.kind, s.status, s.update_id, s.book.checksum(10)) for s in replay]  # type: ignore[misc]

    assert trace(997) == trace(1 << 24)


def test_backends_replay_identically(syn_dir: Path, native_mod: ModuleType, python_mod: ModuleType) -> None:
    def trace(mod: ModuleType) -> List[tuple]:
        return [
            (s.kind, s.status, s.update_id, s.mismatch, s.book.checksum(20), s.book.mid())
            for s in BookReplay(syn_dir, SYM, "20240101", "20240102", backend=mod)
        ]

    assert trace(native_mod) == trace(python_mod)


def test_no_depth_files_is_an_empty_replay(tmp_path: Path, backend: ModuleType) -> None:
    replay = BookReplay(tmp_path, SYM, "20240101", backend=backend)
    assert list(replay) == []
    assert replay.top_of_book().shape == (0,)
    assert not replay.book_at(update_id=5).synced
