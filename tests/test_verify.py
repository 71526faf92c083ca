"""binance-streamer verify: clean data passes, every planted defect is caught."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, List, Tuple

import pytest
from contract_data import CRYPTOFEED_DAY, Outage, SyntheticMarket, write_cryptofeed

from binance_streamer.read import verify

SYM = "BTCUSDT"
DAY1, DAY2 = "20240101", "20240102"


@pytest.fixture(scope="module")
def clean_synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("clean")
    # An outage over the 23:59 -> 00:00 kline close: every stream has a hole
    # that its reconnect gap row explains.
    SyntheticMarket(symbol=SYM, seconds=300, outages=[Outage(118, 123)]).write(root)
    return root


@pytest.fixture
def data(clean_synthetic: Path, tmp_path: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(clean_synthetic, root)
    return root


@pytest.fixture(scope="module")
def cryptofeed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cf")
    write_cryptofeed(root)
    return root


def run(root: Path, **options: Any) -> Tuple[int, verify.Report]:
    report = verify.Verifier(root, book=False, **options).run()
    return (0 if report.ok else 1), report


def problems(report: verify.Report) -> List[Tuple[str, int, str]]:
    return [(name.split("/", 1)[1], line, msg) for name, line, msg in report.problems()]


def lines_of(root: Path, name: str) -> List[str]:
    return (root / SYM / name).read_text().splitlines(keepends=True)


def edit(root: Path, name: str, change: Callable[[List[str]], List[str]]) -> None:
    path = root / SYM / name
    path.write_text("".join(change(path.read_text().splitlines(keepends=True))))


AGG1 = f"aggtrade_{SYM}_{DAY1}.csv"
AGG2 = f"aggtrade_{SYM}_{DAY2}.csv"
DEPTH1 = f"depth_{SYM}_{DAY1}.csv"
DEPTH2 = f"depth_{SYM}_{DAY2}.csv"
KLINE2 = f"kline_1m_{SYM}_{DAY2}.csv"
GAPS2 = f"gaps_{SYM}_{DAY2}.csv"
SNAP1 = f"{SYM}_depth_snapshot_{DAY1}.csv"


# --- clean data ----------------------------------------------------------------------


def test_clean_synthetic_passes_with_explained_holes(clean_synthetic: Path) -> None:
    code, report = run(clean_synthetic)
    assert problems(report) == []
    assert code == 0
    explained = {f.name.split("/")[1]: f.explained for f in report.files.values() if f.explained}
    # The outage left a hole in aggTrades, in the depth chain and in the klines.
    assert set(explained) == {AGG2, DEPTH2, KLINE2}
    assert "1 1m kline(s) missing" in explained[KLINE2][0]
    assert "(reconnect)" in explained[DEPTH2][0]


def test_clean_real_recording_passes(cryptofeed_dir: Path) -> None:
    code, report = run(cryptofeed_dir)
    assert problems(report) == [] and code == 0
    assert len(report.files) == 20
    assert all(f.rows > 0 for f in report.files.values())


# --- planted defects -------------------------------------------------------------------


def test_deleted_aggtrade_row(data: Path) -> None:
    rows = lines_of(data, AGG2)
    trade_id = rows[50].split(",")[3]
    edit(data, AGG2, lambda ls: ls[:50] + ls[51:])
    code, report = run(data)
    assert code == 1
    assert problems(report) == [
        (AGG2, 51, f"aggTrades missing: agg_trade_id {trade_id} (1); no gap row explains it")
    ]


def _update_rows(rows: List[str], index: int) -> Tuple[int, int]:
    """Line span [a, b) of the depth update that starts at or after ``index``."""
    key = lambda ln: ln.split(",")[4:7]  # noqa: E731
    a = index
    while key(rows[a]) == key(rows[a - 1]):
        a += 1
    b = a + 1
    while b < len(rows) and key(rows[b]) == key(rows[a]):
        b += 1
    return a, b


def test_deleted_depth_update_breaks_the_chain(data: Path) -> None:
    rows = lines_of(data, DEPTH2)
    a, b = _update_rows(rows, 300)
    prev_u = rows[a - 1].split(",")[5]
    nxt = rows[b].split(",")
    edit(data, DEPTH2, lambda ls: ls[:a] + ls[b:])
    code, report = run(data)
    assert code == 1
    assert problems(report) == [
        (
            DEPTH2,
            a + 1,
            f"pu chain broken: update U={nxt[4]} u={nxt[5]} has pu={nxt[6]}, previous u={prev_u}; "
            "no gap row explains it",
        )
    ]


def test_duplicated_rows(data: Path) -> None:
    edit(data, AGG1, lambda ls: ls[:30] + [ls[29]] + ls[30:])
    rows = lines_of(data, DEPTH2)
    a, b = _update_rows(rows, 500)
    edit(data, DEPTH2, lambda ls: ls[:b] + [ls[a]] + ls[b:])
    side, price = rows[a].split(",")[7:9]
    code, report = run(data)
    assert code == 1
    assert problems(report) == [
        (AGG1, 31, "duplicated row (same as line 30)"),
        (
            DEPTH2,
            b + 1,
            f"duplicated row: {side} {float(price)} twice in update u={rows[a].split(',')[5]} (lines {a + 1} and {b + 1})",
        ),
    ]


@pytest.mark.parametrize("with_levels", [True, False])
def test_duplicated_whole_update(data: Path, with_levels: bool) -> None:
    rows = lines_of(data, DEPTH1)
    a, b = _update_rows(rows, 200)
    while (rows[a].split(",")[7] != "") == with_levels:
        a, b = _update_rows(rows, b)
    edit(data, DEPTH1, lambda ls: ls[:b] + ls[a:b] + ls[b:])
    code, report = run(data)
    assert code == 1
    found = problems(report)
    assert len(found) == b - a
    assert all(f == DEPTH1 and m.startswith("duplicated row: ") for f, _, m in found)
    assert [line for _, line, _ in found] == list(range(b + 1, b + 1 + b - a))


def test_truncated_lines(data: Path) -> None:
    cut = lines_of(data, AGG1)[10][:25]
    edit(data, AGG1, lambda ls: ls[:10] + [cut + "\n"] + ls[11:])
    edit(data, DEPTH2, lambda ls: ls[:-1] + [ls[-1][:30]])
    code, report = run(data)
    assert code == 1
    # The cut row's trade is gone too, but the damaged line is the one problem to fix.
    assert problems(report) == [
        (AGG1, 11, f"{cut.count(',') + 1} fields instead of 10 (cut short or merged lines?)"),
        (
            DEPTH2,
            len(lines_of(data, DEPTH2)),
            "partial last line (no newline): cut short or still being written",
        ),
    ]


def test_missing_gap_rows(data: Path) -> None:
    # Keep only the kline gap row: the depth and aggTrade holes lose their explanation.
    edit(data, GAPS2, lambda ls: [ls[0]] + [x for x in ls[1:] if ",kline_1m," in x])
    code, report = run(data)
    assert code == 1
    found = problems(report)
    assert [(f, m.split(":")[0]) for f, _, m in found] == [
        (AGG2, "aggTrades missing"),
        (DEPTH2, "pu chain broken"),
    ]
    assert all(m.endswith("no gap row explains it") for _, _, m in found)


def test_gap_row_far_from_the_hole_does_not_explain_it(data: Path) -> None:
    def later(ls: List[str]) -> List[str]:
        out = [ls[0]]
        for x in ls[1:]:
            t, rest = x.split(",", 1)
            out.append(f"{int(t) + 30_000_000},{rest}")
        return out

    edit(data, GAPS2, later)
    code, report = run(data)
    assert code == 1
    # The depth reconnect row names the last u before the hole: ids need no clock.
    # The kline hole spans the two minutes between its candles: still explained.
    assert {m.split(":")[0] for _, _, m in problems(report)} == {"aggTrades missing"}
    code, report = run(data, slack_us=60_000_000)
    assert code == 0


def test_rows_in_the_wrong_days_file(data: Path) -> None:
    first_of_day2 = lines_of(data, AGG2)[1]
    edit(data, AGG2, lambda ls: [ls[0]] + ls[2:])
    edit(data, AGG1, lambda ls: ls + [first_of_day2])
    code, report = run(data)
    assert code == 1
    n = len(lines_of(data, AGG1))
    e = first_of_day2.split(",")[1]
    assert problems(report) == [
        (
            AGG1,
            n,
            f"1 row(s) belong to another day's file (first: event_time_ms {e} is 2024-01-02, the file is for 2024-01-01)",
        )
    ]


def test_missing_header(data: Path) -> None:
    edit(data, KLINE2, lambda ls: ls[1:])
    code, report = run(data)
    assert code == 1
    assert problems(report) == [(KLINE2, 1, "missing header row (the first line is a data row)")]


def test_wrong_header_stops_the_file(data: Path) -> None:
    edit(data, AGG2, lambda ls: ["time,price,qty\n"] + ls[1:])
    code, report = run(data)
    assert problems(report) == [(AGG2, 1, "the first line is not the header row of a aggtrade file")]


def test_out_of_order_timestamps(data: Path) -> None:
    rows = lines_of(data, AGG2)
    # Two neighbours swapped: one row out of order in time and in id, no hole.
    edit(data, AGG2, lambda ls: ls[:40] + [ls[41], ls[40]] + ls[42:])
    code, report = run(data)
    assert code == 1
    e40, e41 = rows[40].split(",")[1], rows[41].split(",")[1]
    a40, a41 = rows[40].split(",")[3], rows[41].split(",")[3]
    assert problems(report) == [
        (AGG2, 42, f"out of order: event_time_ms {e40} after {e41}"),
        (AGG2, 42, f"out of order: agg_trade_id {a40} after {a41}"),
    ]


def test_out_of_order_depth_time(data: Path) -> None:
    rows = lines_of(data, DEPTH2)
    a, b = _update_rows(rows, 100)

    def earlier(ls: List[str]) -> List[str]:
        out = list(ls)
        for i in range(a, b):
            f = out[i].split(",")
            f[1] = str(int(f[1]) - 5_000)
            out[i] = ",".join(f)
        return out

    edit(data, DEPTH2, earlier)
    code, report = run(data)
    assert code == 1
    assert [(f, line) for f, line, _ in problems(report)] == [(DEPTH2, i + 1) for i in range(a, b)]


def test_klines_missing_minutes(data: Path) -> None:
    rows = lines_of(data, KLINE2)
    assert len(rows) == 4
    edit(data, KLINE2, lambda ls: ls[:2] + ls[3:])
    code, report = run(data)
    assert code == 1
    o = int(rows[2].split(",")[4])
    assert problems(report) == [
        (KLINE2, 3, f"1 1m kline(s) missing: open_time_ms {o}..{o + 59_999}; no gap row explains it")
    ]


def test_altered_snapshot_price_breaks_its_order(data: Path) -> None:
    def alter(ls: List[str]) -> List[str]:
        f = ls[5].split(",")
        assert f[5] == "bid"
        f[6] = "60100.00"  # above the asks: out of order and crossed
        return ls[:5] + [",".join(f)] + ls[6:]

    edit(data, SNAP1, alter)
    code, report = run(data)
    msgs = sorted(m for _, _, m in problems(report))
    assert code == 1 and len(msgs) == 2
    assert msgs[0].startswith("bid 60100.0 out of price order in the snapshot lastUpdateId=")
    assert msgs[1].startswith("crossed book in snapshot lastUpdateId=")


def test_symbol_column_and_stray_file(data: Path) -> None:
    edit(data, AGG1, lambda ls: ls[:3] + [ls[3].replace(f",{SYM},", ",ETHUSDT,")] + ls[4:])
    (data / SYM / "notes.csv").write_text("x\n")
    code, report = run(data)
    assert code == 1
    # The dropped row's trade is missing too, but the damaged line is the one problem.
    assert problems(report) == [
        ("notes.csv", 0, f"not a file name the collector writes for {SYM}"),
        (AGG1, 4, f"symbol 'ETHUSDT' in a {SYM} file"),
    ]


def test_date_filter_checks_one_day(data: Path) -> None:
    edit(data, AGG1, lambda ls: ls[:50] + ls[51:])
    code, report = run(data, date=DAY2)
    assert code == 0
    assert {n.split("/")[1].rsplit("_", 1)[1] for n in (f.name for f in report.files.values())} == {
        f"{DAY2}.csv"
    }
    code, report = run(data, date=DAY1)
    assert code == 1


# --- the command line ---------------------------------------------------------------------


def test_cli_exit_codes_and_report(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert verify.main([str(data), "--no-book"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[-1].startswith("OK: 11 file(s) checked, 0 with problems")
    assert err == ""  # no progress bar: stderr is not a terminal
    edit(data, AGG1, lambda ls: ls[:50] + ls[51:])
    assert verify.main([str(data), "--no-book", "--symbol", SYM, "--progress"]) == 1
    out, err = capsys.readouterr()
    assert f"{SYM}/{AGG1}" in out and "FAIL  1 problem(s)" in out
    assert "    line 51: aggTrades missing" in out
    assert out.splitlines()[-1].startswith("FAILED: 11 file(s) checked, 1 with problems (1 in all)")
    assert "verify [" in err and "100%" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{root}/nope"], "{root}/nope: no such directory"),
        (["{root}", "--date", "2024-01-01"], "--date: bad date '2024-01-01' (expected YYYYMMDD)"),
        (["{root}", "--date", "20240230"], "--date: bad date '20240230' (no such day)"),
        (["{root}", "--symbol", "ETHUSDT"], "no directory {root}/ETHUSDT for symbol ETHUSDT"),
        (["{root}", "--slack", "x"], "argument --slack: invalid float value: 'x'"),
        ([], "the following arguments are required: DATA_DIR"),
    ],
)
def test_cli_bad_arguments_one_line(
    data: Path, capsys: pytest.CaptureFixture[str], args: List[str], message: str
) -> None:
    try:
        code = verify.main([a.format(root=data) for a in args])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code  # type: ignore[assignment]
    assert code == 2
    assert capsys.readouterr().err == f"binance-streamer verify: {message.format(root=data)}\n"


def test_cli_empty_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert verify.main([str(tmp_path), "--no-book"]) == 1
    assert capsys.readouterr().err == f"binance-streamer verify: no data files under {tmp_path}\n"


def test_cryptofeed_day_filter(cryptofeed_dir: Path) -> None:
    code, report = run(cryptofeed_dir, date=CRYPTOFEED_DAY, symbols=["SUSHIUSDT"])
    assert code == 0 and len(report.files) == 5


# --- order book checks --------------------------------------------------------------------


def run_book(root: Path, backend: ModuleType, **options: Any) -> Tuple[int, verify.Report]:
    report = verify.Verifier(root, book=True, backend=backend, **options).run()
    return (0 if report.ok else 1), report


def test_book_checks_pass_on_clean_data(clean_synthetic: Path, backend: ModuleType) -> None:
    code, report = run_book(clean_synthetic, backend)
    assert problems(report) == [] and code == 0


@pytest.fixture(scope="module")
def cryptofeed_with_samples(tmp_path_factory: pytest.TempPathFactory, backend: ModuleType) -> Path:
    root = tmp_path_factory.mktemp("cf_samples")
    write_cryptofeed(root, orderbook_every=20, backend=backend)
    return root


def test_book_checks_pass_on_the_real_recording(cryptofeed_with_samples: Path, backend: ModuleType) -> None:
    code, report = run_book(cryptofeed_with_samples, backend)
    assert problems(report) == [] and code == 0
    assert any(f.name.startswith("SUSHIUSDT/orderbook_") for f in report.files.values())


def _best_bid_row(rows: List[str], start: int) -> int:
    """Index of the highest-priced bid row with a quantity, from ``start`` on."""
    bids = [
        (float(r.split(",")[8]), i)
        for i, r in enumerate(rows[start:], start)
        if r.split(",")[7] == "bid" and float(r.split(",")[9]) != 0
    ]
    return max(bids)[1]


def _set_field(rows: List[str], i: int, col: int, value: str) -> List[str]:
    f = rows[i].rstrip("\n").split(",")
    f[col] = value
    return rows[:i] + [",".join(f) + "\n"] + rows[i + 1 :]


def test_altered_depth_price_disagrees_with_the_next_sample(data: Path, backend: ModuleType) -> None:
    rows = lines_of(data, DEPTH2)
    i = _best_bid_row(rows[:600], 300)
    price = rows[i].split(",")[8]
    edit(data, DEPTH2, lambda ls: _set_field(ls, i, 8, price + "5"))  # a level the exchange never had
    code, report = run_book(data, backend)
    assert code == 1
    found = problems(report)
    assert found[0][0] == f"orderbook_{SYM}_{DAY2}.csv"
    assert f"bid {float(price + '5')!r} is in the replayed book, not in the sample" in found[0][2]
    # Later samples disagree too, for the same reason: not reported again. The
    # next snapshot is always compared, and restarts the replay.
    assert len(found) == 2
    assert found[1][0] == f"{SYM}_depth_snapshot_{DAY2}.csv"
    assert "the replayed book disagrees with this snapshot" in found[1][2]
    assert f"a depth row since {DEPTH2}:" in found[0][2]


def test_altered_depth_price_that_crosses_the_book(data: Path, backend: ModuleType) -> None:
    rows = lines_of(data, DEPTH1)
    i = _best_bid_row(rows[:400], 200)
    first = i  # the first row of the update holding row i
    while rows[first - 1].split(",")[4:7] == rows[i].split(",")[4:7]:
        first -= 1
    edit(data, DEPTH1, lambda ls: _set_field(ls, i, 8, "60500.00"))
    code, report = run_book(data, backend)
    assert code == 1
    found = problems(report)
    assert found[0][:2] == (DEPTH1, first + 1)
    assert found[0][2].startswith(
        f"crossed book after update u={rows[i].split(',')[5]}: best bid 60500.0 >= best ask "
    )
    # The replayed book is wrong from there on: the next snapshot says so and restarts it.
    assert found[1][0] == SNAP1 and "the replayed book disagrees with this snapshot" in found[1][2]
    assert len(found) == 2


def test_deleted_level_row_disagrees_with_the_next_sample(data: Path, backend: ModuleType) -> None:
    rows = lines_of(data, DEPTH2)
    # A bid row at the top of the book, in an update with other rows too.
    key = lambda r: r.split(",")[4:7]  # noqa: E731
    i = _best_bid_row(rows[:800], 400)
    while not (key(rows[i - 1]) == key(rows[i]) or key(rows[i + 1]) == key(rows[i])):
        i = _best_bid_row(rows[: i + 400], i + 1)
    edit(data, DEPTH2, lambda ls: ls[:i] + ls[i + 1 :])
    code, report = run_book(data, backend)
    assert code == 1
    assert all("disagrees" in m for _, _, m in problems(report))
    # Without the book checks this deletion is invisible: the update is still there.
    assert run(data)[0] == 0


def test_altered_real_price_is_caught(
    cryptofeed_with_samples: Path, tmp_path: Path, backend: ModuleType
) -> None:
    root = tmp_path / "cf"
    shutil.copytree(cryptofeed_with_samples, root)
    path = root / "SUSHIUSDT" / f"depth_SUSHIUSDT_{CRYPTOFEED_DAY}.csv"
    rows = path.read_text().splitlines(keepends=True)
    i = _best_bid_row(rows, len(rows) // 2)
    price = rows[i].split(",")[8]
    path.write_text("".join(_set_field(rows, i, 8, price + "5")))
    code, report = run_book(root, backend)
    assert code == 1
    # The made-up level stays in the replayed book and crosses it when the market falls.
    [(name, _, message)] = problems(report)
    assert name == path.name
    assert (
        message.startswith("crossed book after update") and f"best bid {float(price + '5')!r} >= " in message
    )
