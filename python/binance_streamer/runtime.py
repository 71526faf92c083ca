"""Where a running collector keeps its PID file and status file, and how other
processes (``--status``, a second collector) read them.

Both live in ``<output_directory>/.binance_streamer/``: one collector per output
directory, so the output directory is the natural key.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

from binance_streamer import shm


@dataclass(frozen=True)
class RuntimePaths:
    root: Path

    @property
    def pid_file(self) -> Path:
        return self.root / "collector.pid"

    @property
    def status_file(self) -> Path:
        return self.root / "status.json"


def paths_for(output_dir: Path) -> RuntimePaths:
    return RuntimePaths(output_dir / ".binance_streamer")


def running_pid(paths: RuntimePaths) -> Optional[int]:
    """PID of the collector that owns this output directory, or None.

    The collector holds an exclusive ``flock`` on its PID file for its whole
    life, so a PID file left by a killed run (whose PID may since have been
    reused by an unrelated process) does not count."""
    try:
        fd = os.open(paths.pid_file, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # locked: a collector is running
        else:
            return None
        try:
            pid = int(os.read(fd, 32).split()[0])
        except (ValueError, IndexError):
            return None
        return pid if pid > 0 and shm.pid_alive(pid) else None
    finally:
        os.close(fd)


def read_status(paths: RuntimePaths) -> Optional[Dict[str, Any]]:
    """The live status of a running collector, or None when none is running."""
    pid = running_pid(paths)
    if pid is None:
        return None
    try:
        status = json.loads(paths.status_file.read_text())
    except (OSError, ValueError):
        return {"pid": pid}
    return status if isinstance(status, dict) else {"pid": pid}


def write_status(paths: RuntimePaths, status: Dict[str, Any]) -> None:
    """Atomically replace the status file (readers never see half a file)."""
    tmp = paths.status_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(status, separators=(",", ":")))
    os.replace(tmp, paths.status_file)
