"""Which recorded gap row explains a hole in the data.

A hole is found between two rows of a stream: the last row before it and the
first row after it, with their local receive times ``t_before`` and
``t_after``. The collector writes a gap row when it learns data may be missing,
stamped with its local time (see collector/gaps.py and the call sites):

- reconnect, stall, stream_silent, resync, malformed_frame, sequence_break: at
  the moment of the outage or the break, i.e. between the two rows, or just
  after the first row after it (a sequence break is noticed on that row);
- ring_full_dropped: once the ring has room again, possibly well after the
  hole, but its detail names the local times of the first and last record
  dropped, which is the span used;
- partial_row_repaired: at the writer's restart, naming the repaired file.

A gap row explains a hole when its stream covers the hole's file (the
stream's own name, ``*`` for records of every stream, or the file's name) and

1. its ids are the hole's: ``last_id`` is the id before the hole (the previous
   ``u`` of a depth update, the last aggTrade id) and ``next_id``, when
   recorded, the id after it; ids are exact, so the clocks do not matter; or
2. failing that, its time (or span) falls within
   ``[t_before - slack, t_after + slack]`` and its ``last_id``, when recorded,
   does not name another hole. The nearest such row wins.

A row explains one hole per stream: two holes need two rows (one outage
leaves one hole per stream), except a ring_full_dropped row, whose span may
cover several. The slack (default 10 s) absorbs the delay between noticing and
recording; a gap row far from a hole never explains it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Set, Tuple

import numpy as np

from binance_streamer.collector import gaps as collector_gaps
from binance_streamer.read.files import DataFile
from binance_streamer.read.load import MISSING

DEFAULT_SLACK_US = 10_000_000
_SPAN = re.compile(r"local_time_us (\d+) and (\d+)")

# Every reason the collector writes: the constants of collector/gaps.py.
KNOWN_REASONS = frozenset(v for k, v in vars(collector_gaps).items() if k.isupper() and isinstance(v, str))


@dataclass(frozen=True)
class GapRow:
    local_time_us: int
    stream: str
    reason: str
    last_id: int
    next_id: int
    detail: str
    lo_us: int
    hi_us: int
    where: str  # "<file>:<line>", for the report


def stream_family(stream: str) -> str:
    """The file a gap row's stream writes to, as ``kind`` or ``kline_<interval>``;
    ``*`` for every stream; the stream text itself when it names a file."""
    if stream == "*" or stream.endswith(".csv"):
        return stream
    if stream.startswith("depth"):
        return "depth"
    if stream.startswith("kline_"):
        return stream
    if stream.startswith("markPrice"):
        return "markprice"
    return {"aggTrade": "aggtrade", "trade": "trade", "bookTicker": "bookticker"}.get(stream, "?" + stream)


def file_family(f: DataFile) -> str:
    if f.kind == "kline":
        return f"kline_{f.interval}"
    if f.kind == "snapshot":
        return "depth"
    return f.kind


class GapIndex:
    """A symbol's gap rows, by the stream family they cover."""

    def __init__(self, slack_us: int = DEFAULT_SLACK_US):
        self.slack_us = slack_us
        self._by_family: Dict[str, List[GapRow]] = {}
        self._used: Set[Tuple[GapRow, str]] = set()

    def add_rows(self, rows: np.ndarray, lines: Sequence[int], file: DataFile) -> None:
        for row, line in zip(rows, lines):
            t = int(row["local_time_us"])
            lo = hi = t
            if row["reason"] == collector_gaps.RING_FULL:
                m = _SPAN.search(str(row["detail"]))
                if m:
                    lo, hi = int(m.group(1)), int(m.group(2))
            g = GapRow(
                t,
                str(row["stream"]),
                str(row["reason"]),
                int(row["last_id"]),
                int(row["next_id"]),
                str(row["detail"]),
                min(lo, hi),
                max(lo, hi),
                f"{file.path.name}:{line}",
            )
            self._by_family.setdefault(stream_family(g.stream), []).append(g)

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_family.values())

    def explain(
        self,
        file: DataFile,
        t_before_us: int,
        t_after_us: int,
        last_id: Optional[int] = None,
        next_id: Optional[int] = None,
    ) -> Optional[GapRow]:
        """The gap row that explains a hole in ``file``'s stream, if any (see above)."""
        family = file_family(file)
        candidates = [
            g
            for g in (
                self._by_family.get(family, [])
                + self._by_family.get("*", [])
                + self._by_family.get(file.path.name, [])
            )
            if (g, family) not in self._used or g.reason == collector_gaps.RING_FULL
        ]
        best: Optional[GapRow] = None
        if last_id is not None:
            exact = [g for g in candidates if g.last_id == last_id and g.next_id in (MISSING, next_id)]
            # Both ids recorded and equal beats "after last_id" only.
            exact.sort(key=lambda g: g.next_id != next_id)
            best = exact[0] if exact else None
        if best is None:
            lo = min(t_before_us, t_after_us)
            hi = max(t_before_us, t_after_us)
            near = [
                (max(g.lo_us - hi, lo - g.hi_us, 0), i, g)
                for i, g in enumerate(candidates)
                if last_id is None or g.last_id in (MISSING, last_id)
            ]
            near = [x for x in near if x[0] <= self.slack_us]
            best = min(near)[2] if near else None
        if best is not None:
            self._used.add((best, family))
        return best
