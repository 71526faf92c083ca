"""The writer's batch journal: exactly-once files on top of at-least-once rings.

A consumer that dies between writing a batch and committing it in the ring
would see the batch again after a restart. Around every batch the writer
records, atomically (write + rename):

    begin: the ring positions the batch ends at, and each touched file's size before it
    done:  the same positions, once every row is written and flushed

On restart, ``begin`` means the batch may be half-written: the files are cut
back to their recorded sizes and the batch is written again from the ring.
``done`` means it was written: records up to those positions are skipped.
(This protects against the process dying, not the machine: there is no fsync.)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional


@dataclass
class JournalEntry:
    state: str  # "begin" | "done"
    positions: Dict[str, int] = field(default_factory=dict)  # ring name -> end position
    sizes: Dict[str, int] = field(default_factory=dict)  # rel path -> size before the batch


class Journal:
    def __init__(self, path: Path):
        self.path = path
        self._tmp = path.with_suffix(".tmp")

    def read(self) -> Optional[JournalEntry]:
        try:
            raw = json.loads(self.path.read_text())
            return JournalEntry(raw["state"], dict(raw["positions"]), dict(raw["sizes"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def write(self, entry: JournalEntry) -> None:
        self._tmp.write_text(
            json.dumps({"state": entry.state, "positions": entry.positions, "sizes": entry.sizes})
        )
        os.replace(self._tmp, self.path)

    def clear(self) -> None:
        for p in (self.path, self._tmp):
            try:
                p.unlink()
            except FileNotFoundError:
                pass
