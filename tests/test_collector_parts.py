"""The collector's parts on their own: plan, backoff, request-weight pacing,
outbox spill/drop accounting, file repair, the writer's journal recovery and
native/fallback parity of the files it writes, and the best bid/ask board."""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path
from types import ModuleType
from typing import List

import pytest

from binance_streamer import bbo, config, records, schema, shm
from binance_streamer.collector import gaps
from binance_streamer.collector.backoff import Backoff
from binance_streamer.collector.files import FileSet
from binance_streamer.collector.journal import Journal, JournalEntry
from binance_streamer.collector.outbox import Outbox
from binance_streamer.collector.plan import MAX_STREAMS_PER_CONNECTION, make_plan
from binance_streamer.collector.rest import IP_WEIGHT_LIMIT, SAFE_FRACTION, WeightGovernor, depth_weight
from binance_streamer.collector.writer import Writer

REPO = Path(__file__).resolve().parents[1]


# --- plan ---------------------------------------------------------------------------


def _cfg(tmp_path: Path, n_symbols: int, workers: int, streams: str = "[aggTrade, depth@100ms, kline_1m]"):
    syms = "\n".join(f"      - {{symbol: S{i:03d}USDT, streams: {streams}}}" for i in range(n_symbols))
    p = tmp_path / "c.yaml"
    p.write_text(
        f"mode: m\nmodes:\n  m:\n    run_duration: 1\n    max_workers: {workers}\n    symbols:\n{syms}\n"
    )
    return config.load(p)


def test_plan_spreads_symbols_and_routes_streams(tmp_path: Path) -> None:
    plan = make_plan(_cfg(tmp_path, 5, 8))
    assert len(plan.workers) == 5  # never more workers than symbols
    assert [w.symbols for w in plan.workers][0] == ("S000USDT",)
    conns = plan.workers[0].connections
    assert [(c.route, [n for _, n in c.streams]) for c in conns] == [
        ("public", ["depth@100ms"]),
        ("market", ["aggTrade", "kline_1m"]),
    ]
    assert conns[1].url("ws://h") == "ws://h/market/stream?streams=s000usdt@aggTrade/s000usdt@kline_1m"


def test_plan_respects_stream_limit_per_connection(tmp_path: Path) -> None:
    plan = make_plan(_cfg(tmp_path, 250, 1))
    assert len(plan.workers) == 1
    for c in plan.workers[0].connections:
        assert 0 < len(c.streams) <= MAX_STREAMS_PER_CONNECTION
    total = sum(len(c.streams) for c in plan.workers[0].connections)
    assert total == 750
    assert plan.symbols[plan.symbol_id("S123USDT")] == "S123USDT"


# --- backoff and pacing ---------------------------------------------------------------


def test_backoff_doubles_with_jitter_caps_and_resets() -> None:
    b = Backoff(1.0, 8.0, max_retries=5, rng=random.Random(1))
    delays = [b.next() for _ in range(6)]
    for d, nominal in zip(delays, [1, 2, 4, 8, 8, 8]):
        assert nominal / 2 <= d <= nominal
    assert b.exhausted
    b.reset()
    assert not b.exhausted and b.next() <= 1.0


def test_weight_governor_paces_by_share_and_ip_usage() -> None:
    now = [60.0 * 1000 + 1]
    g = WeightGovernor(share=0.5, clock=lambda: now[0])
    assert depth_weight(1000) == 20 and depth_weight(100) == 5 and depth_weight(5) == 2
    budget = IP_WEIGHT_LIMIT * SAFE_FRACTION * 0.5
    spent = 0
    while g.wait_time(20) == 0:
        g.spend(20)
        spent += 20
    assert spent <= budget and spent + 20 > budget
    assert g.wait_time(20) == pytest.approx(59.0 + 0.05)
    now[0] += 60  # next minute: budget is back
    assert g.wait_time(20) == 0
    g.observe(str(IP_WEIGHT_LIMIT - 10))  # other programs on the IP used nearly everything
    assert g.wait_time(20) > 0
    now[0] += 60
    g.pause(30)  # a 429's Retry-After
    assert g.wait_time(20) == pytest.approx(30)


# --- outbox -------------------------------------------------------------------------


class _TinyRing:
    """A ring that accepts ``room`` records, for driving the outbox."""

    def __init__(self, room: int):
        self.room = room
        self.got: List[bytes] = []

    def try_push(self, rec: bytes) -> bool:
        if len(self.got) >= self.room:
            return False
        self.got.append(rec)
        return True


def test_outbox_spills_in_order_then_drops_and_records_the_drop() -> None:
    ring = _TinyRing(2)
    dropped: List[int] = []
    box = Outbox(ring, "r", spill_limit_bytes=3 * 40, on_drop=lambda sid, kind: dropped.append(sid))
    recs = [records.pack(records.KIND_FRAME, 7, 1000 + i, b"x" * 24) for i in range(8)]
    for r in recs:
        box.push(r)
    assert ring.got == recs[:2]  # ring full after two
    assert box.backlog == 3 and box.dropped_total == 3 and dropped == [7, 7, 7]
    ring.room = 100
    box.drain()
    assert ring.got[:5] == recs[:5]  # spilled ones in order
    gap = records.unpack(ring.got[5])
    assert gap.kind == records.KIND_GAP and gap.symbol_id == 7
    body = json.loads(gap.payload)
    assert body["reason"] == gaps.RING_FULL
    assert body["detail"].startswith(
        "dropped 3 records (120 bytes) received between local_time_us 1005 and 1007"
    )


def test_outbox_never_drops_gap_records() -> None:
    ring = _TinyRing(0)
    box = Outbox(ring, "r", spill_limit_bytes=10)
    for _ in range(5):
        box.push(gaps.gap_record(1, "depth", gaps.RESYNC))
    assert box.backlog == 5 and box.dropped_total == 0


# --- files and journal ----------------------------------------------------------------


def test_partial_last_row_is_repaired_before_appending(tmp_path: Path) -> None:
    f = tmp_path / "BTCUSDT" / "aggtrade_BTCUSDT_20240101.csv"
    f.parent.mkdir()
    f.write_bytes(schema.header("aggtrade") + b"1,2,BTCUSDT,3\n4,5,BTCUS")
    fs = FileSet(tmp_path)
    fs.append("BTCUSDT/aggtrade_BTCUSDT_20240101.csv", "aggtrade", b"6,7,BTCUSDT,8\n")
    fs.close_all()
    assert f.read_bytes() == schema.header("aggtrade") + b"1,2,BTCUSDT,3\n6,7,BTCUSDT,8\n"
    assert [(r.rel_path, r.cut_bytes) for r in fs.repairs] == [("BTCUSDT/aggtrade_BTCUSDT_20240101.csv", 9)]


def test_new_file_gets_header_and_truncate_undoes(tmp_path: Path) -> None:
    fs = FileSet(tmp_path, max_open=1)
    fs.append("A/gaps_A_20240101.csv", "gaps", b"r1\n")
    size = fs.size("A/gaps_A_20240101.csv")
    fs.append("B/gaps_B_20240101.csv", "gaps", b"r1\n")  # evicts A's handle (max_open=1)
    fs.append("A/gaps_A_20240101.csv", "gaps", b"r2\n")
    fs.flush()
    fs.truncate("A/gaps_A_20240101.csv", size)
    fs.close_all()
    assert (tmp_path / "A/gaps_A_20240101.csv").read_bytes() == schema.header("gaps") + b"r1\n"


def _frames() -> List[bytes]:
    out = []
    for i in range(50):
        ts = 1_704_153_599_000 + i * 100  # crosses 2024-01-02 00:00 UTC
        p = {
            "e": "aggTrade",
            "E": ts,
            "s": "BTCUSDT",
            "a": 1000 + i,
            "p": "42000.10",
            "q": "0.005",
            "f": 5000 + i,
            "l": 5000 + i,
            "T": ts - 2,
            "m": i % 2 == 0,
        }
        frame = json.dumps({"stream": "btcusdt@aggTrade", "data": p}, separators=(",", ":")).encode()
        out.append(records.pack(records.KIND_FRAME, 0, ts * 1000 + 7, frame))
    out.append(records.pack(records.KIND_FRAME, 0, 1, b"{not json"))
    out.append(
        gaps.gap_record(0, "depth@100ms", gaps.SEQUENCE_BREAK, 10, 12, "pu, break", 1_704_153_600_000_000)
    )
    return out


def _run_writer(backend: ModuleType, out: Path, name: str, recs: List[bytes]) -> Writer:
    ring = backend.Ring.create(name, 1 << 20)
    try:
        assert ring.push_batch(recs) == len(recs)
        stop = threading.Event()
        stop.set()  # drain everything, then stop
        w = Writer(backend, {name: ring}, ["BTCUSDT"], out, out / ".rt", 16, 0.05, False)
        (out / ".rt").mkdir(parents=True, exist_ok=True)
        w.run(stop)
        assert ring.used_bytes == 0
        return w
    finally:
        ring.unlink()
        ring.close()


def _tree(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.glob("*/*.csv"))}


def test_writer_files_identical_on_both_backends(
    tmp_path: Path, native_mod: ModuleType, python_mod: ModuleType
) -> None:
    recs = _frames()
    w1 = _run_writer(native_mod, tmp_path / "n", shm.segment_name("test-wn"), recs)
    w2 = _run_writer(python_mod, tmp_path / "p", shm.segment_name("test-wp"), recs)
    a, b = _tree(tmp_path / "n"), _tree(tmp_path / "p")
    assert a == b
    assert sorted(a) == [
        "BTCUSDT/aggtrade_BTCUSDT_20240101.csv",
        "BTCUSDT/aggtrade_BTCUSDT_20240102.csv",
        "BTCUSDT/gaps_BTCUSDT_20240102.csv",
    ]
    assert sum(v.count(b"\n") - 1 for k, v in a.items() if "aggtrade" in k) == 50
    assert b'"pu, break"' in a["BTCUSDT/gaps_BTCUSDT_20240102.csv"]  # RFC 4180 quoting
    assert w1.malformed == w2.malformed and sum(w1.malformed.values()) == 1


def test_writer_recovers_a_half_written_batch(tmp_path: Path, backend: ModuleType) -> None:
    recs = _frames()[:10]
    out = tmp_path / "o"
    rt = out / ".rt"
    rt.mkdir(parents=True)
    rel = "BTCUSDT/aggtrade_BTCUSDT_20240101.csv"
    (out / "BTCUSDT").mkdir()
    # A crash mid-batch: the journal says "begin" at size S, the file has more.
    good = schema.header("aggtrade")
    (out / rel).write_bytes(good + b"half,written,row\n")
    Journal(rt / "writer.journal").write(JournalEntry("begin", {}, {rel: len(good)}))
    name = shm.segment_name("test-wr")
    ring = backend.Ring.create(name, 1 << 20)
    try:
        ring.push_batch(recs)
        stop = threading.Event()
        stop.set()
        Writer(backend, {name: ring}, ["BTCUSDT"], out, rt, 100, 0.05, False).run(stop)
    finally:
        ring.unlink()
        ring.close()
    text = (out / rel).read_bytes()
    assert b"half" not in text and text.count(b"\n") == 11


def test_writer_skips_a_batch_written_before_a_crash(tmp_path: Path, backend: ModuleType) -> None:
    recs = _frames()[:10]
    out = tmp_path / "o"
    rt = out / ".rt"
    rt.mkdir(parents=True)
    name = shm.segment_name("test-ws")
    ring = backend.Ring.create(name, 1 << 20)
    try:
        ring.push_batch(recs)
        got = ring.peek_batch(4)  # the crashed writer read and wrote 4 records, committed nothing
        assert len(got) == 4
        Journal(rt / "writer.journal").write(JournalEntry("done", {name: ring.read_position}, {}))
        consumer = backend.Ring.attach(name)  # the restarted writer
        ring.close()
        stop = threading.Event()
        stop.set()
        Writer(backend, {name: consumer}, ["BTCUSDT"], out, rt, 100, 0.05, False).run(stop)
        consumer.unlink()
        consumer.close()
    finally:
        pass
    text = (out / "BTCUSDT/aggtrade_BTCUSDT_20240101.csv").read_text().splitlines()
    assert [line.split(",")[3] for line in text[1:]] == [str(1004 + i) for i in range(6)]


# --- best bid/ask board ---------------------------------------------------------------


def test_bbo_board_publish_and_read(tmp_path: Path) -> None:
    board = bbo.create_board(tmp_path, ["BTCUSDT", "ETHUSDT"])
    try:
        assert board.read("BTCUSDT") is None
        board.publish("BTCUSDT", "42000.10", "1.5", "42000.20", "0.25", 99, 1234)
        q = board.read("btcusdt")
        assert q is not None and (q.bid, q.bid_qty, q.ask, q.ask_qty, q.update_id) == (
            "42000.10",
            "1.5",
            "42000.20",
            "0.25",
            99,
        )
        assert q.mid == pytest.approx(42000.15)
        with pytest.raises(KeyError, match="'SOLUSDT' is not on this board"):
            board.read("SOLUSDT")
    finally:
        board.close()
        board.unlink()
