"""The writer's open files: per-symbol per-day CSV files with a header row,
appended in whole rows, with a bounded cache of open handles.

A file whose last line was cut by a crash is repaired (truncated back to its
last complete row) the first time this process opens it, before anything is
appended; the repair is reported so the writer records it as a gap row.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Dict, List

from binance_streamer import schema

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Repair:
    rel_path: str
    cut_bytes: int


class FileSet:
    def __init__(self, root: Path, max_open: int = 256, buffer_size: int = 1 << 20):
        self.root = root
        self.max_open = max_open
        self.buffer_size = buffer_size
        self._open: OrderedDict[str, BinaryIO] = OrderedDict()
        self._sizes: Dict[str, int] = {}
        self._checked: set[str] = set()
        self.repairs: List[Repair] = []

    def size(self, rel_path: str) -> int:
        """Current size of a file (0 if it does not exist yet)."""
        if rel_path in self._sizes:
            return self._sizes[rel_path]
        try:
            return (self.root / rel_path).stat().st_size
        except FileNotFoundError:
            return 0

    def append(self, rel_path: str, kind: str, rows: bytes) -> None:
        """Append whole rows (each ending in a newline) to ``rel_path``."""
        f = self._handle(rel_path, kind)
        f.write(rows)
        self._sizes[rel_path] += len(rows)

    def flush(self) -> None:
        for f in self._open.values():
            f.flush()

    def close_all(self) -> None:
        for f in self._open.values():
            f.close()
        self._open.clear()
        self._sizes.clear()

    def truncate(self, rel_path: str, size: int) -> None:
        """Undo a half-done batch: cut ``rel_path`` back to ``size`` bytes."""
        f = self._open.pop(rel_path, None)
        if f is not None:
            f.close()
        self._sizes.pop(rel_path, None)
        path = self.root / rel_path
        if not path.exists():
            return
        if size == 0:
            path.unlink()
        elif path.stat().st_size > size:
            os.truncate(path, size)

    def repair_all(self) -> None:
        """Repair every data file under the root (a crash can leave any open file cut)."""
        for path in sorted(self.root.glob("*/*.csv")):
            rel = f"{path.parent.name}/{path.name}"
            self._repair(rel, path)
            self._checked.add(rel)

    def _handle(self, rel_path: str, kind: str) -> BinaryIO:
        f = self._open.get(rel_path)
        if f is not None:
            self._open.move_to_end(rel_path)
            return f
        path = self.root / rel_path
        path.parent.mkdir(parents=True, exist_ok=True)
        if rel_path not in self._checked:
            self._repair(rel_path, path)
            self._checked.add(rel_path)
        f = open(path, "ab", buffering=self.buffer_size)  # noqa: SIM115 - cached handle
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            header = schema.header(kind)
            f.write(header)
            size = len(header)
        self._sizes[rel_path] = size
        self._open[rel_path] = f
        while len(self._open) > self.max_open:
            _, old = self._open.popitem(last=False)
            old.close()
        return f

    def _repair(self, rel_path: str, path: Path) -> None:
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return
        if size == 0:
            return
        with open(path, "rb+") as f:
            f.seek(size - 1)
            if f.read(1) == b"\n":
                return
            # Find the last newline; everything after it is a row cut short.
            pos = size
            keep = 0
            while pos > 0:
                step = min(65536, pos)
                pos -= step
                f.seek(pos)
                chunk = f.read(step)
                nl = chunk.rfind(b"\n")
                if nl >= 0:
                    keep = pos + nl + 1
                    break
            f.truncate(keep)
        cut = size - keep
        log.warning("repaired %s: cut a partial last row of %d bytes left by an earlier crash", rel_path, cut)
        self.repairs.append(Repair(rel_path, cut))
