"""JSON-to-CSV batching, checked on the backend of this pass (native or fallback):
rows per kind, file grouping, UTC days, escapes and quoting, and the report
of records that give no rows."""

from __future__ import annotations

import csv
import io
import json
from types import ModuleType
from typing import Any, Dict, List, Sequence, Tuple

import pytest

from binance_streamer import records, schema

LT = 1_760_000_000_500_000  # local receive time, µs
SYMBOLS = ["ETHUSDT", "BTCUSDT"]

AGG = {
    "e": "aggTrade", "E": 1760000000123, "a": 2900000001, "s": "ETHUSDT", "p": "4012.35",
    "q": "1.250", "nq": "1.250", "f": 7100000010, "l": 7100000012, "T": 1760000000101,
    "m": True, "st": 1,
}  # fmt: skip
DEPTH = {
    "e": "depthUpdate", "E": 1760000000250, "T": 1760000000248, "s": "ETHUSDT",
    "ps": "ETHUSDT", "U": 9800000001200, "u": 9800000001275, "pu": 9800000001150,
    "b": [["4012.30", "8.412"], ["4011.90", "0.000"]], "a": [["4012.40", "3.105"]],
}  # fmt: skip
KLINE = {
    "e": "kline", "E": 1760000000400, "s": "ETHUSDT",
    "k": {
        "t": 1759999980000, "T": 1760000039999, "s": "ETHUSDT", "i": "1m", "f": 7100000001,
        "L": 7100000012, "o": "4010.00", "c": "4012.35", "h": "4013.10", "l": "4009.75",
        "v": "152.318", "n": 412, "x": True, "q": "611002.48120", "V": "80.004",
        "Q": "320934.10050", "B": "0",
    },
}  # fmt: skip
TRADE = {
    "e": "trade", "E": 1723161256322, "T": 1723161256321, "s": "BTCUSDT", "t": 5266583935,
    "p": "61800.30", "q": "0.006", "X": "MARKET", "m": False,
}  # fmt: skip
BOOK_TICKER = {
    "e": "bookTicker", "u": 11757092630476, "s": "BTCUSDT", "ps": "BTCUSDT", "b": "83091.60",
    "B": "4.215", "a": "83091.70", "A": "3.763", "T": 1791382994657, "E": 1791382994658,
}  # fmt: skip
MARK_PRICE = {
    "e": "markPriceUpdate", "E": 1760000001000, "s": "ETHUSDT", "p": "4012.35000000",
    "i": "4011.80512345", "P": "4013.10000000", "r": "0.00010000", "T": 1760025600000,
}  # fmt: skip
SNAPSHOT = {
    "lastUpdateId": 9800000001230, "E": 1760000000260, "T": 1760000000255,
    "bids": [["4012.30", "8.412"], ["4012.20", "1.007"]], "asks": [["4012.40", "3.105"]],
}  # fmt: skip


def frame(payload: Any, lt: int = LT) -> bytes:
    text = payload if isinstance(payload, (str, bytes)) else json.dumps(payload)
    raw = text.encode() if isinstance(text, str) else text
    return records.pack(records.KIND_FRAME, 0, lt, raw)


def rec(kind: int, symbol_id: int, payload: Any, lt: int = LT) -> bytes:
    raw = json.dumps(payload).encode() if isinstance(payload, dict) else payload
    return records.pack(kind, symbol_id, lt, raw)


def files(result: Any) -> Dict[str, str]:
    return {path: data.decode() for path, _kind, data in result.files}


def only_rows(result: Any) -> List[Dict[str, str]]:
    """The rows of the single output file, parsed with its header."""
    assert len(result.files) == 1, result.files
    _path, kind, data = result.files[0]
    return list(csv.DictReader(io.StringIO((schema.header(kind) + data).decode(), newline="")))


def skipped_as(backend: ModuleType, record: bytes) -> Tuple[str, str]:
    res = backend.encode_records([record], SYMBOLS)
    assert res.files == [] and len(res.skipped) == 1, res.skipped
    ((kind, (count, _sample, reason)),) = res.skipped.items()
    assert count == 1
    return kind, reason


def test_agg_trade_row_has_every_column(backend: ModuleType) -> None:
    res = backend.encode_records([frame(AGG)], SYMBOLS)
    assert res.files[0][:2] == ("ETHUSDT/aggtrade_ETHUSDT_20251009.csv", "aggtrade")
    assert only_rows(res) == [
        {
            "local_time_us": str(LT), "event_time_ms": "1760000000123", "symbol": "ETHUSDT",
            "agg_trade_id": "2900000001", "price": "4012.35", "quantity": "1.250",
            "first_trade_id": "7100000010", "last_trade_id": "7100000012",
            "trade_time_ms": "1760000000101", "is_buyer_maker": "true",
        }
    ]  # fmt: skip
    assert res.rows == {"aggtrade": 1}
    assert res.skipped == {}


def test_combined_wrapper_and_bare_payload_give_the_same_rows(backend: ModuleType) -> None:
    wrapped = {"stream": "ethusdt@aggTrade", "data": AGG}
    a = backend.encode_records([frame(AGG)], SYMBOLS)
    b = backend.encode_records([frame(wrapped)], SYMBOLS)
    assert a.files == b.files


def test_depth_writes_a_row_per_level_bids_first(backend: ModuleType) -> None:
    rows = only_rows(backend.encode_records([frame(DEPTH)], SYMBOLS))
    assert [(r["side"], r["price"], r["quantity"]) for r in rows] == [
        ("bid", "4012.30", "8.412"),
        ("bid", "4011.90", "0.000"),
        ("ask", "4012.40", "3.105"),
    ]
    for r in rows:
        assert (r["first_update_id"], r["final_update_id"], r["prev_final_update_id"]) == (
            "9800000001200", "9800000001275", "9800000001150",
        )  # fmt: skip
        assert (r["event_time_ms"], r["transaction_time_ms"]) == ("1760000000250", "1760000000248")


def test_depth_update_without_levels_still_writes_its_ids(backend: ModuleType) -> None:
    empty = dict(DEPTH, b=[], a=[], U=9800000001276, u=9800000001276, pu=9800000001275)
    res = backend.encode_records([frame(empty)], SYMBOLS)
    assert (
        res.files[0][2]
        == (
            f"{LT},1760000000250,1760000000248,ETHUSDT,9800000001276,9800000001276,9800000001275,,,\n"
        ).encode()
    )
    assert res.rows == {"depth": 1}


def test_kline_keeps_only_closed_candles_by_default(backend: ModuleType) -> None:
    open_ = dict(KLINE, k=dict(KLINE["k"], x=False))
    res = backend.encode_records([frame(open_), frame(KLINE)], SYMBOLS)
    assert res.files[0][0] == "ETHUSDT/kline_1m_ETHUSDT_20251009.csv"
    (row,) = only_rows(res)
    assert row == {
        "local_time_us": str(LT), "event_time_ms": "1760000000400", "symbol": "ETHUSDT",
        "interval": "1m", "open_time_ms": "1759999980000", "close_time_ms": "1760000039999",
        "first_trade_id": "7100000001", "last_trade_id": "7100000012", "open": "4010.00",
        "high": "4013.10", "low": "4009.75", "close": "4012.35", "volume": "152.318",
        "trade_count": "412", "is_closed": "true", "quote_volume": "611002.48120",
        "taker_buy_volume": "80.004", "taker_buy_quote_volume": "320934.10050",
    }  # fmt: skip
    assert res.skipped == {}  # an open candle is filtered, not malformed
    every = backend.encode_records([frame(open_), frame(KLINE)], SYMBOLS, keep_all_klines=True)
    assert [r["is_closed"] for r in only_rows(every)] == ["false", "true"]


def test_trade_book_ticker_and_mark_price(backend: ModuleType) -> None:
    res = backend.encode_records(
        [frame(TRADE), frame(BOOK_TICKER), frame(MARK_PRICE), frame(dict(TRADE, X=None))],
        SYMBOLS,
    )
    assert files(res) == {
        "BTCUSDT/trade_BTCUSDT_20240808.csv": (
            f"{LT},1723161256322,1723161256321,BTCUSDT,5266583935,61800.30,0.006,false,MARKET\n"
            f"{LT},1723161256322,1723161256321,BTCUSDT,5266583935,61800.30,0.006,false,\n"
        ),
        "BTCUSDT/bookticker_BTCUSDT_20261007.csv": (
            f"{LT},1791382994658,1791382994657,BTCUSDT,11757092630476,83091.60,4.215,83091.70,3.763\n"
        ),
        "ETHUSDT/markprice_ETHUSDT_20251009.csv": (
            f"{LT},1760000001000,ETHUSDT,4012.35000000,4011.80512345,4013.10000000,0.00010000,1760025600000\n"
        ),
    }


def test_snapshot_rows_per_level_under_the_symbol_table_name(backend: ModuleType) -> None:
    res = backend.encode_records([rec(records.KIND_SNAPSHOT, 1, SNAPSHOT)], SYMBOLS)
    assert res.files[0][:2] == ("BTCUSDT/BTCUSDT_depth_snapshot_20251009.csv", "snapshot")
    assert res.files[0][2].decode().splitlines() == [
        f"{LT},1760000000260,1760000000255,BTCUSDT,9800000001230,bid,4012.30,8.412",
        f"{LT},1760000000260,1760000000255,BTCUSDT,9800000001230,bid,4012.20,1.007",
        f"{LT},1760000000260,1760000000255,BTCUSDT,9800000001230,ask,4012.40,3.105",
    ]


def test_snapshot_without_event_time_is_filed_by_local_day(backend: ModuleType) -> None:
    body = {"lastUpdateId": 5, "bids": [], "asks": [["1", "2"]], "T": None}
    res = backend.encode_records([rec(records.KIND_SNAPSHOT, 0, body, lt=86_400_000_000)], SYMBOLS)
    assert files(res) == {"ETHUSDT/ETHUSDT_depth_snapshot_19700102.csv": "86400000000,,,ETHUSDT,5,ask,1,2\n"}


def test_gap_rows_quote_free_text_and_leave_unknown_ids_empty(backend: ModuleType) -> None:
    gap = {
        "stream": "btcusdt@depth@100ms",
        "reason": "sequence break",
        "last_id": 9800000001275,
        "next_id": None,
        "detail": 'pu 9800000001274, expected "9800000001275"',
    }
    res = backend.encode_records([rec(records.KIND_GAP, 1, gap, lt=0)], SYMBOLS)
    assert files(res) == {
        "BTCUSDT/gaps_BTCUSDT_19700101.csv": (
            "0,BTCUSDT,btcusdt@depth@100ms,sequence break,9800000001275,,"
            '"pu 9800000001274, expected ""9800000001275"""\n'
        )
    }
    (row,) = only_rows(res)
    assert row["detail"] == gap["detail"]


def test_orderbook_numbers_levels_from_the_best(backend: ModuleType) -> None:
    book = {"last_update_id": 77, "bids": [["10", "1"], ["9", "2"]], "asks": [["11", "3"]]}
    res = backend.encode_records([rec(records.KIND_ORDERBOOK, 0, book)], SYMBOLS)
    assert [(r["side"], r["level"], r["price"]) for r in only_rows(res)] == [
        ("bid", "1", "10"),
        ("bid", "2", "9"),
        ("ask", "1", "11"),
    ]
    empty = {"last_update_id": 78, "bids": [], "asks": []}
    res = backend.encode_records([rec(records.KIND_ORDERBOOK, 0, empty)], SYMBOLS)
    assert res.files[0][2] == f"{LT},ETHUSDT,78,,,,\n".encode()


def test_files_in_first_appearance_order_rows_in_input_order(backend: ModuleType) -> None:
    def agg(sym: str, a: int) -> bytes:
        return frame(dict(AGG, s=sym, a=a))

    recs = [agg("ETHUSDT", 1), agg("BTCUSDT", 2), frame(DEPTH), agg("ETHUSDT", 3)]
    res = backend.encode_records(recs, SYMBOLS)
    assert [(p, k) for p, k, _ in res.files] == [
        ("ETHUSDT/aggtrade_ETHUSDT_20251009.csv", "aggtrade"),
        ("BTCUSDT/aggtrade_BTCUSDT_20251009.csv", "aggtrade"),
        ("ETHUSDT/depth_ETHUSDT_20251009.csv", "depth"),
    ]
    assert [r.split(",")[3] for r in res.files[0][2].decode().splitlines()] == ["1", "3"]
    assert list(res.rows.items()) == [("aggtrade", 3), ("depth", 3)]


def test_a_batch_crossing_midnight_splits_by_event_time_not_local_time(
    backend: ModuleType,
) -> None:
    midnight = 1_760_054_400_000  # 2025-10-10T00:00:00Z
    recs = [
        frame(dict(AGG, E=midnight - 1, a=1), lt=(midnight + 5) * 1000),
        frame(dict(AGG, E=midnight, a=2), lt=(midnight - 5) * 1000),
        frame(dict(AGG, E=midnight - 2, a=3)),
    ]
    res = backend.encode_records(recs, SYMBOLS)
    got = {path: [row.split(",")[3] for row in text.splitlines()] for path, text in files(res).items()}
    assert got == {
        "ETHUSDT/aggtrade_ETHUSDT_20251009.csv": ["1", "3"],
        "ETHUSDT/aggtrade_ETHUSDT_20251010.csv": ["2"],
    }


def test_gaps_and_order_books_cross_midnight_by_local_time(backend: ModuleType) -> None:
    day = 86_400_000_000
    gap = {"stream": "s", "reason": "reconnect"}
    recs = [rec(records.KIND_GAP, 0, gap, lt=day - 1), rec(records.KIND_GAP, 0, gap, lt=day)]
    res = backend.encode_records(recs, SYMBOLS)
    assert [p for p, _, _ in res.files] == [
        "ETHUSDT/gaps_ETHUSDT_19700101.csv",
        "ETHUSDT/gaps_ETHUSDT_19700102.csv",
    ]


def test_escapes_and_unicode_are_decoded(backend: ModuleType) -> None:
    # Escaped symbol, surrogate pair, lone surrogate, quotes, CR/LF and commas.
    text = (
        '{"e":"aggTrade","E":1760000000123,"a":1,"s":"ETH\\u0055SDT","p":"4\\u00e9,5",'
        '"q":"\\ud83d\\ude00 \\"q\\"\\r\\n\\\\","f":1,"l":1,"T":1,"m":false,'
        '"note":"\\ud800 skipped"}'
    )
    res = backend.encode_records([frame(text)], SYMBOLS)
    assert res.files[0][0] == "ETHUSDT/aggtrade_ETHUSDT_20251009.csv"
    assert res.files[0][2] == (f'{LT},1760000000123,ETHUSDT,1,"4é,5","😀 ""q""\r\n\\",1,1,1,false\n'.encode())
    (row,) = only_rows(res)
    assert (row["price"], row["quantity"]) == ("4é,5", '😀 "q"\r\n\\')
    lone = text.replace('"p":"4\\u00e9,5"', '"p":"\\udc00x"')
    res = backend.encode_records([frame(lone)], SYMBOLS)
    assert only_rows(res)[0]["price"] == "\ufffdx"


def test_symbols_in_other_scripts_name_their_files(backend: ModuleType) -> None:
    res = backend.encode_records([frame(dict(AGG, s="币安人生USDT"))], ["币安人生USDT"])
    assert res.files[0][0] == "币安人生USDT/aggtrade_币安人生USDT_20251009.csv"


def test_pretty_printed_frames_parse(backend: ModuleType) -> None:
    pretty = json.dumps({"stream": "ethusdt@depth", "data": DEPTH}, indent=1)
    compact = json.dumps(DEPTH)
    a = backend.encode_records([frame(pretty)], SYMBOLS)
    assert a.files == backend.encode_records([frame(compact)], SYMBOLS).files


def test_decimal_and_integer_text_is_verbatim(backend: ModuleType) -> None:
    text = json.dumps(dict(AGG, p="0.00000001000", q="1E-8")).replace(
        '"a": 2900000001', '"a": 123456789012345678901234567890'
    )
    (row,) = only_rows(backend.encode_records([frame(text)], SYMBOLS))
    assert (row["price"], row["quantity"]) == ("0.00000001000", "1E-8")
    assert row["agg_trade_id"] == "123456789012345678901234567890"


BAD_FRAMES: List[Tuple[str, bytes, str, str]] = [
    ("not json", b'{"e":', "frame", "invalid JSON"),
    ("trailing data", json.dumps(AGG).encode() + b" x", "frame", "invalid JSON"),
    ("NaN", json.dumps(AGG).replace("1.250", "x").replace('"x"', "NaN").encode(), "frame",
     "invalid JSON"),
    ("control char in string", b'{"e":"a\x01"}', "frame", "invalid JSON"),
    ("not utf-8", b'{"e":"\xff"}', "frame", "not valid UTF-8"),
    ("array", b"[1, 2]", "frame", "not a JSON object"),
    ("data not object", b'{"stream":"x","data":"y"}', "frame", '"data" is not an object'),
    ("no event type", b'{"E":1}', "frame", 'no event type "e"'),
    ("event type not string", b'{"e":5}', "frame", 'event type "e" is not a string'),
    ("subscription ack", b'{"result":null,"id":1}', "control",
     "control frame (result/error reply)"),
    ("error reply", b'{"error":{"code":4,"msg":"Too many subscriptions"}}', "control",
     "control frame (result/error reply)"),
    ("unknown event", b'{"e":"forceOrder","E":1}', "unknown", 'unknown event type "forceOrder"'),
    ("unprintable event", b'{"e":"a,b"}', "unknown", "unknown event type"),
    ("missing price", json.dumps({k: v for k, v in AGG.items() if k != "p"}).encode(),
     "aggtrade", 'field "p" missing'),
    ("price as number", json.dumps(dict(AGG, p=4012.35)).encode(), "aggtrade",
     'field "p" is not a string'),
    ("id as float", json.dumps(dict(AGG, a=1.5)).encode(), "aggtrade",
     'field "a" is not an integer'),
    ("id as string", json.dumps(dict(AGG, a="1")).encode(), "aggtrade",
     'field "a" is not an integer'),
    ("maker as int", json.dumps(dict(AGG, m=1)).encode(), "aggtrade",
     'field "m" is not a boolean'),
    ("negative time", json.dumps(dict(AGG, E=-1)).encode(), "aggtrade",
     'field "E" is out of range'),
    ("year 10000", json.dumps(dict(AGG, E=253402300800000)).encode(), "aggtrade",
     'field "E" is out of range'),
    ("path in symbol", json.dumps(dict(AGG, s="../etc")).encode(), "aggtrade",
     'field "s" is not a valid symbol'),
    ("empty symbol", json.dumps(dict(AGG, s="")).encode(), "aggtrade",
     'field "s" is not a valid symbol'),
    ("levels not pairs", json.dumps(dict(DEPTH, a=[["1", "2", "3"]])).encode(), "depth",
     'field "a" is not a list of [price, quantity] pairs'),
    ("levels as numbers", json.dumps(dict(DEPTH, b=[[1, 2]])).encode(), "depth",
     'field "b" is not a list of [price, quantity] pairs'),
    ("kline without k", json.dumps({k: v for k, v in KLINE.items() if k != "k"}).encode(),
     "kline", 'field "k" missing'),
    ("kline k not object", json.dumps(dict(KLINE, k=[])).encode(), "kline",
     'field "k" is not an object'),
    ("kline bad interval", json.dumps(dict(KLINE, k=dict(KLINE["k"], i="1m/x"))).encode(),
     "kline", 'field "k.i" is not a valid interval'),
    ("kline x missing", json.dumps(dict(KLINE, k={k: v for k, v in KLINE["k"].items()
                                                   if k != "x"})).encode(),
     "kline", 'field "k.x" missing'),
]  # fmt: skip


@pytest.mark.parametrize("payload,kind,reason", [c[1:] for c in BAD_FRAMES], ids=[c[0] for c in BAD_FRAMES])
def test_bad_frames_are_skipped_with_a_reason(
    backend: ModuleType, payload: bytes, kind: str, reason: str
) -> None:
    assert skipped_as(backend, frame(payload)) == (kind, reason)


@pytest.mark.parametrize(
    "record,kind,reason",
    [
        (b"\x01\x00", "record", "record shorter than the 16-byte header"),
        (rec(9, 0, b"{}"), "record", "unknown record kind 9"),
        (rec(records.KIND_SNAPSHOT, 2, SNAPSHOT), "snapshot",
         "symbol_id 2 out of range (2 symbols)"),
        (rec(records.KIND_SNAPSHOT, 0, {"code": -1121, "msg": "Invalid symbol."}), "snapshot",
         'field "lastUpdateId" missing'),
        (rec(records.KIND_SNAPSHOT, 0, dict(SNAPSHOT, E=None), lt=-1), "snapshot",
         "local_time_us out of range"),
        (rec(records.KIND_GAP, 0, b"null"), "gaps", "not a JSON object"),
        (rec(records.KIND_GAP, 0, {"stream": "s"}), "gaps", 'field "reason" missing'),
        (rec(records.KIND_GAP, 0, {"stream": "s", "reason": "r", "next_id": "7"}), "gaps",
         'field "next_id" is not an integer'),
        (rec(records.KIND_GAP, 0, {"stream": "s", "reason": "r"}, lt=2**62), "gaps",
         "local_time_us out of range"),
        (rec(records.KIND_ORDERBOOK, 0, {"bids": [], "asks": []}), "orderbook",
         'field "last_update_id" missing'),
        (rec(records.KIND_ORDERBOOK, 0, b"{\xc3\x28}"), "orderbook", "not valid UTF-8"),
    ],
)  # fmt: skip
def test_bad_records_are_skipped_with_a_reason(
    backend: ModuleType, record: bytes, kind: str, reason: str
) -> None:
    assert skipped_as(backend, record) == (kind, reason)


def test_skips_are_counted_per_kind_with_the_first_sample(backend: ModuleType) -> None:
    ack = b'{"result":null,"id":1}'
    long_bad = b'{"e":"' + b"x" * 500
    recs = [frame(ack), frame(long_bad), frame(AGG), frame(ack), b"short", frame(b"{}")]
    res = backend.encode_records(recs, SYMBOLS)
    assert res.rows == {"aggtrade": 1}
    assert res.skipped == {
        "control": (2, ack, "control frame (result/error reply)"),
        "frame": (2, long_bad[:200], "invalid JSON"),
        "record": (1, b"short", "record shorter than the 16-byte header"),
    }


def test_empty_batch(backend: ModuleType) -> None:
    res = backend.encode_records([], [])
    assert (res.files, res.rows, res.skipped) == ([], {}, {})
    assert "files=0" in repr(res)


def test_result_is_read_only(backend: ModuleType) -> None:
    res = backend.encode_records([frame(AGG)], SYMBOLS)
    with pytest.raises(AttributeError):
        res.files = []  # type: ignore[misc]


@pytest.mark.parametrize(
    "records_,symbols,error",
    [
        ([frame(AGG), "text"], SYMBOLS, TypeError),
        ([bytearray(frame(AGG))], SYMBOLS, TypeError),
        ([frame(AGG)], "ETHUSDT", TypeError),
        ([frame(AGG)], (s for s in SYMBOLS), TypeError),
        ([frame(AGG)], set(SYMBOLS), TypeError),
        ([frame(AGG)], ["ETHUSDT", 5], TypeError),
        ([frame(AGG)], ["ETH/USDT"], ValueError),
        ([frame(AGG)], [""], ValueError),
    ],
)
def test_caller_errors_raise(backend: ModuleType, records_: Sequence[Any], symbols: Any, error: type) -> None:
    with pytest.raises(error):
        backend.encode_records(records_, symbols)


@pytest.mark.parametrize("flag", [1, None, "yes"])
def test_keep_all_klines_must_be_a_bool(backend: ModuleType, flag: Any) -> None:
    with pytest.raises(TypeError):
        backend.encode_records([frame(KLINE)], SYMBOLS, flag)


def test_bad_symbol_message_names_the_entry(backend: ModuleType) -> None:
    with pytest.raises(ValueError, match=r"symbols\[1\] is not a valid symbol"):
        backend.encode_records([], ["ETHUSDT", "a b"])


def test_any_iterable_of_records(backend: ModuleType) -> None:
    res = backend.encode_records(iter([frame(AGG)]), tuple(SYMBOLS))
    assert res.rows == {"aggtrade": 1}


@pytest.mark.parametrize("kind", schema.KINDS)
def test_rows_have_one_cell_per_header_column(backend: ModuleType, kind: str) -> None:
    """Every kind's rows line up with ``schema.header(kind)``."""
    samples: Dict[str, bytes] = {
        "aggtrade": frame(AGG), "depth": frame(DEPTH), "kline": frame(KLINE),
        "trade": frame(TRADE), "bookticker": frame(BOOK_TICKER),
        "markprice": frame(MARK_PRICE), "snapshot": rec(records.KIND_SNAPSHOT, 0, SNAPSHOT),
        "gaps": rec(records.KIND_GAP, 0, {"stream": "s", "reason": "r"}),
        "orderbook": rec(records.KIND_ORDERBOOK, 0, {"last_update_id": 1, "bids": [["1", "2"]],
                                                     "asks": []}),
    }  # fmt: skip
    res = backend.encode_records([samples[kind]], SYMBOLS)
    (path, got_kind, data) = res.files[0]
    assert got_kind == kind
    width = len(schema.COLUMNS[kind])
    assert all(len(row) == width for row in csv.reader(io.StringIO(data.decode(), newline="")))
    symbol, name = path.split("/")
    day = name.rsplit("_", 1)[1][:-4]
    interval = "1m" if kind == "kline" else ""
    assert name == schema.file_name(kind, symbol, day, interval)
