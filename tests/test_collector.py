"""End to end: the real collector (separate OS processes) against the local
simulator on 127.0.0.1, compared with what the simulator says it sent.

Runs once per backend (the collector child processes inherit
BINANCE_STREAMER_BACKEND from the test run).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Dict, List

import pytest
from collector_utils import (
    assert_book_matches_truth,
    count_rows,
    files,
    finish,
    gap_rows,
    holes_explained,
    log_count,
    replay_book,
    rows,
    shm_leftovers,
    start,
    stop,
    wait_for,
    write_config,
)

from binance_streamer import runtime
from binance_streamer.read import verify
from binance_streamer.simulator import Simulator

pytestmark = pytest.mark.slow
SYMBOLS = ["BTCUSDT", "ETHUSDT"]


def agg_ids(data: Path, symbol: str) -> List[int]:
    return [int(r["agg_trade_id"]) for r in rows(files(data, symbol, "aggtrade_"), "aggtrade")]


def check_aggtrades_against_truth(sim: Simulator, data: Path, symbol: str) -> List[Dict[str, str]]:
    written = rows(files(data, symbol, "aggtrade_"), "aggtrade")
    assert written, f"no aggTrade rows for {symbol}"
    truth = {t["a"]: t for t in sim.truth.agg_trades(symbol)}
    ids = [int(r["agg_trade_id"]) for r in written]
    assert len(ids) == len(set(ids)), "duplicate aggTrade rows"
    assert ids == sorted(ids), "aggTrade rows out of order"
    for r in written:
        t = truth[int(r["agg_trade_id"])]
        assert (r["symbol"], r["price"], r["quantity"]) == (t["s"], t["p"], t["q"])
        assert (int(r["first_trade_id"]), int(r["last_trade_id"]), int(r["trade_time_ms"])) == (
            t["f"],
            t["l"],
            t["T"],
        )
        assert int(r["event_time_ms"]) == t["E"] and r["is_buyer_maker"] == ("true" if t["m"] else "false")
    return written


def assert_verifies(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The files pass `binance-streamer verify`: every hole explained by a gap row."""
    code = verify.main([str(data)])
    out = capsys.readouterr()
    assert code == 0, out.out[-3000:] + out.err[-2000:]


def status_pid(data: Path) -> int:
    return wait_for(lambda: runtime.running_pid(runtime.paths_for(data)))


def assert_clean_exit(proc_out: str, proc: subprocess.Popen[str], data: Path) -> None:
    assert proc.returncode == 0, proc_out[-3000:]
    assert "Traceback" not in proc_out, proc_out[-3000:]
    assert not runtime.paths_for(data).pid_file.exists()
    assert shm_leftovers(proc.pid) == [], "shared memory left behind"


def test_clean_run_records_everything(
    tmp_path: Path, backend: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    with Simulator(symbols=SYMBOLS, rate=40, seed=3, clock_speed=30.0) as sim:
        cfg = write_config(tmp_path, sim.ws_base_url, sim.rest_base_url, SYMBOLS, duration=0)
        proc = start(cfg)
        data = tmp_path / "data"
        # Run until both books are in sync and two 1m bars have closed (a fixed
        # duration would be flaky on a loaded machine), then stop as a user would.
        wait_for(lambda: log_count(tmp_path, "depth in sync") >= 2, timeout=60)
        wait_for(lambda: all(count_rows(data, s, "kline_1m_") >= 2 for s in SYMBOLS), timeout=60)
        out = stop(proc, signal.SIGINT)
        assert_clean_exit(out, proc, data)
        for sym in SYMBOLS:
            written = check_aggtrades_against_truth(sim, data, sym)
            ids = [int(r["agg_trade_id"]) for r in written]
            assert ids == list(range(ids[0], ids[0] + len(ids))), "aggTrade ids not contiguous"
            book = replay_book(backend, data, sym)
            assert_book_matches_truth(book, sim, sym)
            # Closed klines: one per simulated minute, identical to the x:true push.
            klines = rows(files(data, sym, "kline_1m_"), "kline")
            finals = {k["k"]["t"]: k for k in sim.truth.klines(sym, "1m", final_only=True)}
            assert klines and all(r["is_closed"] == "true" for r in klines)
            for r in klines:
                k = finals[int(r["open_time_ms"])]["k"]
                assert (r["open"], r["high"], r["low"], r["close"], r["volume"]) == (
                    k["o"],
                    k["h"],
                    k["l"],
                    k["c"],
                    k["v"],
                )
                assert int(r["trade_count"]) == k["n"] and r["quote_volume"] == k["q"]
            gaps = gap_rows(data, sym)
            assert sorted(g["stream"] for g in gaps) == ["aggTrade", "depth@0ms", "kline_1m"]
            assert {g["reason"] for g in gaps} == {"start"}, "a clean run records only where it starts"
            agg_start = next(g for g in gaps if g["stream"] == "aggTrade")
            assert int(agg_start["next_id"]) == ids[0] and agg_start["last_id"] == ""
            ob = rows(files(data, sym, "orderbook_"), "orderbook")
            assert ob and {r["side"] for r in ob} == {"bid", "ask"}
        assert_verifies(data, capsys)


def test_disconnects_gaps_and_malformed_frames_are_recorded(
    tmp_path: Path, backend: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    with Simulator(symbols=SYMBOLS, rate=40, seed=4, clock_speed=30.0) as sim:
        cfg = write_config(tmp_path, sim.ws_base_url, sim.rest_base_url, SYMBOLS, duration=0)
        proc = start(cfg)
        data = tmp_path / "data"
        wait_for(lambda: log_count(tmp_path, "depth in sync") >= 2, timeout=60)
        time.sleep(1.5)
        sim.faults.drop_connections()
        time.sleep(2.5)
        sim.faults.skip_update_id("BTCUSDT")
        time.sleep(1.5)
        sim.faults.malformed("not_json", route="market", count=2)
        # In sync again after the reconnect (2) and BTCUSDT's sequence break (1).
        wait_for(lambda: log_count(tmp_path, "depth in sync") >= 5, timeout=60)
        out = stop(proc, signal.SIGTERM)
        assert_clean_exit(out, proc, data)
        for sym in SYMBOLS:
            gaps = gap_rows(data, sym)
            reasons = {g["reason"] for g in gaps}
            assert "reconnect" in reasons, gaps
            ids = agg_ids(data, sym)
            assert len(ids) == len(set(ids))
            assert holes_explained(ids, gaps) == [], "an aggTrade hole without a gap row"
            # The book rebuilt from the files (re-based at each resync) is the true book.
            book = replay_book(backend, data, sym)
            assert_book_matches_truth(book, sim, sym)
        breaks = [g for g in gap_rows(data, "BTCUSDT") if g["reason"] == "sequence_break"]
        assert breaks and breaks[0]["stream"] == "depth@0ms" and breaks[0]["last_id"] and breaks[0]["next_id"]
        log = (tmp_path / "collector.log").read_text()
        assert "malformed" in log
        assert_verifies(data, capsys)


def test_429_is_honoured_then_depth_syncs(tmp_path: Path, backend: ModuleType) -> None:
    with Simulator(symbols=["BTCUSDT"], rate=40, seed=5) as sim:
        sim.faults.rest_status(429, count=1, retry_after=2)
        cfg = write_config(tmp_path, sim.ws_base_url, sim.rest_base_url, ["BTCUSDT"], duration=0, workers=1)
        proc = start(cfg)
        wait_for(lambda: log_count(tmp_path, "depth in sync") >= 1, timeout=60)
        time.sleep(0.5)
        out = stop(proc, signal.SIGTERM)
        data = tmp_path / "data"
        assert_clean_exit(out, proc, data)
        reqs = [r for r in sim.truth.rest_requests() if "/fapi/v1/depth" in r.path]
        assert reqs[0].status == 429 and reqs[1].status == 200
        assert reqs[1].wall - reqs[0].wall >= 1.9, "Retry-After not honoured"
        book = replay_book(backend, data, "BTCUSDT")
        assert_book_matches_truth(book, sim, "BTCUSDT")


def test_writer_killed_mid_run_loses_and_duplicates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Simulator(symbols=SYMBOLS, rate=60, seed=6) as sim:
        cfg = write_config(tmp_path, sim.ws_base_url, sim.rest_base_url, SYMBOLS, duration=0)
        proc = start(cfg)
        data = tmp_path / "data"
        stats = runtime.paths_for(data).root / "stats" / "writer.json"
        writer_pid = wait_for(lambda: stats.exists() and json.loads(stats.read_text())["pid"])
        wait_for(lambda: count_rows(data, "BTCUSDT", "aggtrade_") > 20, timeout=60)
        os.kill(writer_pid, signal.SIGKILL)
        before = count_rows(data, "BTCUSDT", "aggtrade_")
        wait_for(lambda: log_count(tmp_path, "restarting writer") >= 1, timeout=60)
        wait_for(lambda: count_rows(data, "BTCUSDT", "aggtrade_") > before + 50, timeout=60)
        out = stop(proc, signal.SIGTERM)
        assert_clean_exit(out, proc, data)
        assert "restarting writer" in out
        for sym in SYMBOLS:
            ids = agg_ids(data, sym)
            assert len(ids) == len(set(ids)), "the replayed batch was written twice"
            assert ids == list(range(ids[0], ids[0] + len(ids))), "records lost across the writer crash"
            check_aggtrades_against_truth(sim, data, sym)
        assert_verifies(data, capsys)


def test_sigterm_under_load_drains_and_exits_zero(tmp_path: Path) -> None:
    syms = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]
    with Simulator(symbols=syms, rate=200, seed=7) as sim:
        cfg = write_config(tmp_path, sim.ws_base_url, sim.rest_base_url, syms, duration=0)
        proc = start(cfg)
        data = tmp_path / "data"
        wait_for(lambda: all(files(data, s, "aggtrade_") for s in syms), timeout=20)
        time.sleep(2)
        t0 = time.monotonic()
        out = stop(proc, signal.SIGTERM)
        assert time.monotonic() - t0 < 15, "shutdown took too long"
        assert_clean_exit(out, proc, data)
        for s in syms:
            ids = agg_ids(data, s)
            assert ids == list(range(ids[0], ids[0] + len(ids)))


def test_midnight_crossing_rotates_files_by_event_time(tmp_path: Path) -> None:
    midnight = (int(time.time()) // 86400 + 1) * 86400 * 1000
    with Simulator(
        symbols=["BTCUSDT"], rate=40, seed=8, clock_start_ms=midnight - 50_000, clock_speed=10.0
    ) as sim:
        cfg = write_config(tmp_path, sim.ws_base_url, sim.rest_base_url, ["BTCUSDT"], duration=0, workers=1)
        proc = start(cfg)
        data = tmp_path / "data"
        day1 = time.strftime("%Y%m%d", time.gmtime(midnight / 1000 - 1))
        day2 = time.strftime("%Y%m%d", time.gmtime(midnight / 1000))
        # About 5 s of real time before (simulated) midnight, then rows of the new day.
        wait_for(
            lambda: all(
                count_rows(data, "BTCUSDT", f"{k}BTCUSDT_{day2}") > 20 for k in ("aggtrade_", "depth_")
            ),
            timeout=60,
        )
        out = stop(proc, signal.SIGTERM)
        assert_clean_exit(out, proc, data)
        for prefix, kind, col in (
            ("aggtrade_", "aggtrade", "event_time_ms"),
            ("depth_", "depth", "event_time_ms"),
        ):
            paths = files(data, "BTCUSDT", prefix)
            assert [p.name[-12:-4] for p in paths] == [day1, day2]
            for p in paths:
                day = p.name[-12:-4]
                for r in rows([p], kind):
                    assert time.strftime("%Y%m%d", time.gmtime(int(r[col]) / 1000)) == day
        ids = agg_ids(data, "BTCUSDT")
        assert ids == list(range(ids[0], ids[0] + len(ids)))


def test_rollover_before_lifetime_loses_nothing(tmp_path: Path, backend: ModuleType) -> None:
    with Simulator(symbols=["BTCUSDT"], rate=40, seed=9) as sim:
        cfg = write_config(
            tmp_path,
            sim.ws_base_url,
            sim.rest_base_url,
            ["BTCUSDT"],
            duration=0,
            workers=1,
            network={"connection_lifetime": 3},
        )
        proc = start(cfg)
        # Both connections (public and market) roll over at least once.
        wait_for(lambda: log_count(tmp_path, "complete:") >= 2, timeout=60)
        out = stop(proc, signal.SIGTERM)
        data = tmp_path / "data"
        assert_clean_exit(out, proc, data)
        assert "rollover of" in out and "complete:" in out, "no rollover completed"
        assert {g["reason"] for g in gap_rows(data, "BTCUSDT")} == {"start"}, (
            "a rollover must not leave a gap"
        )
        ids = agg_ids(data, "BTCUSDT")
        assert ids == list(range(ids[0], ids[0] + len(ids))), "rollover lost or duplicated trades"
        book = replay_book(backend, data, "BTCUSDT")
        assert_book_matches_truth(book, sim, "BTCUSDT")


def test_stalled_connection_is_replaced(tmp_path: Path) -> None:
    with Simulator(symbols=["BTCUSDT"], rate=40, seed=10) as sim:
        cfg = write_config(
            tmp_path,
            sim.ws_base_url,
            sim.rest_base_url,
            ["BTCUSDT"],
            duration=0,
            workers=1,
            network={"stall_timeout": 1.5},
        )
        proc = start(cfg)
        data = tmp_path / "data"
        wait_for(lambda: count_rows(data, "BTCUSDT", "aggtrade_") > 10, timeout=60)
        sim.faults.stall(4, route="market")
        wait_for(lambda: log_count(tmp_path, "stall: no frame") >= 1, timeout=60)
        wait_for(lambda: any(g["reason"] == "reconnect" for g in gap_rows(data, "BTCUSDT")), timeout=60)
        out = stop(proc, signal.SIGTERM)
        assert_clean_exit(out, proc, data)
        assert "stall" in out
        gaps = gap_rows(data, "BTCUSDT")
        assert any(g["reason"] == "reconnect" and g["stream"] == "kline_1m" for g in gaps), gaps
        ids = agg_ids(data, "BTCUSDT")
        assert holes_explained(ids, gaps) == []


def test_second_collector_on_same_directory_is_refused(tmp_path: Path) -> None:
    with Simulator(symbols=["BTCUSDT"], rate=20, seed=11) as sim:
        cfg = write_config(tmp_path, sim.ws_base_url, sim.rest_base_url, ["BTCUSDT"], duration=0, workers=1)
        first = start(cfg)
        data = tmp_path / "data"
        pid = status_pid(data)
        second = subprocess.run(
            [sys.executable, "-m", "binance_streamer", "-c", str(cfg)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1
        assert f"another collector (pid {pid}) is already writing to {data}" in second.stderr
        # --status sees the live collector.
        status = subprocess.run(
            [sys.executable, "-m", "binance_streamer", "-c", str(cfg), "--status"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert status.returncode == 0 and f"collector:  running, pid {pid}" in status.stdout
        out = stop(first, signal.SIGINT)
        assert_clean_exit(out, first, data)


def test_prometheus_endpoint_serves_live_figures(tmp_path: Path) -> None:
    pytest.importorskip("prometheus_client")
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with Simulator(symbols=["BTCUSDT"], rate=30, seed=12) as sim:
        cfg = write_config(
            tmp_path,
            sim.ws_base_url,
            sim.rest_base_url,
            ["BTCUSDT"],
            duration=0,
            workers=1,
            monitoring={"prometheus_port": port},
        )
        proc = start(cfg)
        data = tmp_path / "data"
        status_pid(data)

        def scrape() -> str:
            try:
                text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
            except OSError:
                return ""
            return (
                text if 'binance_streamer_messages_total{stream="aggTrade",symbol="BTCUSDT"}' in text else ""
            )

        text = wait_for(scrape, timeout=20)
        assert "binance_streamer_ring_fill_ratio" in text and "binance_streamer_rss_bytes" in text
        out = stop(proc, signal.SIGTERM)
        assert_clean_exit(out, proc, data)


def test_gives_up_after_max_retries_with_exit_code_1(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = write_config(
        tmp_path,
        f"ws://127.0.0.1:{port}",
        f"http://127.0.0.1:{port}",
        ["BTCUSDT"],
        duration=0,
        workers=1,
        network={"max_retries": 2, "reconnect_delay": 0.1, "reconnect_max_delay": 0.2},
    )
    proc = start(cfg)
    out = finish(proc, timeout=60)
    assert proc.returncode == 1, out[-2000:]
    assert "gave up connecting (network.max_retries reached)" in out
    assert shm_leftovers(proc.pid) == []
    assert not runtime.paths_for(tmp_path / "data").pid_file.exists()


def test_orderbook_manager_killed_is_restarted_and_books_resynced(tmp_path: Path) -> None:
    with Simulator(symbols=SYMBOLS, rate=40, seed=13) as sim:
        cfg = write_config(tmp_path, sim.ws_base_url, sim.rest_base_url, SYMBOLS, duration=0)
        proc = start(cfg)
        data = tmp_path / "data"
        stats = runtime.paths_for(data).root / "stats" / "orderbook.json"
        wait_for(lambda: log_count(tmp_path, "depth in sync") >= 2, timeout=60)
        book_pid = wait_for(lambda: stats.exists() and json.loads(stats.read_text())["pid"])
        os.kill(book_pid, signal.SIGKILL)
        # Restarted, and every symbol re-based so the new manager's books fill again.
        wait_for(lambda: log_count(tmp_path, "depth in sync") >= 4, timeout=60)
        wait_for(lambda: stats.exists() and json.loads(stats.read_text())["pid"] != book_pid, timeout=60)
        wait_for(
            lambda: all(json.loads(stats.read_text()).get("bbo", {}).get(s, {}).get("bid") for s in SYMBOLS),
            timeout=60,
        )
        out = stop(proc, signal.SIGTERM)
        assert_clean_exit(out, proc, data)
        assert "restarting orderbook" in out
        for sym in SYMBOLS:
            resyncs = [g for g in gap_rows(data, sym) if g["reason"] == "resync"]
            assert [g["detail"] for g in resyncs] == ["orderbook manager restarted"]


def test_bbo_readable_from_another_process_while_running(tmp_path: Path) -> None:
    from binance_streamer import bbo

    with Simulator(symbols=["BTCUSDT"], rate=30, seed=14) as sim:
        cfg = write_config(tmp_path, sim.ws_base_url, sim.rest_base_url, ["BTCUSDT"], duration=0, workers=1)
        proc = start(cfg)
        data = tmp_path / "data"
        wait_for(lambda: log_count(tmp_path, "depth in sync") >= 1, timeout=60)
        quote = wait_for(lambda: bbo.read("BTCUSDT", data), timeout=30)
        assert quote.bid is not None and quote.ask is not None and float(quote.bid) < float(quote.ask)
        truth = sim.truth.book_at("BTCUSDT", quote.update_id)
        best_bid = max(truth.bids, key=float)
        assert (quote.bid, quote.bid_qty) == (best_bid, truth.bids[best_bid])
        out = stop(proc, signal.SIGTERM)
        assert_clean_exit(out, proc, data)
        with pytest.raises(FileNotFoundError, match="no collector is running"):
            bbo.read("BTCUSDT", data)
