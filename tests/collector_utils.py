"""Helpers for end-to-end collector tests: write a config pointing at a local
simulator, run ``python -m binance_streamer`` as a real process, read the files."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

import yaml

from binance_streamer import schema


def write_config(
    tmp: Path,
    ws: str,
    rest: str,
    symbols: Sequence[str],
    streams: Sequence[str] = ("aggTrade", "depth@0ms", "kline_1m"),
    duration: float = 8,
    workers: int = 2,
    **overrides: Dict[str, Any],
) -> Path:
    cfg: Dict[str, Any] = {
        "mode": "test",
        "modes": {
            "test": {
                "run_duration": duration,
                "max_workers": workers,
                "symbols": [{"symbol": s, "streams": list(streams)} for s in symbols],
            }
        },
        "performance": {"batch_size": 500, "flush_interval": 0.2},
        "storage": {"output_directory": str(tmp / "data")},
        "network": {
            "ws_base_url": ws,
            "rest_base_url": rest,
            "connect_timeout": 3,
            "reconnect_delay": 0.2,
            "reconnect_max_delay": 1.0,
            "stall_timeout": 3,
        },
        "orderbook": {"snapshot_interval": 1, "depth_levels": 5},
        "logging": {"file": str(tmp / "collector.log"), "level": "INFO"},
        "monitoring": {"status_interval": 0.5},
    }
    for section, values in overrides.items():
        cfg.setdefault(section, {}).update(values)
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def start(config: Path, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ)
    return subprocess.Popen(
        [sys.executable, "-m", "binance_streamer", "-c", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 60) -> str:
    out, _ = proc.communicate(timeout=timeout)
    return out


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM, timeout: float = 60) -> str:
    proc.send_signal(sig)
    return finish(proc, timeout)


def count_rows(data: Path, symbol: str, prefix: str) -> int:
    """Complete rows written so far to a symbol's files of one kind (headers excluded)."""
    n = 0
    for p in files(data, symbol, prefix):
        n += max(0, p.read_bytes().count(b"\n") - 1)
    return n


def log_count(tmp: Path, text: str) -> int:
    """How many lines of the collector's log file contain ``text``."""
    try:
        return sum(text in line for line in (tmp / "collector.log").read_text().splitlines())
    except FileNotFoundError:
        return 0


def wait_for(predicate: Any, timeout: float = 20, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")


def files(data: Path, symbol: str, prefix: str) -> List[Path]:
    return sorted((data / symbol).glob(f"{prefix}*.csv"))


def rows(paths: Iterable[Path], kind: str) -> List[Dict[str, str]]:
    """Every row of the files, checking the header and that no row is partial."""
    out: List[Dict[str, str]] = []
    for p in paths:
        raw = p.read_bytes()
        assert raw.endswith(b"\n"), f"{p}: last row is partial"
        reader = csv.reader(raw.decode().splitlines())
        header = next(reader)
        assert tuple(header) == schema.COLUMNS[kind], f"{p}: header {header}"
        for r in reader:
            assert len(r) == len(header), f"{p}: row {r}"
            out.append(dict(zip(header, r)))
    return out


def gap_rows(data: Path, symbol: str) -> List[Dict[str, str]]:
    return rows(files(data, symbol, "gaps_"), "gaps")


def shm_leftovers(pid: Optional[int] = None) -> List[str]:
    names = [n for n in os.listdir("/dev/shm") if n.startswith("bstream-")]
    if pid is not None:
        names = [n for n in names if n.startswith(f"bstream-{pid}-")]
    return names


def replay_book(backend: Any, data: Path, symbol: str) -> Any:
    """The order book rebuilt from the files alone, with the package's own
    replay (``read.BookReplay``: snapshots and depth rows through the backend's
    OrderBook, restarting at every recorded resync), after the last update."""
    from binance_streamer import read

    days = sorted({p.name[-12:-4] for p in files(data, symbol, "depth_")})
    assert days, f"no depth files for {symbol}"
    replay = read.BookReplay(data, symbol, days[0], days[-1], backend=backend, max_buffered=100_000)
    return replay.book_at(update_id=2**63 - 1)


def assert_book_matches_truth(book: Any, sim: Any, symbol: str) -> None:
    """The book rebuilt from the files equals the simulator's true book at its update id."""
    assert book.synced, f"the book replayed from {symbol}'s files is not in sync (state {book.state})"
    truth_book = sim.truth.book_at(symbol, book.last_update_id)
    bids = dict(book.bids())
    asks = dict(book.asks())
    norm = lambda d: {float(p): float(q) for p, q in d.items()}  # noqa: E731 - texts may differ in zeros
    assert norm(bids) == norm(truth_book.bids)
    assert norm(asks) == norm(truth_book.asks)


def holes_explained(ids: List[int], gaps: List[Dict[str, str]], stream: str = "aggTrade") -> List[tuple]:
    """aggTrade id holes that no gap row (last_id, next_id) covers."""
    covered = [
        (int(g["last_id"]), int(g["next_id"]))
        for g in gaps
        if g["stream"] == stream and g["last_id"] and g["next_id"]
    ]
    bad = []
    for a, b in zip(ids, ids[1:]):
        if b != a + 1 and not any(lo <= a and b <= hi for lo, hi in covered):
            bad.append((a, b))
    return bad
