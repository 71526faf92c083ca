"""The benchmark tooling's own logic: turning pytest-benchmark records into
comparisons, the CI gate, the e2e verdicts and counts, the profile categories.
(The measurements themselves run in ``benches/run.py``, not in the test suite.)"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict

import pytest
import run

from e2e import harness, pyspy_profile, search


def bench(group: str, contender: str, seconds: float, key: str = "contender", **info: Any) -> Dict[str, Any]:
    return {
        "group": group,
        "name": f"test[{contender}]",
        "stats": {"min": seconds, "mean": seconds * 1.1},
        "extra_info": {key: contender, **info},
    }


def test_each_contender_is_compared_with_native_using_the_work_per_second() -> None:
    records = [
        bench("orderbook-apply", "native", 0.01, level_changes=1000),
        bench("orderbook-apply", "python", 0.4, level_changes=1000),
        bench("orderbook-apply", "sortedcontainers", 0.2, level_changes=1000),
    ]
    out, details = run.part_comparisons("orderbook", records)
    assert details == []
    assert out == [
        {
            "name": "orderbook-apply vs fallback",
            "native": 100_000.0,
            "baseline": 2500.0,
            "baseline_kind": "fallback",
            "unit": "level changes/s",
            "ratio": 40.0,
        },
        {
            "name": "orderbook-apply vs sortedcontainers",
            "native": 100_000.0,
            "baseline": 5000.0,
            "baseline_kind": "peer",
            "unit": "level changes/s",
            "ratio": 20.0,
        },
    ]


def test_contender_keys_and_fallback_names_of_every_part_file_are_understood() -> None:
    ring = [
        bench("ring-single", "native", 0.1, "impl", records=200),
        bench("ring-single", "python", 0.5, "impl", records=200),
    ]
    csv = [
        bench("csv aggtrade-only x512", "native", 0.001, "peer", records=512, input_bytes=100_000),
        bench("csv aggtrade-only x512", "fallback", 0.002, "peer", records=512, input_bytes=100_000),
    ]
    (r,), _ = run.part_comparisons("ring", ring)
    (c,), _ = run.part_comparisons("csv", csv)
    assert (r["name"], r["unit"], r["ratio"], r["baseline_kind"]) == (
        "ring-single vs fallback",
        "records/s",
        5.0,
        "fallback",
    )
    assert (c["name"], c["unit"], c["native"], c["ratio"]) == (
        "csv aggtrade-only x512 vs fallback",
        "MB/s of JSON",
        100.0,
        2.0,
    )


def test_latency_records_and_groups_without_native_are_not_compared() -> None:
    records = [
        bench("ring-latency", "native", 2.0, "impl", p50_us=39.0, p99_us=3000.0),
        bench("ring-latency", "python", 2.0, "impl", p50_us=70.0, p99_us=3900.0),
        bench("ring-other", "python", 1.0, "impl"),
        bench("ring-other", "mp_queue", 1.0, "impl"),
    ]
    out, details = run.part_comparisons("ring", records)
    assert out == []
    assert [d["p50_us"] for d in details] == [39.0, 70.0]


def test_a_group_mixing_units_is_an_error() -> None:
    records = [bench("g", "native", 1.0, records=10), bench("g", "python", 1.0, level_changes=10)]
    with pytest.raises(run.BenchError, match="native counts records/s, python counts level changes/s"):
        run.part_comparisons("ring", records)


def test_only_a_fallback_comparison_below_one_fails() -> None:
    comparisons = [
        {"name": "a", "native": 1, "baseline": 2, "baseline_kind": "peer", "unit": "x", "ratio": 0.5},
        {"name": "b", "native": 2, "baseline": 1, "baseline_kind": "fallback", "unit": "x", "ratio": 2.0},
        {"name": "c", "native": 0, "baseline": 0, "baseline_kind": "fallback", "unit": "x", "ratio": None},
        {"name": "d", "native": 9, "baseline": 10, "baseline_kind": "fallback", "unit": "x", "ratio": 0.9},
    ]
    assert [c["name"] for c in run.failures(comparisons)] == ["d"]
    assert "0.90x **SLOWER**" in run.table(comparisons)
    assert "| c | 0 | 0 | x | n/a |" in run.table(comparisons)


def run_result(
    backend: str, target: int, passed: bool, delivered: float, cpu_per_10k: float
) -> harness.RunResult:
    spec = search.spec_for(backend, 50, target, 5.0, 2.0)
    return harness.RunResult(spec, passed=passed, delivered_per_s=delivered, cpu_per_10k=cpu_per_10k)


def test_e2e_comparisons_use_the_highest_step_each_backend_passed() -> None:
    native = search.Ladder(
        "native",
        50,
        [run_result("native", 5000, True, 5010, 0.25), run_result("native", 25000, True, 25100, 0.2)],
    )
    python = search.Ladder(
        "python",
        50,
        [run_result("python", 5000, True, 5020, 0.5), run_result("python", 25000, False, 19000, 0.4)],
    )
    rate, cpu = search.comparisons({"native": native, "python": python})
    assert (rate["native"], rate["baseline"], rate["ratio"]) == (25100, 5020, round(25100 / 5020, 3))
    # CPU is compared at the highest rate both sustained, as messages per CPU-second.
    assert cpu["name"].endswith("at 5000 msgs/s")
    assert (cpu["native"], cpu["baseline"], cpu["ratio"]) == (40000.0, 20000.0, 2.0)


def test_e2e_same_highest_step_carried_in_full_is_a_tie_and_no_step_passed_is_zero() -> None:
    native = search.Ladder("native", 50, [run_result("native", 25000, True, 24900, 0.2)])
    python = search.Ladder("python", 50, [run_result("python", 25000, True, 25050, 0.4)])
    rate, _ = search.comparisons({"native": native, "python": python})
    assert rate["ratio"] == 1.0
    # The simulator could not deliver the step to the fallback: that is a real difference.
    python = search.Ladder("python", 50, [run_result("python", 25000, True, 18000, 0.4)])
    rate, _ = search.comparisons({"native": native, "python": python})
    assert rate["ratio"] == round(24900 / 18000, 3)
    failed = search.Ladder("native", 50, [run_result("native", 25000, False, 20000, 0.2)])
    rate, *rest = search.comparisons({"native": failed, "python": python})
    assert (rate["native"], rate["ratio"], rest) == (0.0, 0.0, [])


def test_the_best_run_is_the_one_that_carried_most_without_loss() -> None:
    runs = [
        run_result("native", 50000, True, 49000, 0.2),
        run_result("native", 60000, True, 37000, 0.2),  # the machine was busy
        run_result("native", 70000, False, 52000, 0.2),
    ]
    ladder = search.Ladder("native", 50, runs)
    assert ladder.best is runs[0]
    assert ladder.passed_at(60000) is runs[1] and ladder.passed_at(70000) is None


def verdict(**changes: Any) -> str:
    r = harness.RunResult(harness.RunSpec("native", 50, 100.0), window_frames=100_000, drain_s=1.2)
    r.sent = r.received = r.written = 120_000
    r.lost_by_route = {"public": 0, "market": 0}
    for k, v in changes.items():
        setattr(r, k, v)
    return harness.judge(r)[1]


def test_a_run_passes_only_with_every_frame_written_and_the_collector_keeping_up() -> None:
    assert verdict() == ""
    assert verdict(written=119_999, lost_by_route={"public": 1, "market": 0}).startswith("lost 1 of 120000")
    assert verdict(received=119_000).startswith("workers received 119000")
    assert verdict(gaps={"depth@100ms resync": 2}) == "gap rows {'depth@100ms resync': 2}, 0 reconnects"
    assert verdict(drain_s=math.nan).startswith("fell behind")
    assert verdict(drain_s=2.6).startswith("fell behind: 2.6 s")
    assert verdict(queued_at_stop=1001).startswith("fell behind: 1001 frames")


def test_written_frames_are_counted_per_route_and_depth_frames_by_update_id(tmp_path: Path) -> None:
    sym = tmp_path / "S000USDT"
    sym.mkdir()
    (tmp_path / ".binance_streamer").mkdir()
    (sym / "aggtrade_S000USDT_20260101.csv").write_bytes(b"h\n1\n2\n3\n")
    (sym / "kline_1m_S000USDT_20260101.csv").write_bytes(b"h\n1\n")
    head = b"local_time_us,event_time_ms,transaction_time_ms,symbol,first_update_id,final_update_id,rest\n"
    depth = b"1,2,3,S,10,11,10,bid,1,1\n1,2,3,S,10,11,10,ask,2,1\n1,2,3,S,12,15,11,,,\n"
    (sym / "depth_S000USDT_20260101.csv").write_bytes(head + depth)
    gaps = b"local_time_us,symbol,stream,reason,last_id,next_id,detail\n"
    gaps += b"1,S000USDT,depth@100ms,resync,1,,x\n1,S000USDT,depth@100ms,resync,2,,y\n1,S000USDT,aggTrade,reconnect,,,z\n"
    (sym / "gaps_S000USDT_20260101.csv").write_bytes(gaps)
    (sym / "S000USDT_depth_snapshot_20260101.csv").write_bytes(b"h\n1\n2\n")
    assert harness.count_written(tmp_path) == (
        {"public": 2, "market": 4},
        {"depth@100ms resync": 2, "aggTrade reconnect": 1},
    )


def test_latency_percentiles_come_from_the_window_only(tmp_path: Path) -> None:
    import numpy as np

    pairs = [(t, t + 10_000) for t in range(1_000_000, 1_100_000, 1000)] + [(5_000_000, 9_000_000)]
    np.array(pairs, dtype=np.int64).tofile(tmp_path / "latency-1.bin")
    lat, n = harness.latency_ms(tmp_path, 1_000_000, 2_000_000)
    assert n == 100 and lat == {"p50": 10.0, "p99": 10.0, "max": 10.0}


def test_profile_samples_are_split_by_their_innermost_known_frame(tmp_path: Path) -> None:
    raw = tmp_path / "raw.txt"
    worker = 'process 10:"python -m binance_streamer";process 11:"spawn_main"'
    raw.write_text(
        f"{worker};run (asyncio/base_events.py:1);parse (websockets/frames.py:2) 30\n"
        f"{worker};_run_once (asyncio/base_events.py:1) 50\n"
        f"{worker};_deliver (binance_streamer/collector/connection.py:3);loads (json/__init__.py:4) 20\n"
        f'process 10:"python -m binance_streamer";write (binance_streamer/collector/stats.py:5) 7\n'
    )
    samples, leaves = pyspy_profile.read_raw(raw)
    assert samples == {11: {"websockets": 30, "asyncio": 50, "receive": 20}, 10: {"status": 7}}
    top = pyspy_profile.top_frames(leaves, {11: "worker-0", 10: "main"}, n=2)
    assert top["worker-0"] == [
        ("_run_once (asyncio/base_events.py)", 0.5),
        ("parse (websockets/frames.py)", 0.3),
    ]
    table = pyspy_profile.breakdown(
        samples, {11: "worker-0", 10: "main"}, {"worker-0": (1.0, 0.5), "main": (0.0, 0.0)}
    )
    w = table["worker-0"]
    assert w[pyspy_profile.KERNEL] == 0.5
    assert w[pyspy_profile.LABELS["asyncio"]] == 0.5
    assert w[pyspy_profile.LABELS["websockets"]] == pytest.approx(0.3)
    lines = pyspy_profile.format_breakdown(table, messages=100_000)
    assert lines[-1] == "| **total** | 15.0 | 0.0 | 15.0 |"
