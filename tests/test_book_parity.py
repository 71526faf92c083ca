"""Native and pure-Python OrderBook agree on every result and every book state.

Hypothesis drives both backends with the same sequences of snapshots, diffs
(chained, stale, gapped, restarted streams; as values, bare frames and combined
frames), invalidations and malformed input, and compares the full observable state
after every step.
"""

from __future__ import annotations

import gzip
import json
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, List, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

U64_MAX = 2**64 - 1

# A small price universe so levels collide, with several texts per value.
price_text = st.one_of(
    st.builds(
        lambda i, f, places: f"{i}.{str(f).zfill(places)[:places]}" if places else str(i),
        st.integers(0, 12),
        st.integers(0, 99),
        st.integers(0, 3),
    ),
    st.sampled_from(["0.000000000000000001", "18446744073709551615.999999999999999999", "007.5"]),
)
qty_text = st.one_of(
    st.sampled_from(["0", "0.000", "0.0", "1", "1.000", "0.001"]),
    st.builds(lambda i, f: f"{i}.{f:03d}", st.integers(0, 50), st.integers(0, 999)),
)
levels = st.lists(st.tuples(price_text, qty_text), max_size=6)


def encode_diff(
    ids: Tuple[int, int, int], bids: list, asks: list, combined: bool, extras: bool, order: list
) -> bytes:
    values = {"U": ids[0], "u": ids[1], "pu": ids[2], "b": bids, "a": asks}
    payload: dict = {}
    if extras:
        payload.update({"e": "depthUpdate", "E": 1, "T": 1, "s": "BTCUSDT", "ps": "BTCUSDT"})
    for key in order:
        payload[key] = values[key]
    body = {"stream": "btcusdt@depth", "data": payload} if combined else payload
    return json.dumps(body).encode()


BAD_VALUES = ["1", -1, 1.5, True, None, U64_MAX + 1, [1], {}, "x", [["1"]], [[1, "2"]]]
BAD_VALUES += [[["1e3", "2"]], [["1", "-0"]], [["1", ""]], [["1." + "1" * 19, "1"]]]


@st.composite
def malformed(draw: st.DrawFn, valid: bytes) -> bytes:
    """A broken variant of a valid frame: bytes damaged or one field's value replaced."""
    how = draw(st.sampled_from(["truncate", "insert", "delete", "field", "drop"]))
    pos = draw(st.integers(0, len(valid)))
    if how == "truncate":
        return valid[:pos]
    if how == "insert":
        byte = draw(st.sampled_from(list(b'",[]{}: x\\0-') + [0xFF, 0x01]))
        return valid[:pos] + bytes([byte]) + valid[pos:]
    if how == "delete":
        return valid[:pos] + valid[pos + 1 :]
    obj = json.loads(valid)
    target = obj["data"] if "data" in obj else obj
    key = draw(st.sampled_from(["U", "u", "pu", "b", "a", "e"]))
    if how == "drop":
        target.pop(key, None)
    else:
        target[key] = draw(st.sampled_from(BAD_VALUES))
    return json.dumps(obj).encode()


@st.composite
def scenarios(draw: st.DrawFn) -> Tuple[int, List[tuple]]:
    """(max_buffered, steps); each step is applied to both backends."""
    max_buffered = draw(st.sampled_from([0, 1, 3, 1000]))
    cursor = draw(st.sampled_from([0, 1000, U64_MAX - 10_000]))
    steps: List[tuple] = []
    small = st.integers(0, 6)
    for _ in range(draw(st.integers(1, 30))):
        kind = draw(
            st.sampled_from(
                ["chain"] * 6 + ["stale", "gap", "restart", "snapshot", "snapshot", "invalidate"]
                + ["malformed", "bad_snapshot"]
            )
        )  # fmt: skip
        if kind == "invalidate":
            steps.append(("invalidate",))
            continue
        if kind in ("snapshot", "bad_snapshot"):
            last = max(0, min(U64_MAX, cursor + draw(st.integers(-12, 12))))
            bids, asks = draw(levels), draw(levels)
            body = json.dumps({"lastUpdateId": last, "E": 1, "bids": bids, "asks": asks}).encode()
            if kind == "bad_snapshot":
                steps.append(("snapshot_bytes", draw(st.sampled_from([body[:-1], body[1:]]))))
            elif draw(st.booleans()):
                steps.append(("snapshot_bytes", body))
            else:
                steps.append(("snapshot", last, bids, asks))
            continue
        first_gap, span, back = draw(small), draw(small), draw(small)
        if kind == "stale":
            last = max(0, cursor - back - 1)
            ids = (max(0, last - span), last, max(0, last - span - 1))
        else:
            first = min(U64_MAX, cursor + 1 + first_gap)
            last = min(U64_MAX, first + span)
            prev = cursor
            if kind == "gap":
                prev = max(0, cursor - back - 1)
            elif kind == "restart":
                prev = draw(st.integers(0, U64_MAX))
            ids = (first, last, prev)
            cursor = last
        bids, asks = draw(levels), draw(levels)
        order = draw(st.permutations(["U", "u", "pu", "b", "a"]))
        frame = encode_diff(ids, bids, asks, draw(st.booleans()), draw(st.booleans()), order)
        if kind == "malformed":
            steps.append(("diff_bytes", draw(malformed(frame))))
        elif draw(st.booleans()):
            steps.append(("diff_bytes", frame))
        else:
            steps.append(("diff", *ids, bids, asks))
    return max_buffered, steps


def run(book: Any, module: ModuleType, step: tuple) -> Any:
    kind, *args = step
    if kind == "invalidate":
        return book.invalidate()
    if kind == "snapshot":
        return book.apply_snapshot(*args)
    if kind == "snapshot_bytes":
        return book.apply_snapshot_bytes(*args)
    if kind == "diff":
        return book.apply_diff(*args)
    if kind == "diff_bytes":
        return (book.apply_diff_bytes(*args), module.depth_ids(*args))
    raise AssertionError(kind)


def outcome(call: Callable[[], Any]) -> Tuple[str, Any]:
    """The result, or the error reduced to what both backends promise to share."""
    try:
        return ("ok", call())
    except ValueError as exc:
        message = str(exc)
        head, sep, _ = message.partition(": invalid JSON: ")
        if sep and "not UTF-8" not in message:
            message = head + sep  # the parser's own wording and position differ
        return ("ValueError", message)


def observe(book: Any) -> tuple:
    """Everything a caller can read from a book."""
    return (
        book.state,
        book.synced,
        book.last_update_id,
        book.buffered,
        book.max_buffered,
        book.bid_count,
        book.ask_count,
        book.bids(),
        book.asks(),
        book.bids(3),
        book.asks(0),
        book.bids(as_float=True),
        book.asks(2, True),
        book.best_bid(),
        book.best_ask(),
        book.best_bid(True),
        book.best_ask(True),
        book.mid(),
        book.spread(),
        book.mid(True),
        book.spread(True),
        book.checksum(),
        book.checksum(0),
        book.checksum(1),
        book.checksum(10**9),
        repr(book),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_backends_agree_on_every_step(
    native_mod: ModuleType, python_mod: ModuleType, scenario: Tuple[int, List[tuple]]
) -> None:
    max_buffered, steps = scenario
    native_book = native_mod.OrderBook(max_buffered)
    python_book = python_mod.OrderBook(max_buffered)
    for i, step in enumerate(steps):
        got_native = outcome(partial(run, native_book, native_mod, step))
        got_python = outcome(partial(run, python_book, python_mod, step))
        assert got_native == got_python, f"step {i}: {step!r}"
        assert observe(native_book) == observe(python_book), f"after step {i}: {step!r}"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=60) | st.builds(lambda t: t.encode(), st.text(max_size=60)))
def test_backends_agree_on_arbitrary_bytes(
    native_mod: ModuleType, python_mod: ModuleType, data: bytes
) -> None:
    assert outcome(lambda: native_mod.depth_ids(data)) == outcome(lambda: python_mod.depth_ids(data))
    assert outcome(lambda: native_mod.OrderBook().apply_snapshot_bytes(data)) == outcome(
        lambda: python_mod.OrderBook().apply_snapshot_bytes(data)
    )


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_backends_agree_on_any_decimal_text(
    native_mod: ModuleType, python_mod: ModuleType, text: str
) -> None:
    def load(module: ModuleType) -> Any:
        book = module.OrderBook()
        book.apply_snapshot(1, [(text, "1")], [("1", text)])
        return observe(book)

    assert outcome(lambda: load(native_mod)) == outcome(lambda: load(python_mod))


def test_backends_agree_on_the_btcusdt_capture(
    native_mod: ModuleType, python_mod: ModuleType, data_dir: Path
) -> None:
    """Every result and, every 50 diffs, the whole book, on real BTCUSDT @depth@0ms data."""
    path = data_dir / "hftbacktest/examples/usdm/btcusdt_20240808_depth.gz"
    books = (native_mod.OrderBook(), python_mod.OrderBook())
    with gzip.open(path, "rb") as lines:
        for n, line in enumerate(lines):
            body = line.split(b" ", 1)[1].rstrip(b"\n")
            is_snapshot = body.startswith(b'{"lastUpdateId"')
            results = [
                b.apply_snapshot_bytes(body) if is_snapshot else b.apply_diff_bytes(body) for b in books
            ]
            assert results[0] == results[1]
            if n % 50 == 0:
                assert observe(books[0]) == observe(books[1])
    assert observe(books[0]) == observe(books[1])


@pytest.mark.parametrize("depth", [10, 500])
def test_nesting_within_pythons_limit_agrees(
    native_mod: ModuleType, python_mod: ModuleType, depth: int
) -> None:
    body = b'{"x":' + b"[" * depth + b"]" * depth + b',"U":1,"u":2,"pu":0,"b":[],"a":[]}'
    assert native_mod.depth_ids(body) == python_mod.depth_ids(body) == (1, 2, 0)
