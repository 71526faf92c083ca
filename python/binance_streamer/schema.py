"""The data contract: file kinds, their columns and file names.

Columns come from ``columns.txt`` (shared with the Rust writer). Users' code
reads these columns; change them only with a migration note in docs/data-format.md.
"""

from __future__ import annotations

from importlib import resources
from typing import Dict, Tuple


def _load() -> Dict[str, Tuple[str, ...]]:
    text = resources.files(__package__).joinpath("columns.txt").read_text(encoding="utf-8")
    out: Dict[str, Tuple[str, ...]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        kind, _, cols = line.partition(":")
        out[kind.strip()] = tuple(c.strip() for c in cols.split(","))
    return out


COLUMNS: Dict[str, Tuple[str, ...]] = _load()
KINDS: Tuple[str, ...] = tuple(COLUMNS)


def header(kind: str) -> bytes:
    """The header row (with trailing newline) of a file kind."""
    return (",".join(COLUMNS[kind]) + "\n").encode()


def file_name(kind: str, symbol: str, day: str, interval: str = "") -> str:
    """File name for ``kind`` ('aggtrade', 'depth', 'kline', 'snapshot', 'orderbook', 'gaps'),
    ``symbol`` (upper case) and ``day`` ('YYYYMMDD', UTC)."""
    if kind == "kline":
        return f"kline_{interval}_{symbol}_{day}.csv"
    if kind == "snapshot":
        return f"{symbol}_depth_snapshot_{day}.csv"
    return f"{kind}_{symbol}_{day}.csv"
