"""Finding the data files of a symbol, kind and date range.

File names come from ``schema.file_name``; a symbol's files live in
``<data_dir>/<SYMBOL>/``. Names are parsed with the directory's symbol in hand,
because symbols may themselves contain underscores (``BTCUSDT_250926``).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Union

from binance_streamer import schema

DayLike = Union[str, dt.date]

_DAY = re.compile(r"^\d{8}$")
# Kinds whose file name is "<kind>_<SYMBOL>_<YYYYMMDD>.csv".
_PLAIN_KINDS = tuple(k for k in schema.KINDS if k not in ("kline", "snapshot"))
_SNAPSHOT_SUFFIX = "_depth_snapshot_"


@dataclass(frozen=True, order=True)
class DataFile:
    """One daily data file. Ordered by (symbol, kind, interval, day) so sorting
    a list of them gives each stream's days in order."""

    symbol: str
    kind: str
    interval: str
    day: str
    path: Path

    @property
    def date(self) -> dt.date:
        return parse_day(self.day)


def parse_day(value: DayLike) -> dt.date:
    """A ``YYYYMMDD`` string (or a date) as a date; a clear ValueError otherwise."""
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not _DAY.match(value):
        raise ValueError(f"bad date {value!r} (expected YYYYMMDD)")
    try:
        return dt.datetime.strptime(value, "%Y%m%d").date()
    except ValueError:
        raise ValueError(f"bad date {value!r} (no such day)") from None


def day_string(value: DayLike) -> str:
    return parse_day(value).strftime("%Y%m%d")


def parse_name(symbol: str, name: str) -> Optional[DataFile]:
    """The DataFile a name in ``<data_dir>/<symbol>/`` stands for, or None when the
    name is not one the data contract produces for that symbol."""
    if not name.endswith(".csv"):
        return None
    stem = name[: -len(".csv")]
    day = stem[-8:]
    if not _DAY.match(day) or len(stem) < 9 or stem[-9] != "_":
        return None
    head = stem[:-9]
    kind = interval = ""
    if head == symbol + _SNAPSHOT_SUFFIX[:-1]:
        kind = "snapshot"
    elif head.startswith("kline_") and head.endswith("_" + symbol):
        interval = head[len("kline_") : -len(symbol) - 1]
        if interval and "_" not in interval:
            kind = "kline"
    else:
        for k in _PLAIN_KINDS:
            if head == f"{k}_{symbol}":
                kind = k
                break
    if not kind:
        return None
    try:
        parse_day(day)
    except ValueError:
        return None
    return DataFile(symbol, kind, interval, day, Path())


def symbols(data_dir: Union[str, Path]) -> List[str]:
    """Symbols with a directory under ``data_dir``, sorted."""
    root = Path(data_dir)
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def find(
    data_dir: Union[str, Path],
    symbol: str,
    kinds: Optional[Sequence[str]] = None,
    start: Optional[DayLike] = None,
    end: Optional[DayLike] = None,
    interval: Optional[str] = None,
) -> List[DataFile]:
    """The files of ``symbol`` under ``data_dir``, sorted by kind, interval and day.

    ``start``/``end`` bound the day (both inclusive); ``kinds`` and ``interval``
    (for klines) filter. A symbol with no directory has no files."""
    if kinds is not None:
        unknown = [k for k in kinds if k not in schema.KINDS]
        if unknown:
            raise ValueError(f"unknown file kind {unknown[0]!r} (expected one of {', '.join(schema.KINDS)})")
    lo = day_string(start) if start is not None else None
    hi = day_string(end) if end is not None else None
    folder = Path(data_dir) / symbol
    if not folder.is_dir():
        return []
    out = []
    for path in folder.iterdir():
        f = parse_name(symbol, path.name)
        if f is None or (kinds is not None and f.kind not in kinds):
            continue
        if interval is not None and f.kind == "kline" and f.interval != interval:
            continue
        if (lo is not None and f.day < lo) or (hi is not None and f.day > hi):
            continue
        out.append(DataFile(f.symbol, f.kind, f.interval, f.day, path))
    return sorted(out)


def unrecognized(data_dir: Union[str, Path], symbol: str) -> List[Path]:
    """``.csv`` files in a symbol's directory that the data contract does not name."""
    folder = Path(data_dir) / symbol
    return sorted(p for p in folder.glob("*.csv") if parse_name(symbol, p.name) is None)
