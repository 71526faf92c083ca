"""The collector: ``run(cfg)`` is what ``python -m binance_streamer`` does."""

from __future__ import annotations

import logging

from binance_streamer import logs, native
from binance_streamer.config import Config

log = logging.getLogger("binance_streamer")


def run(cfg: Config, verbose: bool = False, backend: str | None = None) -> int:
    """Record the configured symbols until run_duration ends or a signal arrives.

    Returns the process exit code: 0 after a clean stop, 1 on a runtime failure.
    """
    logs.setup_main(cfg.log_file, cfg.logging.level, cfg.logging.max_bytes, cfg.logging.backup_count, verbose)
    try:
        module = native.load(backend, cfg.performance.backend)
    except native.BackendError as exc:
        log.error("%s", exc)
        return 1
    from binance_streamer.collector.manager import AlreadyRunning, ProcessManager

    try:
        return ProcessManager(cfg, native.name_of(module), verbose).run()
    except AlreadyRunning as exc:
        log.error("%s", exc)
        return 1
