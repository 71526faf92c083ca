"""binance_streamer.read: finding files and loading them into numpy arrays."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
from contract_data import (
    CRYPTOFEED_DAY,
    SyntheticMarket,
    cryptofeed_frames,
    cryptofeed_snapshots,
    write_cryptofeed,
)

from binance_streamer import read, schema
from binance_streamer.read import files as rfiles


@pytest.fixture(scope="module")
def cf_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cryptofeed")
    write_cryptofeed(root)
    return root


@pytest.fixture(scope="module")
def syn_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synthetic")
    SyntheticMarket(seconds=200).write(root)
    return root


def _events(kind: str, symbol: str) -> List[Dict]:
    return [d for _, d in cryptofeed_frames() if d["e"] == kind and d["s"] == symbol]


# --- file names -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("symbol", "name", "expected"),
    [
        ("BTCUSDT", "depth_BTCUSDT_20240101.csv", ("depth", "", "20240101")),
        ("BTCUSDT", "kline_1m_BTCUSDT_20240101.csv", ("kline", "1m", "20240101")),
        ("BTCUSDT", "BTCUSDT_depth_snapshot_20240101.csv", ("snapshot", "", "20240101")),
        ("BTCUSDT_250926", "aggtrade_BTCUSDT_250926_20250102.csv", ("aggtrade", "", "20250102")),
        ("BTCUSDT_250926", "kline_15m_BTCUSDT_250926_20250102.csv", ("kline", "15m", "20250102")),
        ("BTCUSDT", "depth_ETHUSDT_20240101.csv", None),
        ("BTCUSDT", "depth_BTCUSDT_20241301.csv", None),
        ("BTCUSDT", "depth_BTCUSDT_2024010.csv", None),
        ("BTCUSDT", "notes_BTCUSDT_20240101.csv", None),
        ("BTCUSDT", "depth_BTCUSDT_20240101.csv.gz", None),
    ],
)
def test_parse_name(symbol: str, name: str, expected: object) -> None:
    got = rfiles.parse_name(symbol, name)
    if expected is None:
        assert got is None
    else:
        assert got is not None and (got.kind, got.interval, got.day) == expected
        # The parser is the inverse of the writer's naming.
        assert schema.file_name(got.kind, symbol, got.day, got.interval) == name


def test_find_filters_and_orders(syn_dir: Path) -> None:
    all_files = read.find(syn_dir, "BTCUSDT")
    assert {f.kind for f in all_files} == {"aggtrade", "depth", "gaps", "kline", "orderbook", "snapshot"} - {
        "gaps"
    }
    depth = read.find(syn_dir, "BTCUSDT", ["depth"])
    assert [f.day for f in depth] == ["20240101", "20240102"]
    assert read.find(syn_dir, "BTCUSDT", ["depth"], start="20240102") == depth[1:]
    assert read.find(syn_dir, "BTCUSDT", ["depth"], end=dt.date(2024, 1, 1)) == depth[:1]
    assert read.find(syn_dir, "NOPE") == []
    assert read.symbols(syn_dir) == ["BTCUSDT"]
    with pytest.raises(ValueError, match="unknown file kind 'trades'"):
        read.find(syn_dir, "BTCUSDT", ["trades"])
    with pytest.raises(ValueError, match=r"bad date '2024-01-01' \(expected YYYYMMDD\)"):
        read.find(syn_dir, "BTCUSDT", start="2024-01-01")
    with pytest.raises(ValueError, match="no such day"):
        read.parse_day("20240231")


# --- loading the real recording ---------------------------------------------------------


def test_depth_rows_match_the_recording_exactly(cf_dir: Path) -> None:
    events = _events("depthUpdate", "SUSHIUSDT")
    levels = [
        (e, side, p, q) for e in events for side, lv in (("bid", e["b"]), ("ask", e["a"])) for p, q in lv
    ]
    text = read.load(cf_dir, "SUSHIUSDT", "depth", CRYPTOFEED_DAY, decimals="str")
    assert len(text) == len(levels)
    assert list(text["price"]) == [p for _, _, p, _ in levels]
    assert list(text["quantity"]) == [q for _, _, _, q in levels]
    assert list(text["side"]) == [s for _, s, _, _ in levels]
    assert list(text["final_update_id"]) == [e["u"] for e, _, _, _ in levels]
    assert list(text["prev_final_update_id"]) == [e["pu"] for e, _, _, _ in levels]
    num = read.load(cf_dir, "SUSHIUSDT", "depth", CRYPTOFEED_DAY)
    assert num.dtype["price"] == np.float64 and num.dtype["local_time_us"] == np.int64
    assert np.array_equal(num["price"], np.array([float(p) for _, _, p, _ in levels]))
    assert np.array_equal(num["event_time_ms"], text["event_time_ms"])


def test_aggtrade_kline_snapshot_columns(cf_dir: Path) -> None:
    trades = _events("aggTrade", "CTKUSDT")
    a = read.load(cf_dir, "CTKUSDT", "aggtrade", CRYPTOFEED_DAY)
    assert list(a["agg_trade_id"]) == [t["a"] for t in trades]
    assert list(a["is_buyer_maker"]) == [t["m"] for t in trades]
    assert a.dtype["is_buyer_maker"] == np.bool_
    assert list(a["trade_time_ms"]) == [t["T"] for t in trades]
    k = read.load(cf_dir, "CTKUSDT", "kline", CRYPTOFEED_DAY, decimals="str")
    closed = [e["k"] for e in _events("kline", "CTKUSDT") if e["k"]["x"]]
    assert len(k) == len(closed) == 1
    assert (k["interval"][0], k["open"][0], k["close"][0], k["trade_count"][0]) == (
        "1m",
        closed[0]["o"],
        closed[0]["c"],
        closed[0]["n"],
    )
    snaps = {s: b for _, s, b in cryptofeed_snapshots()}
    s = read.load(cf_dir, "CTKUSDT", "snapshot", CRYPTOFEED_DAY, decimals="str")
    body = snaps["CTKUSDT"]
    assert len(s) == len(body["bids"]) + len(body["asks"])
    assert set(s["last_update_id"]) == {body["lastUpdateId"]}
    assert [list(x) for x in zip(s["price"][: len(body["bids"])], s["quantity"])] == body["bids"]


def test_columns_subset(cf_dir: Path) -> None:
    a = read.load(cf_dir, "SUSHIUSDT", "depth", CRYPTOFEED_DAY, columns=["price", "event_time_ms"])
    assert a.dtype.names == ("event_time_ms", "price")  # file order
    with pytest.raises(ValueError, match="depth files have no column 'agg_trade_id'"):
        read.load(cf_dir, "SUSHIUSDT", "depth", CRYPTOFEED_DAY, columns=["agg_trade_id"])


# --- streaming and ranges ---------------------------------------------------------------------


def test_streaming_chunks_equal_whole_load(syn_dir: Path) -> None:
    whole = read.load(syn_dir, "BTCUSDT", "depth", "20240101", "20240102")
    chunks = list(read.iter_load(syn_dir, "BTCUSDT", "depth", "20240101", "20240102", chunk_bytes=4096))
    assert len(chunks) > 20
    assert all(c.nbytes < 64 * 1024 for c in chunks)
    assert np.concatenate(chunks).tobytes() == whole.tobytes()  # NaN-safe equality
    days = {
        rfiles.day_string(dt.datetime.fromtimestamp(t / 1000, dt.timezone.utc).date())
        for t in whole["event_time_ms"]
    }
    assert days == {"20240101", "20240102"}


def test_range_skips_missing_days_and_empty_result(syn_dir: Path) -> None:
    a = read.load(syn_dir, "BTCUSDT", "aggtrade", "20231230", "20240105")
    b = read.load(syn_dir, "BTCUSDT", "aggtrade", "20240101", "20240102")
    assert np.array_equal(a, b)
    empty = read.load(syn_dir, "BTCUSDT", "aggtrade", "20230101")
    assert empty.shape == (0,) and empty.dtype == read.dtype("aggtrade", symbol="BTCUSDT")


def test_kline_interval_choice(syn_dir: Path, tmp_path: Path) -> None:
    assert len(read.load(syn_dir, "BTCUSDT", "kline", "20240101", "20240102")) == 3
    src = syn_dir / "BTCUSDT" / "kline_1m_BTCUSDT_20240101.csv"
    (tmp_path / "BTCUSDT").mkdir()
    (tmp_path / "BTCUSDT" / src.name).write_bytes(src.read_bytes())
    (tmp_path / "BTCUSDT" / "kline_5m_BTCUSDT_20240101.csv").write_bytes(schema.header("kline"))
    with pytest.raises(ValueError, match=r"several intervals \(1m, 5m\): pass interval="):
        read.load(tmp_path, "BTCUSDT", "kline", "20240101")
    assert len(read.load(tmp_path, "BTCUSDT", "kline", "20240101", interval="1m")) == 1
    assert len(read.load(tmp_path, "BTCUSDT", "kline", "20240101", interval="5m")) == 0


# --- empty optional fields ----------------------------------------------------------------------


def _write(tmp_path: Path, kind: str, rows: List[str], symbol: str = "BTCUSDT", header: bool = True) -> Path:
    path = tmp_path / symbol / schema.file_name(kind, symbol, "20240101", "1m")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((schema.header(kind) if header else b"") + "".join(rows).encode())
    return path


DEPTH_ROW = "1704067200000100,1704067200000,1704067199999,BTCUSDT,10,12,9,bid,42000.10,1.500\n"
EMPTY_UPDATE = "1704067200000200,1704067200001,1704067200000,BTCUSDT,13,13,12,,,\n"


def test_update_without_levels_keeps_its_row(tmp_path: Path) -> None:
    path = _write(tmp_path, "depth", [DEPTH_ROW, EMPTY_UPDATE])
    num = read.read_file(path)
    assert num["side"].tolist() == ["bid", ""]
    assert num["price"][0] == 42000.1 and np.isnan(num["price"][1]) and np.isnan(num["quantity"][1])
    txt = read.read_file(path, decimals="str")
    assert txt["price"].tolist() == ["42000.10", ""]
    assert txt["final_update_id"].tolist() == [12, 13]


def test_gaps_optional_ids_and_quoted_detail(tmp_path: Path) -> None:
    detail = 'cut, "quoted"\nsecond line'
    quoted = '"' + detail.replace('"', '""') + '"'
    path = _write(
        tmp_path,
        "gaps",
        [
            f"1704067200000000,BTCUSDT,depth@100ms,sequence_break,12,15,{quoted}\n",
            "1704067201000000,BTCUSDT,*,ring_full_dropped,,,\n",
        ],
    )
    g = read.read_file(path)
    assert g["last_id"].tolist() == [12, read.MISSING]
    assert g["next_id"].tolist() == [15, read.MISSING]
    assert g["detail"].tolist() == [detail, ""]
    assert g["stream"].tolist() == ["depth@100ms", "*"]


def test_snapshot_without_event_time(tmp_path: Path) -> None:
    path = _write(tmp_path, "snapshot", ["1704067200000100,,,BTCUSDT,77,bid,1.0,2\n"])
    s = read.read_file(path)
    assert (s["event_time_ms"][0], s["transaction_time_ms"][0], s["last_update_id"][0]) == (
        read.MISSING,
        read.MISSING,
        77,
    )


# --- damaged files ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "line", "message"),
    [
        ([DEPTH_ROW, DEPTH_ROW[:40]], 3, "partial last line"),
        ([DEPTH_ROW, DEPTH_ROW[:40] + "\n", DEPTH_ROW], 3, "3 fields instead of 10"),
        ([DEPTH_ROW, "\n", DEPTH_ROW], 3, "blank line"),
        ([DEPTH_ROW.replace(",10,", ",1x,")], 2, "first_update_id '1x' is not an integer"),
        ([DEPTH_ROW.replace("42000.10", "4200O.10")], 2, "price '4200O.10' is not a decimal number"),
        ([DEPTH_ROW.replace(",bid,", ",bidd,")], 2, "side 'bidd' is not bid/ask"),
        ([DEPTH_ROW.replace(",1.500", ",")], 2, "side, price, quantity must be all set or all empty"),
    ],
)
def test_damaged_line_is_named(tmp_path: Path, rows: List[str], line: int, message: str) -> None:
    path = _write(tmp_path, "depth", rows)
    with pytest.raises(read.DataFileError, match=message) as info:
        read.read_file(path)
    assert info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}: ")
    with pytest.warns(UserWarning, match=message):
        skipped = read.read_file(path, errors="skip")
    assert len(skipped) == sum(1 for r in rows if r == DEPTH_ROW)


def test_bad_boolean(tmp_path: Path) -> None:
    row = "1704067200000100,1704067200000,BTCUSDT,5,1.0,2,7,7,1704067200000,yes\n"
    path = _write(tmp_path, "aggtrade", [row])
    with pytest.raises(read.DataFileError, match="is_buyer_maker 'yes' is not true/false"):
        read.read_file(path)


def test_missing_and_wrong_header(tmp_path: Path) -> None:
    path = _write(tmp_path, "depth", [DEPTH_ROW, DEPTH_ROW], header=False)
    with pytest.raises(read.DataFileError, match=":1: missing header row"):
        read.read_file(path)
    with pytest.warns(UserWarning, match="missing header row"):
        assert len(read.read_file(path, errors="skip")) == 2
    path.write_bytes(b"time,price\n" + DEPTH_ROW.encode())
    with pytest.raises(read.DataFileError, match="not the header row of a depth file"):
        read.read_file(path, errors="skip")


def test_bad_arguments(tmp_path: Path, cf_dir: Path) -> None:
    with pytest.raises(ValueError, match="decimals must be one of 'float', 'str', not 'decimal'"):
        read.load(cf_dir, "SUSHIUSDT", "depth", CRYPTOFEED_DAY, decimals="decimal")
    with pytest.raises(ValueError, match="errors must be one of"):
        read.load(cf_dir, "SUSHIUSDT", "depth", CRYPTOFEED_DAY, errors="ignore")
    stray = tmp_path / "x.csv"
    stray.write_bytes(schema.header("depth"))
    with pytest.raises(ValueError, match="pass kind="):
        read.read_file(stray)
    assert len(read.read_file(stray, kind="depth")) == 0


def test_json_and_csv_texts_agree_for_every_aggtrade_field(cf_dir: Path) -> None:
    """A row of every kind round-trips to the exchange's own text."""
    trades = {t["a"]: t for s in ("SUSHIUSDT", "AKROUSDT") for t in _events("aggTrade", s)}
    for s in ("SUSHIUSDT", "AKROUSDT"):
        for row in read.load(cf_dir, s, "aggtrade", CRYPTOFEED_DAY, decimals="str"):
            t = trades[int(row["agg_trade_id"])]
            assert (row["price"], row["quantity"], int(row["first_trade_id"]), int(row["last_trade_id"])) == (
                t["p"],
                t["q"],
                t["f"],
                t["l"],
            )
            assert json.dumps(bool(row["is_buyer_maker"])) == json.dumps(t["m"])
