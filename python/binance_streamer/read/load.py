"""Loading data files into numpy structured arrays, a chunk at a time.

Each file is read in blocks of whole lines (``chunk_bytes``) and parsed by
``numpy.loadtxt``'s C parser, so a month of depth files streams through a few
tens of megabytes of memory. Prices and quantities become float64 by default;
``decimals="str"`` keeps the exchange's exact decimal text (Python ``str`` in
object fields), which is what book replay and exact arithmetic need.
Timestamps and ids are int64; an empty optional integer is ``MISSING`` (-1),
an empty optional decimal NaN (or ``""`` as text).

A damaged line (wrong field count, unparsable value, blank line, a last line
cut short) is an error by default; with ``errors="skip"`` it is dropped and
reported through ``warnings``. ``verify`` uses the same reader and collects
every damaged line instead.
"""

from __future__ import annotations

import csv
import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from binance_streamer import schema
from binance_streamer.read.files import DataFile, DayLike, find, parse_name

MISSING = -1
DECIMALS = ("float", "str")
ERRORS = ("raise", "skip")
DEFAULT_CHUNK_BYTES = 4 << 20  # measured: smaller blocks stay in cache; 4 MB ~ 1.6 M rows/s, ~90 MB peak

INT_COLUMNS = frozenset(
    {
        "local_time_us",
        "event_time_ms",
        "transaction_time_ms",
        "trade_time_ms",
        "open_time_ms",
        "close_time_ms",
        "next_funding_time_ms",
        "agg_trade_id",
        "trade_id",
        "first_trade_id",
        "last_trade_id",
        "first_update_id",
        "final_update_id",
        "prev_final_update_id",
        "last_update_id",
        "update_id",
        "trade_count",
        "level",
        "last_id",
        "next_id",
    }
)
BOOL_COLUMNS = frozenset({"is_buyer_maker", "is_closed"})
# Short enumerated text: fixed-width unicode, one wider than the longest valid
# value so that a longer (invalid) value can never be truncated into a valid one.
SHORT_TEXT = {"side": 4, "interval": 4}
SYMBOL_WIDTH = 24
# Free text of unbounded length: Python str in object fields.
TEXT_COLUMNS = frozenset({"stream", "reason", "detail", "order_type"})
# Columns that may legitimately be empty, per kind (see DESIGN.md "Records and files").
OPTIONAL: Dict[str, frozenset] = {
    "depth": frozenset({"side", "price", "quantity"}),
    "snapshot": frozenset({"event_time_ms", "transaction_time_ms", "side", "price", "quantity"}),
    "orderbook": frozenset({"side", "level", "price", "quantity"}),
    "gaps": frozenset({"last_id", "next_id", "detail"}),
    "trade": frozenset({"order_type"}),
    "markprice": frozenset({"mark_price", "index_price", "estimated_settle_price", "funding_rate"}),
}
# A level row's fields are all set, or all empty (an update or book without levels).
LEVEL_GROUP: Dict[str, Tuple[str, ...]] = {
    "depth": ("side", "price", "quantity"),
    "snapshot": ("side", "price", "quantity"),
    "orderbook": ("side", "level", "price", "quantity"),
}


def decimal_columns(kind: str) -> Tuple[str, ...]:
    """The columns of ``kind`` that hold exchange decimals (prices, quantities, rates)."""
    return tuple(c for c in schema.COLUMNS[kind] if _category(c) == "decimal")


def _category(col: str) -> str:
    if col in INT_COLUMNS:
        return "int"
    if col in BOOL_COLUMNS:
        return "bool"
    if col == "symbol" or col in SHORT_TEXT:
        return "short"
    if col in TEXT_COLUMNS:
        return "text"
    return "decimal"


def _short_width(col: str, symbol: str) -> int:
    if col == "symbol":
        return max(SYMBOL_WIDTH, len(symbol) + 1)
    return SHORT_TEXT[col]


def dtype(
    kind: str, decimals: str = "float", columns: Optional[Sequence[str]] = None, symbol: str = ""
) -> np.dtype:
    """The structured dtype ``load`` returns for ``kind`` (and a column subset)."""
    _check_choice("decimals", decimals, DECIMALS)
    fields = []
    for col in _columns(kind, columns):
        cat = _category(col)
        if cat == "int":
            fields.append((col, np.int64))
        elif cat == "bool":
            fields.append((col, np.bool_))
        elif cat == "short":
            fields.append((col, f"U{_short_width(col, symbol)}"))
        elif cat == "text" or decimals == "str":
            fields.append((col, object))
        else:
            fields.append((col, np.float64))
    return np.dtype(fields)


class DataFileError(ValueError):
    """A data file cannot be read as the data contract says (one line: path, line, why)."""

    def __init__(self, path: Union[str, Path], line: int, message: str):
        self.path = Path(path)
        self.line = line
        self.reason = message
        where = f"{self.path}:{line}" if line else str(self.path)
        super().__init__(f"{where}: {message}")


# (line number, message, the line's text) for each damaged line.
OnBadLine = Callable[[int, str, bytes], None]


@dataclass
class Chunk:
    """Rows parsed from one block of a file and the 1-based line number of each."""

    rows: np.ndarray
    lines: np.ndarray


class FileReader:
    """Reads one data file of a known kind block by block.

    ``on_bad_line`` receives every damaged line; without it the first one
    raises DataFileError. A first line that is neither the header nor a data
    row always raises: nothing after it can be trusted to mean these columns."""

    def __init__(
        self,
        path: Union[str, Path],
        kind: str,
        symbol: str = "",
        decimals: str = "float",
        columns: Optional[Sequence[str]] = None,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        on_bad_line: Optional[OnBadLine] = None,
    ):
        _check_choice("decimals", decimals, DECIMALS)
        if chunk_bytes < 1:
            raise ValueError("chunk_bytes must be positive")
        self.path = Path(path)
        self.kind = kind
        self.all_columns = schema.COLUMNS[kind]
        self.columns = _columns(kind, columns)
        self.decimals = decimals
        self.symbol = symbol
        # Gap details are free text that may hold a quoted newline: such a small
        # file is read in one block so no block boundary falls inside a field.
        self.chunk_bytes = chunk_bytes if kind != "gaps" else -1
        self.on_bad_line = on_bad_line
        self.optional = OPTIONAL.get(kind, frozenset())
        self.rows_read = 0
        self.bytes_read = 0
        self._usecols = [self.all_columns.index(c) for c in self.columns]
        self._raw = self._raw_dtype()
        self.out_dtype = dtype(kind, decimals, self.columns, symbol)

    # --- the loop ---------------------------------------------------------------

    def __iter__(self) -> Iterator[Chunk]:
        with open(self.path, "rb") as f:
            first = f.readline()
            self.bytes_read = len(first)
            line_no = 1
            pending = b""
            if not first:
                raise DataFileError(self.path, 0, "empty file: no header row")
            if first != schema.header(self.kind):
                if not self._looks_like_row(first):
                    # Nothing in the file can be trusted to mean these columns.
                    raise DataFileError(
                        self.path, 1, f"the first line is not the header row of a {self.kind} file"
                    )
                self._bad(1, "missing header row (the first line is a data row)", first)
                pending = first
                line_no = 0
            while True:
                block = f.read(self.chunk_bytes)
                self.bytes_read += len(block)
                data = pending + block
                cut = data.rfind(b"\n") + 1
                pending = data[cut:]
                if cut:
                    n_lines = data.count(b"\n", 0, cut)
                    chunk = self._parse(data[:cut], line_no + 1, n_lines)
                    line_no += n_lines
                    if len(chunk.rows):
                        self.rows_read += len(chunk.rows)
                        yield chunk
                if not block:
                    break
            if pending:
                self._bad(
                    line_no + 1, "partial last line (no newline): cut short or still being written", pending
                )

    # --- parsing ----------------------------------------------------------------

    def _parse(self, data: bytes, first_line: int, n_lines: int) -> Chunk:
        """Rows of a block of whole lines; the fast path is one loadtxt call."""
        if not data.startswith(b"\n") and b"\n\n" not in data:
            try:
                raw = np.loadtxt(
                    io.BytesIO(data),
                    dtype=self._raw,
                    delimiter=",",
                    quotechar='"',
                    comments=None,
                    usecols=self._usecols,
                    ndmin=1,
                    encoding="utf-8",
                )
            except ValueError:
                pass
            else:
                # One row per line (a quoted newline would break line numbering).
                if len(raw) == n_lines:
                    lines = np.arange(first_line, first_line + len(raw), dtype=np.int64)
                    try:
                        return self._convert(raw, lines, _line_getter(data))
                    except _Unconvertible:
                        pass
        return self._parse_slowly(data, first_line)

    def _parse_slowly(self, data: bytes, first_line: int) -> Chunk:
        """Line by line, to name each damaged line and keep the good ones."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("utf-8", errors="replace")
        texts = data.split(b"\n")
        good: List[List[str]] = []
        good_lines: List[int] = []
        ncols = len(self.all_columns)
        reader = csv.reader(io.StringIO(text, newline=""))
        n = first_line
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                self._bad(n, f"unreadable line ({exc})", texts[n - first_line])
                n = first_line + reader.line_num
                continue
            line_text = texts[n - first_line] if n - first_line < len(texts) else b""
            if "\ufffd" in "".join(fields):
                self._bad(n, "not valid UTF-8", line_text)
            elif not fields:
                self._bad(n, "blank line", line_text)
            elif len(fields) != ncols:
                self._bad(
                    n, f"{len(fields)} fields instead of {ncols} (cut short or merged lines?)", line_text
                )
            else:
                problem = self._field_problem(fields)
                if problem:
                    self._bad(n, problem, line_text)
                else:
                    good.append(fields)
                    good_lines.append(n)
            n = first_line + reader.line_num
        raw = np.empty(len(good), self._raw)
        for col, i in zip(self.columns, self._usecols):
            raw[col] = np.array([row[i] for row in good], dtype=object).astype(self._raw[col])
        lines = np.array(good_lines, dtype=np.int64)
        # Rows _convert could reject were rejected above already: no texts needed.
        return self._convert(raw, lines, lambda i: b"")

    def _field_problem(self, fields: List[str]) -> str:
        for col, value in zip(self.all_columns, fields):
            cat = _category(col)
            if value == "":
                if col in self.optional or cat == "text":
                    continue
                return f"empty {col}"
            if cat == "int":
                try:
                    v = int(value)
                except ValueError:
                    return f"{col} {value!r} is not an integer"
                if not -(2**63) <= v < 2**63:
                    return f"{col} {value!r} does not fit int64"
            elif cat == "bool" and value not in ("true", "false"):
                return f"{col} {value!r} is not true/false"
            elif cat == "decimal":
                try:
                    float(value)
                except ValueError:
                    return f"{col} {value!r} is not a decimal number"
        return ""

    def _convert(self, raw: np.ndarray, lines: np.ndarray, text: Callable[[int], bytes]) -> Chunk:
        """Raw (loadtxt) fields to the output dtype. Rows whose values break the
        column rules (booleans, sides, the symbol, empty required fields) are
        reported and dropped; a value that does not convert raises, sending the
        block down the slow path before anything was reported."""
        bad = np.zeros(len(raw), dtype=bool)
        why: Dict[int, str] = {}

        def flag(mask: np.ndarray, message: Callable[[int], str]) -> None:
            nonlocal bad
            if mask.any():
                for i in np.flatnonzero(mask & ~bad):
                    why[int(i)] = message(int(i))
                bad = bad | mask

        for col in self.columns:
            cat = _category(col)
            v = raw[col]
            if cat == "bool":
                flag(
                    (v != "true") & (v != "false"),
                    lambda i, c=col, v=v: f"{c} {str(v[i])!r} is not true/false",
                )
            elif col == "side":
                ok = (v == "bid") | (v == "ask") | ((v == "") & (col in self.optional))
                flag(~ok, lambda i, v=v: f"side {str(v[i])!r} is not bid/ask")
            elif col == "symbol" and self.symbol:
                flag(v != self.symbol, lambda i, v=v: f"symbol {str(v[i])!r} in a {self.symbol} file")
            elif v.dtype == object and cat in ("decimal", "int") and col not in self.optional:
                flag(v == "", lambda i, c=col: f"empty {c}")
        group = [c for c in LEVEL_GROUP.get(self.kind, ()) if c in self.columns]
        if len(group) > 1:
            empties = np.array([raw[c] == "" for c in group])
            flag(
                empties.any(axis=0) & ~empties.all(axis=0),
                lambda i: f"{', '.join(group)} must be all set or all empty",
            )
        if bad.any():
            raw, kept = raw[~bad], lines[~bad]
        else:
            kept = lines
        out = np.empty(len(raw), dtype=self.out_dtype)
        for col in self.columns:
            cat = _category(col)
            v = raw[col]
            if cat == "bool":
                out[col] = v == "true"
            elif cat == "int" and v.dtype == object:
                out[col] = _to_number(v, np.int64, MISSING)
            elif cat == "decimal" and self.decimals == "float":
                out[col] = _to_number(v, np.float64, np.nan) if v.dtype == object else v
            else:
                out[col] = v
        for i, message in sorted(why.items()):
            self._bad(int(lines[i]), message, text(i))
        return Chunk(out, kept)

    # --- helpers ----------------------------------------------------------------

    def _raw_dtype(self) -> np.dtype:
        fields = []
        for col in self.columns:
            cat = _category(col)
            if cat == "int":
                fields.append((col, object if col in self.optional else np.int64))
            elif cat == "bool":
                fields.append((col, "U6"))
            elif cat == "short":
                fields.append((col, f"U{_short_width(col, self.symbol)}"))
            elif cat == "decimal" and self.decimals == "float" and col not in self.optional:
                fields.append((col, np.float64))
            else:
                fields.append((col, object))
        return np.dtype(fields)

    def _looks_like_row(self, line: bytes) -> bool:
        if not line.endswith(b"\n"):
            return False
        try:
            fields = next(csv.reader([line[:-1].decode("utf-8")]))
        except (UnicodeDecodeError, csv.Error, StopIteration):
            return False
        return len(fields) == len(self.all_columns) and not self._field_problem(fields)

    def _bad(self, line: int, message: str, text: bytes) -> None:
        if self.on_bad_line is None:
            raise DataFileError(self.path, line, message)
        self.on_bad_line(line, message, text)


def _line_getter(data: bytes) -> Callable[[int], bytes]:
    """The i-th line of ``data``, split only if a line is asked for (rarely: a damaged row)."""
    split: List[List[bytes]] = []

    def get(i: int) -> bytes:
        if not split:
            split.append(data.split(b"\n"))
        return split[0][i]

    return get


class _Unconvertible(Exception):
    """A raw value did not convert: the block needs the line-by-line path."""


def _to_number(values: np.ndarray, kind: type, missing: float) -> np.ndarray:
    empty = values == ""
    try:
        if not empty.any():
            return values.astype(kind)
        out = np.full(len(values), missing, dtype=kind)
        out[~empty] = values[~empty].astype(kind)
    except (ValueError, OverflowError, TypeError) as exc:
        raise _Unconvertible(str(exc)) from None
    return out


def _columns(kind: str, columns: Optional[Sequence[str]]) -> Tuple[str, ...]:
    if kind not in schema.COLUMNS:
        raise ValueError(f"unknown file kind {kind!r} (expected one of {', '.join(schema.KINDS)})")
    if columns is None:
        return schema.COLUMNS[kind]
    if isinstance(columns, str):
        columns = [columns]
    unknown = [c for c in columns if c not in schema.COLUMNS[kind]]
    if unknown:
        raise ValueError(f"{kind} files have no column {unknown[0]!r}")
    # File order, so a structured array's fields read like the file.
    wanted = set(columns)
    return tuple(c for c in schema.COLUMNS[kind] if c in wanted)


def _check_choice(name: str, value: str, choices: Tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, not {value!r}")


# --- public entry points ------------------------------------------------------------


def _reader(
    path: Union[str, Path],
    kind: Optional[str],
    decimals: str,
    columns: Optional[Sequence[str]],
    chunk_bytes: int,
    errors: str,
) -> FileReader:
    _check_choice("errors", errors, ERRORS)
    path = Path(path)
    named = parse_name(path.parent.name, path.name)
    if kind is None:
        if named is None:
            raise ValueError(
                f"{path.name} is not a data-contract file name under a symbol directory; pass kind="
            )
        kind = named.kind
    symbol = named.symbol if named is not None else ""
    on_bad: Optional[OnBadLine] = None
    if errors == "skip":

        def on_bad(line: int, message: str, _text: bytes) -> None:
            warnings.warn(f"{path}:{line}: {message} (skipped)", stacklevel=4)

    return FileReader(path, kind, symbol, decimals, columns, chunk_bytes, on_bad)


def iter_file(
    path: Union[str, Path],
    kind: Optional[str] = None,
    *,
    decimals: str = "float",
    columns: Optional[Sequence[str]] = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    errors: str = "raise",
) -> Iterator[np.ndarray]:
    """Yield one file's rows as structured arrays of at most ~``chunk_bytes`` of text each.

    ``kind`` defaults to the one the file name says."""
    for chunk in _reader(path, kind, decimals, columns, chunk_bytes, errors):
        yield chunk.rows


def read_file(
    path: Union[str, Path],
    kind: Optional[str] = None,
    *,
    decimals: str = "float",
    columns: Optional[Sequence[str]] = None,
    errors: str = "raise",
) -> np.ndarray:
    """One whole file as a structured array."""
    reader = _reader(path, kind, decimals, columns, DEFAULT_CHUNK_BYTES, errors)
    parts = [c.rows for c in reader]
    return np.concatenate(parts) if parts else np.empty(0, reader.out_dtype)


def files_for(
    data_dir: Union[str, Path],
    symbol: str,
    kind: str,
    start: DayLike,
    end: Optional[DayLike] = None,
    interval: Optional[str] = None,
) -> List[DataFile]:
    """The files ``load`` reads, in day order. Klines need one interval: the
    ``interval`` argument, or the only one recorded in the range."""
    if kind not in schema.COLUMNS:
        raise ValueError(f"unknown file kind {kind!r} (expected one of {', '.join(schema.KINDS)})")
    found = find(data_dir, symbol, [kind], start, start if end is None else end, interval)
    if kind == "kline" and interval is None:
        intervals = sorted({f.interval for f in found})
        if len(intervals) > 1:
            raise ValueError(
                f"{symbol} has klines of several intervals ({', '.join(intervals)}): pass interval="
            )
    return sorted(found, key=lambda f: f.day)


def iter_load(
    data_dir: Union[str, Path],
    symbol: str,
    kind: str,
    start: DayLike,
    end: Optional[DayLike] = None,
    *,
    interval: Optional[str] = None,
    decimals: str = "float",
    columns: Optional[Sequence[str]] = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    errors: str = "raise",
) -> Iterator[np.ndarray]:
    """Stream a symbol's ``kind`` rows from ``start`` to ``end`` (inclusive days,
    ``YYYYMMDD`` or dates; ``end`` defaults to ``start``) chunk by chunk, in file
    order, so memory stays bounded however long the range. Days without a file
    are skipped."""
    for f in files_for(data_dir, symbol, kind, start, end, interval):
        for chunk in _reader(f.path, kind, decimals, columns, chunk_bytes, errors):
            yield chunk.rows


def load(
    data_dir: Union[str, Path],
    symbol: str,
    kind: str,
    start: DayLike,
    end: Optional[DayLike] = None,
    *,
    interval: Optional[str] = None,
    decimals: str = "float",
    columns: Optional[Sequence[str]] = None,
    errors: str = "raise",
) -> np.ndarray:
    """All of a symbol's ``kind`` rows from ``start`` to ``end`` as one structured array.

    For ranges too large for memory, use ``iter_load`` (or ``columns=`` to keep
    only what you need)."""
    parts = list(
        iter_load(
            data_dir,
            symbol,
            kind,
            start,
            end,
            interval=interval,
            decimals=decimals,
            columns=columns,
            errors=errors,
        )
    )
    if parts:
        return np.concatenate(parts)
    return np.empty(0, dtype(kind, decimals, columns, symbol))
