"""The ring across OS processes: stress with random record sizes (wrap-around
and a full ring on purpose), both backends on one segment, and kill -9 of the
consumer and of the producer mid-stream.

This file is also the child program the tests start:
``python test_ring_procs.py produce|consume '<json arguments>'``.

Scale: ``BINANCE_STREAMER_RING_STRESS_RECORDS`` (default 100000 records of
1 B..64 KiB per stress run, about 0.6 GB through a 256 KiB ring) can be
raised to millions for a long soak.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import struct
import subprocess
import sys
import time
import uuid
import zlib
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, Iterator, List, Optional

import pytest

from binance_streamer import native, shm

STRESS_RECORDS = int(os.environ.get("BINANCE_STREAMER_RING_STRESS_RECORDS", "100000"))
STRESS_CAPACITY = 256 * 1024
CHILD_TIMEOUT = 120.0
LOG_ENTRY = struct.Struct("<QQQ")  # first_seq, count, read_position after the batch

_POOL = random.Random(20240808).randbytes(1 << 17)


class Stream:
    """A deterministic record sequence both sides can generate: sizes
    log-uniform in [min_size, max_size]; a record of 12 bytes or more starts
    with its sequence number and the CRC-32 of the rest."""

    def __init__(self, seed: int, min_size: int = 1, max_size: int = 65536) -> None:
        self.rng = random.Random(seed)
        self.min_size = min_size
        self.ratio = max_size / min_size
        self.max_size = max_size
        self.seq = 0

    def next(self) -> bytes:
        rng = self.rng
        size = min(self.max_size, int(self.min_size * self.ratio ** rng.random()))
        start = rng.randrange(len(_POOL) - size + 1)
        body = _POOL[start : start + size]
        if size >= 12:
            rest = body[12:]
            body = struct.pack("<QI", self.seq, zlib.crc32(rest)) + rest
        self.seq += 1
        return body


def describe(record: bytes) -> str:
    if len(record) < 12:
        return f"{len(record)}-byte record {record!r}"
    seq, crc = struct.unpack_from("<QI", record)
    ok = "ok" if zlib.crc32(record[12:]) == crc else "BAD"
    return f"{len(record)}-byte record claiming seq {seq}, checksum {ok}"


# -- child programs -----------------------------------------------------------------


def produce(args: Dict[str, Any]) -> None:
    ring = native.load(args["backend"]).Ring.attach(args["name"])
    stream = Stream(args["seed"], args["min_size"], args["max_size"])
    choice = random.Random(args["seed"] + 1)
    pace = args.get("pace_s", 0.0)
    pending: List[bytes] = []
    sent = 0
    while sent < args["count"]:
        if not pending:
            want = 1 if choice.random() < 0.5 else choice.randint(2, 32)
            pending = [stream.next() for _ in range(min(want, args["count"] - sent))]
        if len(pending) == 1:
            pushed = int(ring.try_push(pending[0]))
        else:
            pushed = ring.push_batch(pending)
        del pending[:pushed]
        sent += pushed
        if pending:
            time.sleep(0.0001)  # full: let the consumer catch up
        elif pace:
            time.sleep(pace)
    ring.close()


def read_log(path: Path) -> List[tuple]:
    """Batches the consumer finished, dropping a torn last entry."""
    if not path.exists():
        return []
    data = path.read_bytes()
    whole = len(data) - len(data) % LOG_ENTRY.size
    if whole != len(data):
        with open(path, "r+b") as f:
            f.truncate(whole)
    return [LOG_ENTRY.unpack_from(data, i) for i in range(0, whole, LOG_ENTRY.size)]


def consume(args: Dict[str, Any]) -> None:
    """A writer in miniature: verify each batch, append it to the log with
    the ring position after it, then commit. On restart, resume after the
    last logged batch and skip records the ring re-delivers (at-least-once
    ring, exactly-once log)."""
    ring = native.load(args["backend"]).Ring.attach(args["name"])
    log_path = Path(args["log"])
    streams = [Stream(seed, args["min_size"], args["max_size"]) for seed, _ in args["streams"]]
    counts = [count for _, count in args["streams"]]
    current = 0
    received = [0] * len(streams)
    logged = read_log(log_path)
    skipped = 0
    if logged:
        assert len(streams) == 1, "restart is supported for one stream"
        first, count, position = logged[-1]
        for _ in range(first + count):
            streams[0].next()
        received[0] = first + count
        while ring.read_position < position:
            skipped += len(ring.peek_batch(max_records=1))
        with open(f"{log_path}.starts", "a") as f:
            f.write(f"{skipped}\n")
    expected = [s.next() for s in streams]
    shape = random.Random(args["seed_shape"])
    stall_at = args.get("stall_at", -1)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    last_progress = time.monotonic()
    while received[-1] < counts[-1]:
        if not ring.wait(1.0):
            if time.monotonic() - last_progress > 60:
                sys.exit(f"no record for 60 s after {received}")
            continue
        batch = ring.peek_batch(max_records=shape.randint(1, 256))
        first_seq = received[current]
        for record in batch:
            if record != expected[current]:
                nxt = current + 1
                if nxt < len(streams) and record == expected[nxt]:
                    current = nxt  # the replacement producer's stream starts here
                    first_seq = received[current]
                else:
                    want = describe(expected[current])
                    sys.exit(
                        f"stream {current} seq {received[current]}: got {describe(record)}, expected {want}"
                    )
            received[current] += 1
            expected[current] = streams[current].next()
        os.write(log_fd, LOG_ENTRY.pack(first_seq, len(batch), ring.read_position))
        if stall_at >= 0 and received[current] > stall_at:
            # Killed here by the test: logged, not committed.
            Path(f"{log_path}.stalled").touch()
            time.sleep(CHILD_TIMEOUT)
        ring.commit()
        last_progress = time.monotonic()
        if args.get("jitter") and shape.random() < 0.02:
            time.sleep(0.002)  # a slow disk: lets the producer fill the ring
    os.close(log_fd)
    print(json.dumps({"received": received, "skipped": skipped, "stats": ring.stats()}))
    ring.close()


# -- test harness ---------------------------------------------------------------------


def mode_of(mod: ModuleType) -> str:
    return "native" if mod.__name__.endswith("._native") else "python"


def spawn(role: str, **args: Any) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, __file__, role, json.dumps(args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen, *peers: subprocess.Popen) -> str:
    """Wait for ``proc``; fail at once if it or a peer dies (a producer
    waiting on a dead consumer would otherwise sit out the timeout)."""
    wait_until(lambda: proc.poll() is not None, "a child to finish", [proc, *peers])
    out, err = proc.communicate()
    assert proc.returncode == 0, f"child exited {proc.returncode}: {err.strip()}"
    return out


def wait_until(check: Any, what: str, procs: List[subprocess.Popen]) -> None:
    deadline = time.monotonic() + CHILD_TIMEOUT
    while not check():
        for proc in procs:
            if proc.poll() not in (None, 0, -signal.SIGKILL):
                err = proc.stderr.read().strip() if proc.stderr else ""
                raise AssertionError(f"child exited {proc.returncode} ({what}): {err}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def logged_count(path: Path) -> int:
    entries = read_log(path)
    return entries[-1][0] + entries[-1][1] if entries else 0


@contextlib.contextmanager
def ring_and_children(mod: ModuleType, capacity: int) -> Iterator[tuple]:
    """A fresh ring (as the process manager would create it) and a list the
    test adds its children to; everything is killed and unlinked after."""
    ring = mod.Ring.create(shm.segment_name(f"test-{uuid.uuid4().hex[:12]}"), capacity)
    children: List[subprocess.Popen] = []
    try:
        yield ring, children
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
            child.communicate()
        ring.unlink()
        ring.close()


def leftovers() -> List[str]:
    prefix = shm.segment_name("test-")
    return sorted(n for n in os.listdir(shm.shm_dir()) if n.startswith(prefix))


@pytest.fixture(autouse=True, scope="module")
def nothing_left_in_shm() -> Iterator[None]:
    assert leftovers() == []
    yield
    assert leftovers() == [], "segments left behind"


@pytest.fixture
def other(backend: ModuleType, native_mod: ModuleType, python_mod: ModuleType) -> ModuleType:
    """The backend that is not under test, for the cross-backend runs."""
    return python_mod if backend is native_mod else native_mod


def stress(producer: ModuleType, consumer: ModuleType, count: int, tmp_path: Path) -> dict:
    with ring_and_children(producer, STRESS_CAPACITY) as (ring, children):
        common = dict(name=ring.name, min_size=1, max_size=65536)
        children.append(
            spawn("consume", backend=mode_of(consumer), log=str(tmp_path / "log"),
                  streams=[[7, count]], seed_shape=8, jitter=True, **common)
        )  # fmt: skip
        children.append(spawn("produce", backend=mode_of(producer), seed=7, count=count, **common))
        finish(children[1], children[0])
        summary = json.loads(finish(children[0]))
        assert summary["received"] == [count]
        return summary["stats"]


def check_stress_stats(stats: dict, count: int) -> None:
    assert stats["pushed"] == stats["popped"] == count
    assert stats["used_bytes"] == 0
    assert stats["bytes_pushed"] == stats["bytes_popped"]
    assert stats["bytes_pushed"] > 20 * STRESS_CAPACITY, "wrapped around many times"
    assert stats["full_events"] > 0, "the ring was full at least once"
    assert stats["high_water"] > STRESS_CAPACITY // 2


def test_stress_random_sizes_across_processes(backend: ModuleType, tmp_path: Path) -> None:
    check_stress_stats(stress(backend, backend, STRESS_RECORDS, tmp_path), STRESS_RECORDS)


def test_stress_with_the_other_backend_consuming(
    backend: ModuleType, other: ModuleType, tmp_path: Path
) -> None:
    """Run in both CI passes, this covers native->python and python->native."""
    count = max(STRESS_RECORDS // 2, 2000)
    check_stress_stats(stress(backend, other, count, tmp_path), count)


def test_consumer_killed_mid_stream_loses_nothing(backend: ModuleType, tmp_path: Path) -> None:
    count = 20_000
    log = tmp_path / "log"
    with ring_and_children(backend, 64 * 1024) as (ring, children):
        common = dict(backend=mode_of(backend), name=ring.name, min_size=1, max_size=4096)
        consumer_args = dict(log=str(log), streams=[[11, count]], **common)

        def start_consumer(**extra: Any) -> subprocess.Popen:
            proc = spawn("consume", seed_shape=len(children), **consumer_args, **extra)
            children.append(proc)
            return proc

        first = start_consumer(stall_at=count // 4)
        children.append(spawn("produce", seed=11, count=count, pace_s=0.00002, **common))
        # Kill 1: after a batch was logged (written) but before its commit.
        stalled = Path(f"{log}.stalled")
        wait_until(stalled.exists, "the consumer to stall", children)
        first.send_signal(signal.SIGKILL)
        first.wait()
        # Kill 2: at whatever point the consumer has reached.
        second = start_consumer()
        wait_until(lambda: logged_count(log) > count // 2, "half the records", children)
        second.send_signal(signal.SIGKILL)
        second.wait()
        last = start_consumer()
        finish(children[1], last)
        summary = json.loads(finish(last))

        entries = read_log(log)
        expected_first = 0
        for first_seq, n, _ in entries:
            assert first_seq == expected_first, "every record logged exactly once, in order"
            expected_first += n
        assert expected_first == count
        skips = [int(s) for s in Path(f"{log}.starts").read_text().split()]
        assert skips[0] > 0, "the in-flight batch came back and was skipped"
        assert summary["stats"]["pushed"] == summary["stats"]["popped"] == count
        assert summary["stats"]["used_bytes"] == 0


def test_producer_killed_mid_stream_leaves_a_consistent_ring(backend: ModuleType, tmp_path: Path) -> None:
    log = tmp_path / "log"
    with ring_and_children(backend, 64 * 1024) as (ring, children):
        common = dict(backend=mode_of(backend), name=ring.name, min_size=1, max_size=4096)
        children.append(
            spawn("consume", log=str(log), streams=[[21, 10**9], [22, 3000]], seed_shape=1,
                  **common)
        )  # fmt: skip
        doomed = spawn("produce", seed=21, count=10**9, pace_s=0.00005, **common)
        children.append(doomed)
        wait_until(lambda: logged_count(log) > 2000, "records from the first producer", children)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        children.append(spawn("produce", seed=22, count=3000, **common))
        finish(children[-1], children[0])
        summary = json.loads(finish(children[0]))
        from_first, from_second = summary["received"]
        assert from_first > 2000
        assert from_second == 3000
        # A kill between publishing a batch (<= 32 records) and counting it
        # leaves the counter short by that batch; the records are all there.
        assert from_first + 3000 - 32 <= summary["stats"]["pushed"] <= from_first + 3000


def main(argv: Optional[List[str]] = None) -> None:
    role, raw = (argv or sys.argv[1:])[:2]
    {"produce": produce, "consume": consume}[role](json.loads(raw))


if __name__ == "__main__":
    main()
