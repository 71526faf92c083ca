"""Per-process statistics: every child writes its own small JSON file about
once a second; the main process merges them into the status file that
``--status`` reads and the Prometheus endpoint serves. Files (not pipes) so a
crashed child's last figures survive it and no child ever blocks on the main
process."""

from __future__ import annotations

import json
import os
import resource
import time
from pathlib import Path
from typing import Any, Dict


def stats_dir(runtime_root: Path) -> Path:
    return runtime_root / "stats"


def rss_bytes() -> int:
    """Current resident set size of this process."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class StatsFile:
    def __init__(self, runtime_root: Path, role: str, interval: float = 1.0):
        self.dir = stats_dir(runtime_root)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / f"{role}.json"
        self.tmp = self.dir / f".{role}.json.tmp"
        self.role = role
        self.interval = interval
        self._next = 0.0

    def due(self) -> bool:
        return time.monotonic() >= self._next

    def write(self, data: Dict[str, Any]) -> None:
        self._next = time.monotonic() + self.interval
        data = dict(data, role=self.role, pid=os.getpid(), time=time.time(), rss=rss_bytes())
        self.tmp.write_text(json.dumps(data, separators=(",", ":")))
        os.replace(self.tmp, self.path)


def read_all(runtime_root: Path) -> Dict[str, Dict[str, Any]]:
    out: Dict[str, Dict[str, Any]] = {}
    d = stats_dir(runtime_root)
    if not d.is_dir():
        return out
    for p in d.glob("*.json"):
        try:
            out[p.stem] = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
    return out
