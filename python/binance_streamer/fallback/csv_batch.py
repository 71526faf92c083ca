"""Pure-Python twin of the native JSON-to-CSV batcher (``rust/src/csv.rs``).

It makes the same checks in the same order and reports them in the same
words, so both backends write byte-identical files; ``tests/test_csv_parity.py``
holds them to that. Frames are parsed with the stdlib ``json`` module, with
hooks so integer literals keep their exact text (``-0`` and 5000-digit ids
included) and NaN/Infinity are refused. Rows are built with ``str.format``
templates laid out from ``columns.txt``.

Why not ``csv.writer``: with ``lineterminator="\\n"`` it leaves a field
holding a bare CR unquoted, which RFC 4180 (and the native writer) quote.
"""

from __future__ import annotations

import codecs
import datetime
import json
import re
import struct
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from .. import schema

SAMPLE_BYTES = 200
"""Samples of skipped records keep at most this many bytes."""

MAX_DEPTH = 512
"""Deepest JSON nesting accepted, as the native scanner (top-level container = 1)."""

_MAX_TIME_MS = 253_402_300_800_000  # end of year 9999
_MS_PER_DAY = 86_400_000
_HEADER = struct.Struct("<BBHIq")
_FRAME, _SNAPSHOT, _GAP, _ORDERBOOK = 1, 2, 3, 4
_REPORT_KIND = {_FRAME: "frame", _SNAPSHOT: "snapshot", _GAP: "gaps", _ORDERBOOK: "orderbook"}
_EVENTS = {
    "aggTrade": "aggtrade",
    "depthUpdate": "depth",
    "kline": "kline",
    "trade": "trade",
    "bookTicker": "bookticker",
    "markPriceUpdate": "markprice",
}

# Lone surrogates (from "\ud800"-style escapes) cannot be UTF-8; like the
# native decoder, write U+FFFD for each.
_FFFD = "binance_streamer.fffd"


def _replace_surrogates(exc: UnicodeError) -> Tuple[str, int]:
    if isinstance(exc, UnicodeEncodeError):
        return "\ufffd" * (exc.end - exc.start), exc.end
    raise exc


codecs.register_error(_FFFD, _replace_surrogates)


class _Int(str):
    """An integer literal, kept as its text."""

    __slots__ = ()


class _Float(str):
    """A number with a fraction or exponent (never a valid field here)."""

    __slots__ = ()


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_int=_Int, parse_float=_Float, parse_constant=_refuse_constant)
_MISSING: Any = object()
_SYMBOL_CHARS = re.compile(r"(?:[A-Za-z0-9_\-]|[^\x00-\x7f])+")
_INTERVAL = re.compile(r"[0-9A-Za-z]{1,8}")
_PLAIN_EVENT = re.compile(r"[A-Za-z0-9_@.\-]{1,40}")
_NEEDS_QUOTES = re.compile('[,"\r\n]')

# The columns in the order the encoders produce their cells (the native
# FileKind::fields); columns.txt may order them differently.
_FIELDS: Dict[str, Tuple[str, ...]] = {
    "aggtrade": (
        "local_time_us", "event_time_ms", "symbol", "agg_trade_id", "price", "quantity",
        "first_trade_id", "last_trade_id", "trade_time_ms", "is_buyer_maker",
    ),
    "depth": (
        "local_time_us", "event_time_ms", "transaction_time_ms", "symbol", "first_update_id",
        "final_update_id", "prev_final_update_id", "side", "price", "quantity",
    ),
    "kline": (
        "local_time_us", "event_time_ms", "symbol", "interval", "open_time_ms", "close_time_ms",
        "first_trade_id", "last_trade_id", "open", "high", "low", "close", "volume",
        "trade_count", "is_closed", "quote_volume", "taker_buy_volume", "taker_buy_quote_volume",
    ),
    "snapshot": (
        "local_time_us", "event_time_ms", "transaction_time_ms", "symbol", "last_update_id",
        "side", "price", "quantity",
    ),
    "orderbook": (
        "local_time_us", "symbol", "last_update_id", "side", "level", "price", "quantity",
    ),
    "gaps": ("local_time_us", "symbol", "stream", "reason", "last_id", "next_id", "detail"),
    "trade": (
        "local_time_us", "event_time_ms", "trade_time_ms", "symbol", "trade_id", "price",
        "quantity", "is_buyer_maker", "order_type",
    ),
    "bookticker": (
        "local_time_us", "event_time_ms", "transaction_time_ms", "symbol", "update_id",
        "bid_price", "bid_quantity", "ask_price", "ask_quantity",
    ),
    "markprice": (
        "local_time_us", "event_time_ms", "symbol", "mark_price", "index_price",
        "estimated_settle_price", "funding_rate", "next_funding_time_ms",
    ),
}  # fmt: skip


def _template(kind: str) -> str:
    fields, columns = _FIELDS[kind], schema.COLUMNS.get(kind, ())
    if sorted(fields) != sorted(columns):
        raise RuntimeError(f"columns.txt: {kind} must list {fields}")
    return ",".join(f"{{{fields.index(c)}}}" for c in columns) + "\n"


_ROW = {kind: _template(kind).format for kind in _FIELDS}
_COMMAS = {kind: len(fields) - 1 for kind, fields in _FIELDS.items()}

# Field types of the checks below.
_INT, _OPT_INT, _STR, _OPT_STR, _BOOL, _TIME, _OPT_TIME, _SYMBOL, _INTERVAL_T, _LEVELS, _OBJ = (
    range(11)
)

_SPEC: Dict[str, Tuple[Tuple[str, int], ...]] = {
    "aggtrade": (
        ("E", _TIME), ("s", _SYMBOL), ("a", _INT), ("p", _STR), ("q", _STR), ("f", _INT),
        ("l", _INT), ("T", _INT), ("m", _BOOL),
    ),
    "depth": (
        ("E", _TIME), ("T", _INT), ("s", _SYMBOL), ("U", _INT), ("u", _INT), ("pu", _INT),
        ("b", _LEVELS), ("a", _LEVELS),
    ),
    "kline": (("E", _TIME), ("s", _SYMBOL), ("k", _OBJ)),
    "kline.k": (
        ("i", _INTERVAL_T), ("t", _INT), ("T", _INT), ("f", _INT), ("L", _INT), ("o", _STR),
        ("h", _STR), ("l", _STR), ("c", _STR), ("v", _STR), ("n", _INT), ("x", _BOOL),
        ("q", _STR), ("V", _STR), ("Q", _STR),
    ),
    "trade": (
        ("E", _TIME), ("T", _INT), ("s", _SYMBOL), ("t", _INT), ("p", _STR), ("q", _STR),
        ("m", _BOOL), ("X", _OPT_STR),
    ),
    "bookticker": (
        ("E", _TIME), ("T", _INT), ("s", _SYMBOL), ("u", _INT), ("b", _STR), ("B", _STR),
        ("a", _STR), ("A", _STR),
    ),
    "markprice": (
        ("E", _TIME), ("s", _SYMBOL), ("p", _STR), ("i", _STR), ("P", _STR), ("r", _STR),
        ("T", _INT),
    ),
    "snapshot": (
        ("E", _OPT_TIME), ("T", _OPT_INT), ("lastUpdateId", _INT), ("bids", _LEVELS),
        ("asks", _LEVELS),
    ),
    "gaps": (
        ("stream", _STR), ("reason", _STR), ("last_id", _OPT_INT), ("next_id", _OPT_INT),
        ("detail", _OPT_STR),
    ),
    "orderbook": (("last_update_id", _INT), ("bids", _LEVELS), ("asks", _LEVELS)),
}  # fmt: skip

_TYPE_NAME = {
    _INT: "is not an integer", _OPT_INT: "is not an integer", _TIME: "is not an integer",
    _OPT_TIME: "is not an integer", _STR: "is not a string", _OPT_STR: "is not a string",
    _SYMBOL: "is not a string", _INTERVAL_T: "is not a string", _BOOL: "is not a boolean",
    _LEVELS: "is not a list of [price, quantity] pairs", _OBJ: "is not an object",
}  # fmt: skip


class _Skip(Exception):
    """A record that gives no rows: the kind it is counted under and why."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


class EncodeResult:
    """What one :func:`encode_records` call produced (see ``_native.pyi``)."""

    __slots__ = ("_files", "_rows", "_skipped")

    def __init__(
        self,
        files: List[Tuple[str, str, bytes]],
        rows: Dict[str, int],
        skipped: Dict[str, Tuple[int, bytes, str]],
    ) -> None:
        self._files = files
        self._rows = rows
        self._skipped = skipped

    @property
    def files(self) -> List[Tuple[str, str, bytes]]:
        return self._files

    @property
    def rows(self) -> Dict[str, int]:
        return self._rows

    @property
    def skipped(self) -> Dict[str, Tuple[int, bytes, str]]:
        return self._skipped

    def __repr__(self) -> str:
        skipped = sum(n for n, _, _ in self._skipped.values())
        return (
            f"EncodeResult(files={len(self._files)}, rows={sum(self._rows.values())}, "
            f"skipped={skipped})"
        )


def _quote(cell: str) -> str:
    if _NEEDS_QUOTES.search(cell) is None:
        return cell
    return '"' + cell.replace('"', '""') + '"'


def _utf8_name(s: str) -> str:
    """``s`` as the native side sees it: lone surrogates become U+FFFD."""
    return s if s.isascii() else s.encode("utf-8", _FFFD).decode("utf-8")


def _valid_symbol(s: str) -> bool:
    return 0 < len(s.encode("utf-8")) <= 64 and _SYMBOL_CHARS.fullmatch(s) is not None


def _time_ms(text: str) -> Optional[int]:
    """The value of a verbatim integer literal if it is a time in range."""
    neg = text.startswith("-")
    digits = text[1:] if neg else text
    if len(digits) > 16:
        return None
    value = int(digits)
    if value >= _MAX_TIME_MS or (neg and value):
        return None
    return value


def _depth(obj: Any) -> int:
    deepest = 0
    stack = [(obj, 1)]
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        children = node.values() if type(node) is dict else node
        for child in children:
            if type(child) is dict or type(child) is list:
                stack.append((child, d + 1))
    return deepest


def _load(payload: bytes, kind: str) -> dict:
    """Parse a payload that must be one JSON object."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise _Skip(kind, "not valid UTF-8") from None
    try:
        obj = _DECODER.decode(text)
    except (ValueError, RecursionError):
        raise _Skip(kind, "invalid JSON") from None
    # Brackets can only nest past MAX_DEPTH if there are more than that many.
    if (
        type(obj) in (dict, list)
        and len(payload) > 2 * MAX_DEPTH
        and payload.count(b"[") + payload.count(b"{") > MAX_DEPTH
        and _depth(obj) > MAX_DEPTH
    ):
        raise _Skip(kind, "invalid JSON")
    if type(obj) is not dict:
        raise _Skip(kind, "not a JSON object")
    return obj


def _unknown_event(event: str) -> _Skip:
    if _PLAIN_EVENT.fullmatch(event):
        return _Skip("unknown", f'unknown event type "{event}"')
    return _Skip("unknown", "unknown event type")


class _Batch:
    """State of one call: the files so far, and the checks that need it."""

    def __init__(self, symbols: Sequence[str], keep_all_klines: bool) -> None:
        self.symbols = symbols
        self.keep_all_klines = keep_all_klines
        # (kind, symbol, interval, day) -> [path, kind, chunks]
        self.files: Dict[Tuple[str, str, str, int], List[Any]] = {}
        self.rows: Dict[str, int] = {}
        self.days: Dict[int, str] = {}
        self.names: Dict[str, Optional[str]] = {}
        self.day = 0

    # -- checks ---------------------------------------------------------------

    def fields(
        self, kind: str, obj: dict, spec: str, local_us: int = 0, prefix: str = ""
    ) -> List[Any]:
        """The checked cells of ``obj`` per ``_SPEC[spec]``, in order; sets ``self.day``."""
        out: List[Any] = []
        for key, typ in _SPEC[spec]:
            v = obj.get(key, _MISSING)
            t = type(v)
            if typ == _STR:
                ok = t is str
            elif typ == _INT:
                ok = t is _Int
            elif typ == _TIME or typ == _OPT_TIME:
                if typ == _OPT_TIME and (v is None or v is _MISSING):
                    if not 0 <= local_us < _MAX_TIME_MS * 1000:
                        raise _Skip(kind, "local_time_us out of range")
                    self.day = local_us // (_MS_PER_DAY * 1000)
                    out.append("")
                    continue
                ok = t is _Int
                if ok:
                    ms = _time_ms(v)
                    if ms is None:
                        raise _Skip(kind, f'field "{prefix}{key}" is out of range')
                    self.day = ms // _MS_PER_DAY
            elif typ == _BOOL:
                ok = t is bool
                if ok:
                    v = "true" if v else "false"
            elif typ == _OPT_INT or typ == _OPT_STR:
                if v is None or v is _MISSING:
                    out.append("")
                    continue
                ok = t is (_Int if typ == _OPT_INT else str)
            elif typ == _SYMBOL or typ == _INTERVAL_T:
                ok = t is str
                if ok:
                    name = self.name(v, typ == _SYMBOL)
                    if name is None:
                        what = "symbol" if typ == _SYMBOL else "interval"
                        raise _Skip(kind, f'field "{prefix}{key}" is not a valid {what}')
                    v = name
            elif typ == _LEVELS:
                ok = t is list and all(
                    type(lv) is list and len(lv) == 2 and type(lv[0]) is str and type(lv[1]) is str
                    for lv in v
                )
            else:  # _OBJ
                ok = t is dict
            if not ok:
                what = "missing" if v is _MISSING else _TYPE_NAME[typ]
                raise _Skip(kind, f'field "{prefix}{key}" {what}')
            out.append(v)
        return out

    def name(self, s: str, symbol: bool) -> Optional[str]:
        """A symbol or interval as used in paths, or None if unfit."""
        key = s if symbol else "\0" + s
        if key not in self.names:
            name = _utf8_name(s)
            ok = _valid_symbol(name) if symbol else _INTERVAL.fullmatch(name) is not None
            self.names[key] = name if ok else None
        return self.names[key]

    def local_day(self, kind: str, local_us: int) -> int:
        if not 0 <= local_us < _MAX_TIME_MS * 1000:
            raise _Skip(kind, "local_time_us out of range")
        return local_us // (_MS_PER_DAY * 1000)

    # -- output ---------------------------------------------------------------

    def emit(
        self, kind: str, symbol: str, day: int, rows: Iterable[Sequence[str]], interval: str = ""
    ) -> None:
        fmt = _ROW[kind]
        rows = list(rows)
        text = "".join([fmt(*cells) for cells in rows])
        n = len(rows)
        # Fields needing quotes are rare: detect them on the whole text at once.
        if (
            text.count(",") != n * _COMMAS[kind]
            or text.count("\n") != n
            or '"' in text
            or "\r" in text
        ):
            text = "".join([fmt(*map(_quote, cells)) for cells in rows])
        key = (kind, symbol, interval, day)
        entry = self.files.get(key)
        if entry is None:
            if day not in self.days:
                d = datetime.date(1970, 1, 1) + datetime.timedelta(days=day)
                self.days[day] = f"{d.year:04d}{d.month:02d}{d.day:02d}"
            name = schema.file_name(kind, symbol, self.days[day], interval)
            entry = self.files[key] = [f"{symbol}/{name}", kind, []]
        entry[2].append(text)
        self.rows[kind] = self.rows.get(kind, 0) + n

    # -- records --------------------------------------------------------------

    def record(self, record: bytes) -> None:
        if len(record) < _HEADER.size:
            raise _Skip("record", f"record shorter than the {_HEADER.size}-byte header")
        kind, _flags, symbol_id, _reserved, local_us = _HEADER.unpack_from(record)
        report = _REPORT_KIND.get(kind)
        if report is None:
            raise _Skip("record", f"unknown record kind {kind}")
        symbol = ""
        if kind != _FRAME:
            if symbol_id >= len(self.symbols):
                raise _Skip(
                    report, f"symbol_id {symbol_id} out of range ({len(self.symbols)} symbols)"
                )
            symbol = self.symbols[symbol_id]
        payload = record[_HEADER.size :]
        obj = _load(payload, report)
        lt = str(local_us)
        if kind == _FRAME:
            self.frame(obj, lt)
        elif kind == _SNAPSHOT:
            self.snapshot(obj, lt, local_us, symbol)
        elif kind == _GAP:
            day = self.local_day("gaps", local_us)
            self.emit("gaps", symbol, day, [[lt, symbol, *self.fields("gaps", obj, "gaps")]])
        else:
            self.orderbook(obj, lt, local_us, symbol)

    def frame(self, top: dict, lt: str) -> None:
        if "data" in top:
            d = top["data"]
            if type(d) is not dict:
                raise _Skip("frame", '"data" is not an object')
        else:
            d = top
        e = d.get("e", _MISSING)
        if e is _MISSING:
            if "result" in top or "error" in top or "id" in top:
                raise _Skip("control", "control frame (result/error reply)")
            raise _Skip("frame", 'no event type "e"')
        if type(e) is not str:
            raise _Skip("frame", 'event type "e" is not a string')
        kind = _EVENTS.get(e)
        if kind is None:
            raise _unknown_event(e)
        cells = self.fields(kind, d, kind)
        if kind == "depth":
            *head, bids, asks = cells
            symbol = head[2]
            self.emit(kind, symbol, self.day, _level_rows([lt, *head], bids, asks))
        elif kind == "kline":
            time, symbol, k = cells
            day = self.day
            kc = self.fields(kind, k, "kline.k", prefix="k.")
            if kc[11] == "true" or self.keep_all_klines:
                self.emit(kind, symbol, day, [[lt, time, symbol, *kc]], interval=kc[0])
        else:
            symbol = cells[2] if kind in ("trade", "bookticker") else cells[1]
            self.emit(kind, symbol, self.day, [[lt, *cells]])

    def snapshot(self, obj: dict, lt: str, local_us: int, symbol: str) -> None:
        time, t, last, bids, asks = self.fields("snapshot", obj, "snapshot", local_us)
        rows = _level_rows([lt, time, t, symbol, last], bids, asks)
        self.emit("snapshot", symbol, self.day, rows)

    def orderbook(self, obj: dict, lt: str, local_us: int, symbol: str) -> None:
        day = self.local_day("orderbook", local_us)
        last, bids, asks = self.fields("orderbook", obj, "orderbook")
        head = [lt, symbol, last]
        rows = [
            [*head, side, str(i), price, qty]
            for side, levels in (("bid", bids), ("ask", asks))
            for i, (price, qty) in enumerate(levels, 1)
        ]
        self.emit("orderbook", symbol, day, rows or [[*head, "", "", "", ""]])


def _level_rows(head: List[str], bids: List[List[str]], asks: List[List[str]]) -> List[List[str]]:
    """One row per level, bids then asks; no levels still gives one row, so
    the update id reaches the file."""
    rows = [[*head, "bid", p, q] for p, q in bids]
    rows += [[*head, "ask", p, q] for p, q in asks]
    return rows or [[*head, "", "", ""]]


def _check_symbols(symbols: Sequence[str]) -> None:
    if isinstance(symbols, str):
        raise TypeError("symbols must be a sequence of str, not str")
    for i, s in enumerate(symbols):
        if not isinstance(s, str):
            raise TypeError(f"symbols[{i}] must be str, not {type(s).__name__}")
        s.encode("utf-8")  # a lone surrogate is unusable in a path (UnicodeEncodeError)
        if not _valid_symbol(s):
            raise ValueError(
                f"symbols[{i}] is not a valid symbol: {s!r} "
                "(1-64 bytes; ASCII letters, digits, '_' or '-')"
            )


def encode_records(
    records: Iterable[bytes], symbols: Sequence[str], keep_all_klines: bool = False
) -> EncodeResult:
    """Encode a batch of ring records into CSV rows grouped per output file."""
    _check_symbols(symbols)
    held = list(records)
    for i, rec in enumerate(held):
        if not isinstance(rec, bytes):
            raise TypeError(f"records[{i}] must be bytes, not {type(rec).__name__}")
    batch = _Batch(list(symbols), bool(keep_all_klines))
    skipped: Dict[str, List[Any]] = {}
    for rec in held:
        try:
            batch.record(rec)
        except _Skip as skip:
            entry = skipped.get(skip.kind)
            if entry is not None:
                entry[0] += 1
                continue
            # The sample is the payload, or the whole record if its header is the problem.
            start = 0 if skip.kind == "record" else _HEADER.size
            skipped[skip.kind] = [1, rec[start : start + SAMPLE_BYTES], skip.reason]
    files = [
        (path, kind, "".join(chunks).encode("utf-8", _FFFD))
        for path, kind, chunks in batch.files.values()
    ]
    return EncodeResult(files, dict(batch.rows), {k: (n, s, r) for k, (n, s, r) in skipped.items()})
