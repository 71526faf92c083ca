"""OrderBook and depth_ids behaviour, run against the backend under test."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any, Optional

import pytest

SNAP_BIDS = [["100.0", "1"], ["99.5", "2"], ["99.0", "3"]]
SNAP_ASKS = [["100.5", "1"], ["101.0", "2"], ["101.5", "3"]]


def frame(
    first: int,
    last: int,
    prev: int,
    bids: Optional[list] = None,
    asks: Optional[list] = None,
    combined: bool = False,
) -> bytes:
    payload = {
        "e": "depthUpdate",
        "E": 1,
        "T": 1,
        "s": "BTCUSDT",
        "U": first,
        "u": last,
        "pu": prev,
        "b": bids or [],
        "a": asks or [],
    }
    body: Any = {"stream": "btcusdt@depth@100ms", "data": payload} if combined else payload
    return json.dumps(body, separators=(",", ":")).encode()


def snapshot_body(last_update_id: int, bids: list = SNAP_BIDS, asks: list = SNAP_ASKS) -> bytes:
    body = {"lastUpdateId": last_update_id, "E": 1, "T": 1, "bids": bids, "asks": asks}
    return json.dumps(body).encode()


@pytest.fixture
def synced(backend: ModuleType) -> Any:
    """A book synced at u=105 on the snapshot at 100."""
    book = backend.OrderBook()
    assert book.apply_snapshot_bytes(snapshot_body(100)) == ("loaded", 100, 0)
    assert book.apply_diff_bytes(frame(95, 105, 90)) == ("synced", 100, 105)
    return book


def state(book: Any) -> tuple:
    return (book.state, book.last_update_id, book.buffered, book.bids(), book.asks())


# ---- sync rules --------------------------------------------------------------


def test_diffs_before_the_snapshot_are_buffered_as_one_chain(backend: ModuleType) -> None:
    book = backend.OrderBook()
    assert (book.state, book.synced, book.last_update_id) == ("empty", False, None)
    assert book.apply_diff_bytes(frame(10, 20, 5)) == ("buffered", 0, 20)
    assert book.apply_diff_bytes(frame(21, 30, 20)) == ("buffered", 20, 30)
    assert book.apply_diff_bytes(frame(41, 50, 40)) == ("buffered", 0, 50)
    assert book.buffered == 1
    assert book.bids() == [] and book.best_bid() is None


def test_snapshot_replays_the_buffer_from_the_bridging_diff(backend: ModuleType) -> None:
    book = backend.OrderBook()
    book.apply_diff_bytes(frame(80, 90, 70, bids=[["100.0", "9"]]))  # u < L: stale
    book.apply_diff_bytes(frame(91, 110, 90, bids=[["99.5", "0"]]))  # U <= L <= u
    book.apply_diff_bytes(frame(111, 120, 110, asks=[["100.5", "7.25"]]))
    assert book.apply_snapshot_bytes(snapshot_body(100)) == ("synced", 100, 120)
    assert (book.state, book.synced, book.last_update_id, book.buffered) == ("synced", True, 120, 0)
    assert book.bids() == [("100.0", "1"), ("99.0", "3")]
    assert book.best_ask() == ("100.5", "7.25")


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        (100, 130, ("synced", 100, 130)),  # U == L
        (60, 100, ("synced", 100, 100)),  # u == L is kept (the spot rule would drop it)
        (60, 99, ("loaded", 100, 0)),  # u == L - 1 is stale
        (101, 130, ("unbridged", 100, 101)),  # U == L + 1: the snapshot is too old
    ],
)
def test_bridge_boundaries(backend: ModuleType, first: int, last: int, expected: tuple) -> None:
    book = backend.OrderBook()
    book.apply_diff_bytes(frame(first, last, 1))
    assert book.apply_snapshot_bytes(snapshot_body(100)) == expected


def test_unbridged_snapshot_keeps_the_buffer_for_the_next_one(backend: ModuleType) -> None:
    book = backend.OrderBook()
    book.apply_diff_bytes(frame(150, 160, 140))
    book.apply_diff_bytes(frame(161, 170, 160))
    assert book.apply_snapshot_bytes(snapshot_body(100)) == ("unbridged", 100, 150)
    assert (book.state, book.last_update_id, book.bid_count, book.buffered) == ("empty", None, 0, 2)
    assert book.apply_snapshot_bytes(snapshot_body(165)) == ("synced", 165, 170)


def test_loaded_snapshot_waits_for_a_bridging_diff(backend: ModuleType) -> None:
    book = backend.OrderBook()
    assert book.apply_snapshot_bytes(snapshot_body(100)) == ("loaded", 100, 0)
    assert (book.state, book.synced, book.last_update_id) == ("loaded", False, 100)
    assert book.best_bid() == ("100.0", "1"), "a loaded snapshot is a valid book"
    assert book.apply_diff_bytes(frame(61, 99, 60)) == ("stale", 100, 99)
    assert book.apply_diff_bytes(frame(100, 101, 99)) == ("synced", 100, 101)


def test_stream_that_skips_the_loaded_snapshot_is_unbridged(backend: ModuleType) -> None:
    book = backend.OrderBook()
    book.apply_snapshot_bytes(snapshot_body(100))
    assert book.apply_diff_bytes(frame(101, 110, 95)) == ("unbridged", 100, 101)
    assert (book.state, book.bid_count, book.buffered) == ("empty", 0, 1)


def test_pu_break_is_a_gap_and_the_breaking_diff_starts_the_buffer(backend: ModuleType, synced: Any) -> None:
    assert synced.apply_diff_bytes(frame(106, 110, 105, bids=[["100.0", "4"]])) == (
        "applied",
        105,
        110,
    )
    assert synced.apply_diff_bytes(frame(120, 130, 115)) == ("gap", 110, 120)
    assert (synced.state, synced.last_update_id, synced.bids(), synced.buffered) == (
        "empty",
        None,
        [],
        1,
    )
    assert synced.apply_snapshot_bytes(snapshot_body(125)) == ("synced", 125, 130)


def test_stale_diff_is_ignored(backend: ModuleType, synced: Any) -> None:
    before = state(synced)
    assert synced.apply_diff_bytes(frame(90, 104, 80, bids=[["100.0", "0"]])) == (
        "stale",
        105,
        104,
    )
    assert state(synced) == before


def test_quantities_are_absolute_and_zero_removes(synced: Any) -> None:
    changes = frame(
        106,
        107,
        105,
        bids=[["100.0", "0.5"], ["99.5", "0.000"], ["99.7", "2"]],
        asks=[["101", "0"]],
    )
    assert synced.apply_diff_bytes(changes)[0] == "applied"
    assert synced.bids() == [("100.0", "0.5"), ("99.7", "2"), ("99.0", "3")]
    assert synced.asks() == [("100.5", "1"), ("101.5", "3")]


def test_removing_a_missing_level_changes_nothing(synced: Any) -> None:
    before = (synced.bids(), synced.asks())
    synced.apply_diff_bytes(frame(106, 107, 105, bids=[["42", "0"]], asks=[["4200", "0.0"]]))
    assert (synced.bids(), synced.asks()) == before


def test_crossed_book_is_kept_as_sent(synced: Any) -> None:
    synced.apply_diff_bytes(frame(106, 107, 105, bids=[["101.0", "1"]]))
    assert synced.best_bid() == ("101.0", "1")
    assert synced.spread() == "-0.5"
    assert synced.spread(as_float=True) == -0.5
    assert synced.mid() == "100.75"


def test_buffer_bound_drops_the_oldest(backend: ModuleType) -> None:
    book = backend.OrderBook(max_buffered=3)
    prev = 0
    for k in range(1, 6):
        book.apply_diff_bytes(frame(k * 10, k * 10 + 5, prev))
        prev = k * 10 + 5
    assert (book.buffered, book.max_buffered) == (3, 3)
    assert book.apply_snapshot_bytes(snapshot_body(12)) == ("unbridged", 12, 30)
    assert book.apply_snapshot_bytes(snapshot_body(32)) == ("synced", 32, 55)
    assert backend.OrderBook(0).apply_diff_bytes(frame(1, 2, 0)) == ("buffered", 0, 2)


def test_invalidate_forces_a_resync(synced: Any) -> None:
    synced.invalidate()
    assert state(synced) == ("empty", None, 0, [], [])
    assert synced.apply_diff_bytes(frame(106, 107, 105)) == ("buffered", 0, 107)


def test_huge_ids_chain_by_pu_alone(backend: ModuleType) -> None:
    top = 2**64 - 1
    book = backend.OrderBook()
    book.apply_snapshot(1, [], [])
    assert book.apply_diff(0, 5, 0, [], []) == ("synced", 1, 5)
    assert book.apply_diff(10**15, top - 1, 5, [], []) == ("applied", 5, top - 1)
    assert book.apply_diff(top, top, top - 1, [], []) == ("applied", top - 1, top)


# ---- parsed values and frames ------------------------------------------------


def test_parsed_values_and_frames_agree(backend: ModuleType) -> None:
    by_values, by_frame, by_combined = (backend.OrderBook() for _ in range(3))
    by_values.apply_snapshot(100, SNAP_BIDS, [tuple(x) for x in SNAP_ASKS])
    by_frame.apply_snapshot_bytes(snapshot_body(100))
    by_combined.apply_snapshot_bytes(snapshot_body(100))
    changes = ([["99.9", "4"]], [["100.5", "0"], ["100.6", "2.000"]])
    assert by_values.apply_diff(95, 105, 90, *changes) == ("synced", 100, 105)
    assert by_frame.apply_diff_bytes(frame(95, 105, 90, *changes)) == ("synced", 100, 105)
    assert by_combined.apply_diff_bytes(frame(95, 105, 90, *changes, combined=True)) == (
        "synced",
        100,
        105,
    )
    assert state(by_values) == state(by_frame) == state(by_combined)


def test_depth_ids_reads_bare_and_combined_frames(backend: ModuleType) -> None:
    assert backend.depth_ids(frame(5, 7, 4)) == (5, 7, 4)
    assert backend.depth_ids(frame(5, 7, 4, combined=True)) == (5, 7, 4)
    big = 2**64 - 1
    assert backend.depth_ids(frame(big, big, 0)) == (big, big, 0)


def test_unknown_fields_key_order_and_whitespace_are_accepted(backend: ModuleType) -> None:
    body = b' { "a":[ ] ,"new":{"x":[1,2.5e3,null,true,"\\u00e9"]}, "pu":1,"b":[],"u":3,"U":2 } '
    assert backend.depth_ids(body) == (2, 3, 1)


# ---- output ------------------------------------------------------------------


def test_prices_keep_the_exchange_text_and_compare_by_value(backend: ModuleType) -> None:
    book = backend.OrderBook()
    book.apply_snapshot(1, [["7.6110", "6"], ["7.5", "0.010"]], [["7.6120", "297.000"]])
    assert book.bids() == [("7.6110", "6"), ("7.5", "0.010")]
    book.apply_snapshot(2, [["7.6110", "6"], ["7.611", "5"]], [])
    assert book.bids() == [("7.611", "5")], "equal values are one level; the last text wins"
    book.apply_snapshot(3, [["007.50", "01.0"]], [])
    assert book.best_bid() == ("7.50", "1.0")


def test_top_n_floats_mid_and_spread(backend: ModuleType) -> None:
    book = backend.OrderBook()
    book.apply_snapshot(1, [["7.6110", "6"], ["7.6100", "1.5"]], [["7.6120", "297"]])
    assert book.bids(1) == [("7.6110", "6")]
    assert book.bids(0) == []
    assert book.bids(5, as_float=True) == [(7.611, 6.0), (7.61, 1.5)]
    assert book.asks(as_float=True) == [(7.612, 297.0)]
    assert book.best_bid(as_float=True) == (7.611, 6.0)
    assert (book.bid_count, book.ask_count) == (2, 1)
    assert book.mid() == "7.6115"
    assert book.mid(as_float=True) == 7.6115
    assert book.spread() == "0.0010"
    assert book.spread(True) == 0.001


def test_float_output_is_the_correctly_rounded_value(backend: ModuleType) -> None:
    texts = ["0.1", "0.3", "123456789.123456789", "18446744073709551615.999999999999999999"]
    book = backend.OrderBook()
    book.apply_snapshot(1, [[t, t] for t in texts], [])
    assert sorted(book.bids(as_float=True)) == sorted((float(t), float(t)) for t in texts)


def test_empty_sides_answer_none(backend: ModuleType) -> None:
    book = backend.OrderBook()
    assert (book.best_bid(), book.best_ask(), book.mid(), book.spread()) == (None,) * 4
    book.apply_snapshot(1, [], [["5", "1"]])
    assert (book.best_bid(), book.mid(True), book.spread(True)) == (None, None, None)
    assert book.best_ask() == ("5", "1")


def test_checksum_is_value_based_and_covers_only_the_top_n(backend: ModuleType) -> None:
    a, b = backend.OrderBook(), backend.OrderBook()
    a.apply_snapshot(1, [["7.6110", "6"], ["7.0", "1"]], [["7.6120", "297"]])
    b.apply_snapshot(9, [["7.611", "6.0"], ["6.0", "1"]], [["7.612", "297"]])
    assert a.checksum(1) == b.checksum(1)
    assert a.checksum() != b.checksum()
    b.apply_snapshot(9, [["7.611", "6.0"], ["7.0", "1"]], [["7.612", "297"]])
    assert a.checksum() == b.checksum()
    assert 0 <= a.checksum(0) < 2**64


def test_checksum_is_the_documented_fnv1a(backend: ModuleType) -> None:
    """docs/orderbook.md defines the words; recompute them independently."""
    book = backend.OrderBook()
    book.apply_snapshot(1, [["2.5", "1.25"]], [["3", "0.5"], ["4", "1"]])
    words = [1, 1, 2, 5 * 10**17, 1, 25 * 10**16, 3, 0, 0, 5 * 10**17]
    h = 0xCBF29CE484222325
    for w in words:
        h = ((h ^ w) * 0x100000001B3) % 2**64
    assert book.checksum(1) == h


def test_repr_names_the_state(synced: Any) -> None:
    expected = "OrderBook(state='synced', last_update_id=105, bids=3, asks=3, buffered=0)"
    assert repr(synced) == expected


# ---- errors ------------------------------------------------------------------


NOT_U64 = "must be an unsigned 64-bit integer"
LEVELS = b'{"U":1,"u":2,"pu":1,'  # a valid head; the cases below append the levels


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[1]", "expected a JSON object"),
        (b'{"e":"bookTicker","U":1}', "field 'e' must be \"depthUpdate\""),
        (b'{"U":1,"u":2,"b":[],"a":[]}', "missing field 'pu'"),
        (b'{"U":-1,"u":2,"pu":1,"b":[],"a":[]}', f"field 'U' {NOT_U64}"),
        (b'{"U":1,"u":2.0,"pu":1,"b":[],"a":[]}', f"field 'u' {NOT_U64}"),
        (b'{"U":1,"u":2,"pu":true,"b":[],"a":[]}', f"field 'pu' {NOT_U64}"),
        (b'{"U":1,"u":2,"pu":18446744073709551616,"b":[],"a":[]}', f"field 'pu' {NOT_U64}"),
        (b'{"U":3,"u":2,"pu":1,"b":[],"a":[]}', "U (3) is greater than u (2)"),
        (LEVELS + b'"b":{},"a":[]}', "field 'b' must be a list of [price, quantity] pairs"),
        (LEVELS + b'"b":[],"a":[["1","2"],["1"]]}', "a[1] must be a [price, quantity] pair"),
        (LEVELS + b'"b":[[1,"2"]],"a":[]}', "b[0] price must be a string"),
        (LEVELS + b'"b":[["1",2]],"a":[]}', "b[0] quantity must be a string"),
        (LEVELS + b'"b":[["1","-2"]],"a":[]}', "b[0] quantity is not decimal text"),
        (LEVELS + b'"b":[["1e3","2"]],"a":[]}', "b[0] price is not decimal text"),
        (LEVELS + b'"b":[["0.1234567890123456789","2"]],"a":[]}', "b[0] price has more than 18 decimal places"),  # noqa: E501
        (LEVELS + b'"b":[["18446744073709551616","2"]],"a":[]}', "b[0] price is too large"),
        (b'{"stream":"x","data":{"U":1,"u":2,"pu":1,"b":[]}}', "missing field 'a'"),
        (b'{"x":"\xff"}', "invalid JSON: not UTF-8 at byte 6"),
    ],
)  # fmt: skip
def test_malformed_frames_raise_one_line_value_errors(
    backend: ModuleType, synced: Any, body: bytes, message: str
) -> None:
    before = state(synced)
    with pytest.raises(ValueError) as info:
        synced.apply_diff_bytes(body)
    assert str(info.value) == f"depth update: {message}"
    with pytest.raises(ValueError) as info:
        backend.depth_ids(body)
    assert str(info.value) == f"depth update: {message}"
    assert state(synced) == before


@pytest.mark.parametrize(
    "body",
    [
        b'{"U":1,"u":2,"pu":1,"b":[],"a":[]',
        b'{"U":1,"u":2,"pu":1,"b":[["1","2"],],"a":[]}',
        b'{"U":01,"u":2,"pu":1,"b":[],"a":[]}',
        b'{"U":1,"u":2,"pu":1,"b":[],"a":[],"x":NaN}',
        b'{"U":1,"u":2,"pu":1,"b":[],"a":[]} x',
        b'{"U":"x","u":2,"pu":1,"b":[],"a":[]',  # the syntax error wins
        b"",
    ],
)
def test_invalid_json_is_reported_as_such(synced: Any, body: bytes) -> None:
    before = state(synced)
    with pytest.raises(ValueError, match=r"^depth update: invalid JSON: "):
        synced.apply_diff_bytes(body)
    assert state(synced) == before


def test_snapshot_errors_name_the_field(backend: ModuleType, synced: Any) -> None:
    before = state(synced)
    cases = [
        (b'{"code":-1121,"msg":"Invalid symbol."}', "missing field 'lastUpdateId'"),
        (b'{"lastUpdateId":1,"bids":[],"asks":[[1,1]]}', "asks[0] price must be a string"),
        (b'{"lastUpdateId":1,"bids":[]}', "missing field 'asks'"),
    ]
    for body, message in cases:
        with pytest.raises(ValueError) as info:
            synced.apply_snapshot_bytes(body)
        assert str(info.value) == f"depth snapshot: {message}"
    with pytest.raises(ValueError, match=r"^depth snapshot: bids\[1\] must be a \[price"):
        synced.apply_snapshot(5, [("1", "1"), ("2",)], [])
    with pytest.raises(ValueError, match="field 'lastUpdateId' must be an unsigned"):
        synced.apply_snapshot(-5, [], [])
    assert state(synced) == before


def test_parsed_value_errors_match_frame_errors(synced: Any) -> None:
    before = state(synced)
    cases = [
        ((1, 2, "1", [], []), "depth update: field 'pu' must be an unsigned 64-bit integer"),
        ((1, 2, False, [], []), "depth update: field 'pu' must be an unsigned 64-bit integer"),
        ((1.0, 2, 1, [], []), "depth update: field 'U' must be an unsigned 64-bit integer"),
        ((3, 2, 1, [], []), "depth update: U (3) is greater than u (2)"),
        ((1, 2, 1, "ab", []), "depth update: field 'b' must be a list of [price, quantity] pairs"),
        ((1, 2, 1, [], [("1", 2)]), "depth update: a[0] quantity must be a string"),
        ((1, 2, 1, [], [("1", "\ud800")]), "depth update: a[0] quantity is not decimal text"),
        ((1, 2, 1, [], [("١", "1")]), "depth update: a[0] price is not decimal text"),
    ]
    for args, message in cases:
        with pytest.raises(ValueError) as info:
            synced.apply_diff(*args)
        assert str(info.value) == message
    assert state(synced) == before


def test_argument_errors(backend: ModuleType) -> None:
    # str(), not match=: pyo3 adds a note naming the argument, which match= also sees.
    for bad in (-1, True, 1.5, "3", None):
        with pytest.raises(ValueError) as info:
            backend.OrderBook(bad)
        assert str(info.value) == "max_buffered must be a non-negative integer"
    book = backend.OrderBook()
    for bad in (-1, True, 2.0):
        for method in (book.bids, book.asks, book.checksum):
            with pytest.raises(ValueError) as info:
                method(bad)
            assert str(info.value) == "n must be a non-negative integer"
    with pytest.raises(TypeError):
        book.bids(3, 1)
    for method in (book.apply_diff_bytes, book.apply_snapshot_bytes, backend.depth_ids):
        with pytest.raises(TypeError):
            method('{"U":1}')


def test_repeated_reads_follow_every_change(synced: Any) -> None:
    """Reads may reuse the objects of unchanged levels; they must never be stale."""
    first = synced.bids(10)
    first.clear()  # the caller owns the list
    assert synced.bids(10) == [("100.0", "1"), ("99.5", "2"), ("99.0", "3")]
    synced.apply_diff_bytes(frame(106, 107, 105, bids=[["99.5", "2.5"], ["99.9", "1"]]))
    assert synced.best_bid() == ("100.0", "1")
    assert synced.bids(10) == [("100.0", "1"), ("99.9", "1"), ("99.5", "2.5"), ("99.0", "3")]
    assert synced.bids(10, as_float=True) == [(100.0, 1.0), (99.9, 1.0), (99.5, 2.5), (99.0, 3.0)]
    synced.apply_diff_bytes(frame(108, 109, 107, bids=[["100.0", "0"], ["100.00", "0"]]))
    assert synced.best_bid() == ("99.9", "1")
    assert synced.best_bid(True) == (99.9, 1.0)
    assert synced.bids(2) == [("99.9", "1"), ("99.5", "2.5")]
    synced.apply_diff_bytes(frame(110, 111, 109, bids=[["99.9", "1.0"]]))
    assert synced.bids(1) == [("99.9", "1.0")], "same value, new text: the text is refreshed"


def test_mid_and_spread_stay_exact_at_the_largest_prices(backend: ModuleType) -> None:
    top = "18446744073709551615.999999999999999999"
    book = backend.OrderBook()
    book.apply_snapshot(1, [[top, "1"]], [[top, "1"]])
    assert (book.mid(), book.spread()) == (top, "0.000000000000000000")
    book.apply_snapshot(1, [[top, "1"]], [["0.000000000000000001", "1"]])
    assert book.mid() == "9223372036854775808.000000000000000000"
    assert book.spread() == "-18446744073709551615.999999999999999998"
