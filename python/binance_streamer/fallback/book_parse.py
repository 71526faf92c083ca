"""Parsing and checking for the pure-Python order book (twin of rust/src/book/scan.rs
and fixed.rs).

Prices and quantities stay exact: a decimal text becomes an integer in units of
1e-18 (the sort key) plus its canonical text (what the exchange sent, leading
zeros of the integer part removed). The checks are made in the same order as the
Rust scanner's, so both backends raise the same one-line ``ValueError`` for the
same input; only the detail after ``invalid JSON:`` differs, since each backend
reports its own parser's position.
"""

from __future__ import annotations

import json
import operator
import re
from typing import Any, List, NamedTuple, Tuple

DIFF = "depth update"
SNAPSHOT = "depth snapshot"

U64_MAX = 2**64 - 1
FRAC_DIGITS = 18
SCALE = 10**FRAC_DIGITS
_POW10 = [10**k for k in range(FRAC_DIGITS + 1)]
_DECIMAL = re.compile(r"([0-9]+)(?:\.([0-9]+))?")

NOT_DECIMAL = "is not decimal text"
TOO_MANY_PLACES = "has more than 18 decimal places"
TOO_LARGE = "is too large"


class Level(NamedTuple):
    """One parsed ``[price, quantity]``: exact keys plus canonical texts."""

    key: int
    price: str
    qty_key: int
    qty: str


class DiffFields(NamedTuple):
    first: int
    last: int
    prev: int
    bids: List[Level]
    asks: List[Level]


class _BadDecimal(Exception):
    """Internal: the reason a text is not a decimal (one of the constants above)."""


def parse_decimal(text: str) -> Tuple[int, str]:
    """``(value in 1e-18 units, canonical text)``; raises _BadDecimal.

    Reasons are ranked like the Rust parser's: not decimal text, then too many
    places, then too large.
    """
    m = _DECIMAL.fullmatch(text)
    if m is None:
        raise _BadDecimal(NOT_DECIMAL)
    int_text, frac_text = m.groups()
    if frac_text is not None and len(frac_text) > FRAC_DIGITS:
        raise _BadDecimal(TOO_MANY_PLACES)
    # Checked on the text first: int() refuses very long digit strings.
    if len(int_text) > 20 and len(int_text.lstrip("0")) > 20:
        raise _BadDecimal(TOO_LARGE)
    int_part = int(int_text)
    if int_part > U64_MAX:
        raise _BadDecimal(TOO_LARGE)
    if len(int_text) > 1 and int_text[0] == "0":
        text = str(int_part) if frac_text is None else f"{int_part}.{frac_text}"
    if frac_text is None:
        return int_part * SCALE, text
    return int_part * SCALE + int(frac_text) * _POW10[FRAC_DIGITS - len(frac_text)], text


def places(text: str) -> int:
    """Fraction digits of a canonical decimal text."""
    dot = text.find(".")
    return 0 if dot < 0 else len(text) - dot - 1


def scaled_to_text(value: int, scale: int, min_places: int) -> str:
    """``value * 10**-scale`` with the fewest places >= min_places that keep it exact."""
    sign = "-" if value < 0 else ""
    int_part, frac = divmod(abs(value), 10**scale)
    n = scale
    while n > min_places and frac % 10 == 0:
        frac //= 10
        n -= 1
    return f"{sign}{int_part}.{frac:0{n}d}" if n else f"{sign}{int_part}"


def load_json(data: bytes, context: str) -> Any:
    """``json.loads`` restricted to strict JSON (no NaN/Infinity), one-line errors."""
    if not isinstance(data, bytes):
        raise TypeError(f"expected bytes, got {type(data).__name__}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{context}: invalid JSON: not UTF-8 at byte {exc.start}") from None
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{context}: invalid JSON: {exc.msg} at char {exc.pos}") from None
    except _NotJson as exc:
        raise ValueError(f"{context}: invalid JSON: {exc}") from None
    except RecursionError:
        raise ValueError(f"{context}: invalid JSON: nesting too deep") from None
    except ValueError as exc:  # e.g. an integer literal past Python's digit limit
        raise ValueError(f"{context}: invalid JSON: {exc}") from None


class _NotJson(Exception):
    """Internal: NaN/Infinity, which ``json`` accepts but JSON (and Rust) do not."""


def _reject_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def to_u64(value: Any) -> int:
    """An int in 0..2**64-1 (bools refused, ``__index__`` accepted); -1 if not."""
    if isinstance(value, bool):
        return -1
    try:
        value = operator.index(value)
    except TypeError:
        return -1
    return value if 0 <= value <= U64_MAX else -1


def count(value: Any, name: str) -> int:
    """A non-negative int argument (``n``, ``max_buffered``)."""
    result = to_u64(value)
    if result < 0:
        raise ValueError(f"{name} must be a non-negative integer")
    return result


def id_field(value: Any, name: str, context: str) -> int:
    result = to_u64(value)
    if result < 0:
        raise ValueError(f"{context}: field '{name}' must be an unsigned 64-bit integer")
    return result


def levels_field(value: Any, name: str, context: str) -> List[Level]:
    """A list (or tuple) of ``[price, quantity]`` string pairs."""
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{context}: field '{name}' must be a list of [price, quantity] pairs")
    out: List[Level] = []
    append = out.append
    for index, pair in enumerate(value):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ValueError(f"{context}: {name}[{index}] must be a [price, quantity] pair")
        price, qty = pair
        part = "price"
        try:
            if not isinstance(price, str):
                raise ValueError(f"{context}: {name}[{index}] price must be a string")
            key, price = parse_decimal(price)
            part = "quantity"
            if not isinstance(qty, str):
                raise ValueError(f"{context}: {name}[{index}] quantity must be a string")
            qty_key, qty = parse_decimal(qty)
        except _BadDecimal as exc:
            raise ValueError(f"{context}: {name}[{index}] {part} {exc}") from None
        append(Level(key, price, qty_key, qty))
    return out


_MISSING = object()


def _get(obj: dict, name: str, context: str) -> Any:
    value = obj.get(name, _MISSING)
    if value is _MISSING:
        raise ValueError(f"{context}: missing field '{name}'")
    return value


def diff_fields(first: Any, last: Any, prev: Any, bids: Any, asks: Any, context: str = DIFF) -> DiffFields:
    """Checks a depthUpdate's values in the Rust order: U, u, pu, U <= u, b, a."""
    first = id_field(first, "U", context)
    last = id_field(last, "u", context)
    prev = id_field(prev, "pu", context)
    if first > last:
        raise ValueError(f"{context}: U ({first}) is greater than u ({last})")
    return DiffFields(
        first,
        last,
        prev,
        levels_field(bids, "b", context),
        levels_field(asks, "a", context),
    )


def parse_diff(frame: bytes) -> DiffFields:
    """A raw depthUpdate frame, bare or combined (a ``data`` object is the payload)."""
    obj = load_json(frame, DIFF)
    if not isinstance(obj, dict):
        raise ValueError(f"{DIFF}: expected a JSON object")
    data = obj.get("data")
    if isinstance(data, dict):
        obj = data
    event = obj.get("e", _MISSING)
    if event is not _MISSING and event != "depthUpdate":
        raise ValueError(f"{DIFF}: field 'e' must be \"depthUpdate\"")
    # Fetch in check order so a missing field is reported where Rust reports it.
    first = id_field(_get(obj, "U", DIFF), "U", DIFF)
    last = id_field(_get(obj, "u", DIFF), "u", DIFF)
    prev = id_field(_get(obj, "pu", DIFF), "pu", DIFF)
    if first > last:
        raise ValueError(f"{DIFF}: U ({first}) is greater than u ({last})")
    bids = levels_field(_get(obj, "b", DIFF), "b", DIFF)
    asks = levels_field(_get(obj, "a", DIFF), "a", DIFF)
    return DiffFields(first, last, prev, bids, asks)


def snapshot_fields(last_update_id: Any, bids: Any, asks: Any) -> Tuple[int, List[Level], List[Level]]:
    return (
        id_field(last_update_id, "lastUpdateId", SNAPSHOT),
        levels_field(bids, "bids", SNAPSHOT),
        levels_field(asks, "asks", SNAPSHOT),
    )


def parse_snapshot(body: bytes) -> Tuple[int, List[Level], List[Level]]:
    """A raw REST ``GET /fapi/v1/depth`` body."""
    obj = load_json(body, SNAPSHOT)
    if not isinstance(obj, dict):
        raise ValueError(f"{SNAPSHOT}: expected a JSON object")
    last_update_id = id_field(_get(obj, "lastUpdateId", SNAPSHOT), "lastUpdateId", SNAPSHOT)
    bids = levels_field(_get(obj, "bids", SNAPSHOT), "bids", SNAPSHOT)
    asks = levels_field(_get(obj, "asks", SNAPSHOT), "asks", SNAPSHOT)
    return last_update_id, bids, asks


def depth_ids(frame: bytes) -> Tuple[int, int, int]:
    """``(U, u, pu)`` of a depthUpdate frame after the book's full check."""
    fields = parse_diff(frame)
    return fields.first, fields.last, fields.prev
