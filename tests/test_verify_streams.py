"""verify on the less common streams and gap rows, from hand-written files."""

from __future__ import annotations

import calendar
from pathlib import Path
from typing import List, Sequence, Tuple

from binance_streamer import schema
from binance_streamer.read import verify

SYM = "BTCUSDT"
T0 = 1_704_067_200_000  # 2024-01-01 00:00:00 UTC, ms


def write(root: Path, kind: str, day: str, rows: Sequence[Sequence[object]], interval: str = "") -> None:
    path = root / SYM / schema.file_name(kind, SYM, day, interval)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "".join(",".join(str(c) for c in r) + "\n" for r in rows)
    path.write_bytes(schema.header(kind) + body.encode())


def check(root: Path) -> List[Tuple[str, int, str]]:
    report = verify.Verifier(root, book=False).run()
    return [(n.split("/", 1)[1], line, m) for n, line, m in report.problems()]


def trade(i: int, trade_id: int) -> List[object]:
    e = T0 + 1000 * i
    return [e * 1000 + 500, e, e - 1, SYM, trade_id, "42000.1", "0.002", "false", "MARKET"]


def gap(
    t_ms: int, stream: str, reason: str = "reconnect", detail: str = "", last: object = "", nxt: object = ""
) -> List[object]:
    return [t_ms * 1000, SYM, stream, reason, last, nxt, detail]


def test_trade_id_hole_explained_or_not(tmp_path: Path) -> None:
    rows = [trade(i, 100 + i) for i in range(5)] + [trade(5, 108)]
    write(tmp_path, "trade", "20240101", rows)
    assert check(tmp_path) == [
        ("trade_BTCUSDT_20240101.csv", 7, "trades missing: trade_id 105..107 (3); no gap row explains it")
    ]
    write(tmp_path, "gaps", "20240101", [gap(T0 + 4500, "trade")])
    assert check(tmp_path) == []
    # A gap row of another stream explains nothing here.
    write(tmp_path, "gaps", "20240101", [gap(T0 + 4500, "aggTrade")])
    assert len(check(tmp_path)) == 1


def test_gap_row_ids_match_whatever_the_clock(tmp_path: Path) -> None:
    rows = [trade(i, 100 + i) for i in range(5)] + [trade(5, 108)]
    write(tmp_path, "trade", "20240101", rows)
    # An hour away, but it names the hole: ids 104 (last seen) and 108 (next).
    write(tmp_path, "gaps", "20240101", [gap(T0 + 3_600_000, "trade", last=104, nxt=108)])
    assert check(tmp_path) == []
    # Close in time but naming another hole: it does not explain this one.
    write(tmp_path, "gaps", "20240101", [gap(T0 + 4500, "trade", last=99)])
    assert len(check(tmp_path)) == 1


def test_one_gap_row_explains_one_hole(tmp_path: Path) -> None:
    rows = [trade(0, 100), trade(1, 102), trade(2, 104)]
    write(tmp_path, "trade", "20240101", rows)
    write(tmp_path, "gaps", "20240101", [gap(T0 + 1500, "trade")])
    assert check(tmp_path) == [
        ("trade_BTCUSDT_20240101.csv", 4, "trades missing: trade_id 103 (1); no gap row explains it")
    ]
    write(tmp_path, "gaps", "20240101", [gap(T0 + 1500, "trade"), gap(T0 + 1600, "trade")])
    assert check(tmp_path) == []


def test_ring_full_span_comes_from_its_detail(tmp_path: Path) -> None:
    write(tmp_path, "trade", "20240101", [trade(i, 100 + i) for i in range(5)] + [trade(5, 108)])
    # Recorded a minute after the drops, but its detail names when they happened.
    lo, hi = (T0 + 4100) * 1000, (T0 + 4900) * 1000
    detail = f"dropped 3 records (600 bytes) received between local_time_us {lo} and {hi}: ring w0 full"
    write(tmp_path, "gaps", "20240101", [gap(T0 + 60_000, "*", "ring_full_dropped", detail)])
    assert check(tmp_path) == []
    write(tmp_path, "gaps", "20240101", [gap(T0 + 60_000, "*", "ring_full_dropped", "no span")])
    assert len(check(tmp_path)) == 1


def test_gap_rows_themselves(tmp_path: Path) -> None:
    write(
        tmp_path,
        "gaps",
        "20240101",
        [gap(T0 + 1000, "trade"), gap(T0 + 500, "trade"), gap(T0 + 2000, "", "meteor")],
    )
    assert check(tmp_path) == [
        (
            "gaps_BTCUSDT_20240101.csv",
            3,
            f"out of order: local_time_us {(T0 + 500) * 1000} after {(T0 + 1000) * 1000}",
        ),
        ("gaps_BTCUSDT_20240101.csv", 4, "unknown gap reason 'meteor'"),
        ("gaps_BTCUSDT_20240101.csv", 4, "gap row without a stream"),
    ]


def test_bookticker_and_markprice_order(tmp_path: Path) -> None:
    bt = [
        [(T0 + i) * 1000, T0 + i, T0 + i, SYM, u, "1.0", "2", "1.1", "3"] for i, u in enumerate((5, 7, 6, 9))
    ]
    write(tmp_path, "bookticker", "20240101", bt)
    mp = [
        [(T0 + e) * 1000, T0 + e, SYM, "1.0", "1.0", "1.0", "0.0001", T0 + 8 * 3600_000]
        for e in (0, 3000, 2000)
    ]
    write(tmp_path, "markprice", "20240101", mp)
    assert check(tmp_path) == [
        ("bookticker_BTCUSDT_20240101.csv", 4, "out of order: update_id 6 after 7"),
        ("markprice_BTCUSDT_20240101.csv", 4, f"out of order: event_time_ms {T0 + 2000} after {T0 + 3000}"),
    ]


def kline(open_ms: int, close_ms: int, interval: str) -> List[object]:
    e = close_ms + 1
    return [
        e * 1000,
        e,
        SYM,
        interval,
        open_ms,
        close_ms,
        1,
        2,
        "1",
        "1",
        "1",
        "1",
        "1",
        1,
        "true",
        "1",
        "1",
        "1",
    ]


def test_monthly_klines_and_close_times(tmp_path: Path) -> None:
    def month(y: int, m: int) -> int:
        return calendar.timegm((y, m, 1, 0, 0, 0)) * 1000

    jan, feb, mar, apr, may = (month(2024, m) for m in (1, 2, 3, 4, 5))
    write(tmp_path, "kline", "20240201", [kline(jan, feb - 1, "1M")], "1M")
    write(tmp_path, "kline", "20240301", [kline(feb, mar - 1, "1M")], "1M")
    write(tmp_path, "kline", "20240501", [kline(apr, may - 1, "1M")], "1M")
    assert check(tmp_path) == [
        (
            "kline_1M_BTCUSDT_20240501.csv",
            2,
            f"1 1M kline(s) missing: open_time_ms {mar}..{apr - 1}; no gap row explains it",
        )
    ]
    write(tmp_path, "kline", "20240101", [kline(T0 - 300_000 + 1, T0 - 1, "5m")], "5m")
    found = check(tmp_path)
    assert (
        "kline_5m_BTCUSDT_20240101.csv",
        2,
        f"open_time_ms {T0 - 299_999} is not on a 5m boundary",
    ) in found
    assert (
        "kline_5m_BTCUSDT_20240101.csv",
        2,
        f"close_time_ms {T0 - 1} does not end the 5m candle opened at {T0 - 299_999}",
    ) in found
