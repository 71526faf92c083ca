"""Entry points of the child processes (started with the 'spawn' method, so
each one imports only what it needs and inherits no threads or locks)."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Any, Dict, List

from binance_streamer import logs, native
from binance_streamer.config import Config


def _child_setup(role: str, log_queue: Any, level: int, backend_name: str) -> Any:
    # Ctrl-C reaches the whole process group; only the main process decides
    # how to stop, and tells the children through their stop events.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    logs.setup_child(log_queue, role, level)
    return native.load(backend_name)


def _attach(backend: Any, names: List[str]) -> Dict[str, Any]:
    return {name: backend.Ring.attach(name) for name in names}


def writer_main(
    cfg: Config,
    symbols: List[str],
    ring_names: List[str],
    runtime_root: Path,
    stop: Any,
    log_queue: Any,
    level: int,
    backend_name: str,
) -> None:
    backend = _child_setup("writer", log_queue, level, backend_name)
    from binance_streamer.collector.writer import Writer

    w = Writer(
        backend,
        _attach(backend, ring_names),
        symbols,
        cfg.output_dir,
        runtime_root,
        cfg.performance.batch_size,
        cfg.performance.flush_interval,
        cfg.storage.keep_all_klines,
        cfg.monitoring.status_interval,
    )
    w.run(stop)
    logging.getLogger(__name__).info("writer stopped: %d records in %d batches", w.records, w.batches)


def book_main(
    cfg: Config,
    symbols: List[str],
    in_names: List[str],
    out_name: str,
    runtime_root: Path,
    stop: Any,
    log_queue: Any,
    level: int,
    backend_name: str,
    resync_epoch: Any,
) -> None:
    backend = _child_setup("orderbook", log_queue, level, backend_name)
    from binance_streamer import bbo
    from binance_streamer.collector.book_manager import BookManager

    with resync_epoch.get_lock():
        resync_epoch.value += 1  # a (re)started manager has empty books: workers resync
    board = bbo.open_board(cfg.output_dir)
    m = BookManager(
        backend,
        _attach(backend, in_names),
        backend.Ring.attach(out_name),
        symbols,
        board,
        cfg.orderbook.snapshot_interval,
        cfg.orderbook.depth_levels,
        runtime_root,
        cfg.monitoring.status_interval,
    )
    m.run(stop)


def worker_main(
    cfg: Config,
    plan: Any,
    index: int,
    writer_ring: str,
    book_ring: str,
    runtime_root: Path,
    stop: Any,
    log_queue: Any,
    level: int,
    backend_name: str,
    resync_epoch: Any,
) -> None:
    wplan = plan.workers[index]
    backend = _child_setup(wplan.role, log_queue, level, backend_name)
    from binance_streamer.collector.worker import Worker

    w = Worker(
        cfg,
        plan,
        wplan,
        backend,
        backend.Ring.attach(writer_ring),
        backend.Ring.attach(book_ring),
        runtime_root,
        resync_epoch,
    )
    code = asyncio.run(w.run(stop))
    raise SystemExit(code)
