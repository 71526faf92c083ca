"""Logging: a rotating file plus the console, every record naming its process
role (main, writer, orderbook, worker-N) and symbol.

Only the main process owns the handlers; child processes send their records
through a multiprocessing queue (``QueueHandler``), so log rotation never
races between processes.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path
from typing import Any, Optional

FORMAT = "%(asctime)s %(levelname)-7s [%(role)s %(symbol)s] %(name)s: %(message)s"
_role = "main"


class _Context(logging.Filter):
    """Fills ``role`` and ``symbol`` so every formatter can name them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "role"):
            record.role = _role
        if not hasattr(record, "symbol"):
            record.symbol = "-"
        return True


def setup_main(
    log_file: Optional[Path], level: str, max_bytes: int, backup_count: int, verbose: bool = False
) -> None:
    """Configure the root logger of the main process (console + rotating file)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.setLevel(logging.DEBUG if verbose else getattr(logging, level))
    formatter = logging.Formatter(FORMAT)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(
            logging.handlers.RotatingFileHandler(
                log_file, maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8"
            )
        )
    for h in handlers:
        h.setFormatter(formatter)
        h.addFilter(_Context())
        root.addHandler(h)


def setup_child(queue: Any, role: str, level: int) -> None:
    """Configure a child process: records go to the main process through ``queue``."""
    global _role
    _role = role
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.setLevel(level)
    handler = logging.handlers.QueueHandler(queue)
    handler.addFilter(_Context())
    root.addHandler(handler)


def listen(queue: Any) -> logging.handlers.QueueListener:
    """Start forwarding child records from ``queue`` to the main process's handlers."""
    listener = logging.handlers.QueueListener(
        queue, *logging.getLogger().handlers, respect_handler_level=True
    )
    listener.start()
    return listener


def for_symbol(logger: logging.Logger, symbol: str) -> logging.LoggerAdapter:  # type: ignore[type-arg]
    """A logger whose records name ``symbol``."""
    return logging.LoggerAdapter(logger, {"symbol": symbol})
