"""Entry points of the child processes (started with the 'spawn' method, so
each one imports only what it needs and inherits no threads or locks)."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List

from binance_streamer import logs, native
from binance_streamer.config import Config

EXIT_GAVE_UP = 3  # a worker exhausted network.max_retries


@dataclass(frozen=True)
class ChildEnv:
    """What every child gets from the ProcessManager."""

    cfg: Config
    runtime_root: Path
    stop: Any  # multiprocessing.Event: finish (drain) and exit
    log_queue: Any
    log_level: int
    backend_name: str

    def setup(self, role: str) -> Any:
        """Signals, logging and the backend module for a child process."""
        # Ctrl-C reaches the whole process group; only the main process decides
        # how to stop, and tells the children through their stop events.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        logs.setup_child(self.log_queue, role, self.log_level)
        return native.load(self.backend_name)


def _attach(backend: Any, names: List[str]) -> Dict[str, Any]:
    return {name: backend.Ring.attach(name) for name in names}


def writer_main(env: ChildEnv, symbols: List[str], ring_names: List[str]) -> None:
    backend = env.setup("writer")
    from binance_streamer.collector.writer import Writer

    cfg = env.cfg
    w = Writer(
        backend,
        _attach(backend, ring_names),
        symbols,
        cfg.output_dir,
        env.runtime_root,
        cfg.performance.batch_size,
        cfg.performance.flush_interval,
        cfg.storage.keep_all_klines,
        cfg.monitoring.status_interval,
    )
    w.run(env.stop)
    logging.getLogger(__name__).info("writer stopped: %d records in %d batches", w.records, w.batches)


def book_main(env: ChildEnv, symbols: List[str], in_names: List[str], out_name: str) -> None:
    backend = env.setup("orderbook")
    from binance_streamer import bbo
    from binance_streamer.collector.book_manager import BookManager

    cfg = env.cfg
    m = BookManager(
        backend,
        _attach(backend, in_names),
        backend.Ring.attach(out_name),
        symbols,
        bbo.open_board(cfg.output_dir),
        cfg.orderbook.snapshot_interval,
        cfg.orderbook.depth_levels,
        env.runtime_root,
        cfg.monitoring.status_interval,
    )
    m.run(env.stop)


def worker_main(
    env: ChildEnv, plan: Any, index: int, writer_ring: str, book_ring: str, resync_epoch: Any
) -> None:
    wplan = plan.workers[index]
    backend = env.setup(wplan.role)
    from binance_streamer.collector.worker import Worker

    w = Worker(
        env.cfg,
        plan,
        wplan,
        backend,
        backend.Ring.attach(writer_ring),
        backend.Ring.attach(book_ring),
        env.runtime_root,
        resync_epoch,
    )
    gave_up = asyncio.run(w.run(env.stop))
    raise SystemExit(EXIT_GAVE_UP if gave_up else 0)
