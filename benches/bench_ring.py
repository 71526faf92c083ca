"""Cross-process ring benchmarks: the native ring, the pure-Python ring, and
``multiprocessing.Queue`` / ``faster-fifo`` as references.

Groups:
  ring-batched   200-byte records, pushed and popped in batches of 256
  ring-single    200-byte records, one per call on both sides
  ring-latency   one-way latency at 20,000 records/s (not saturated);
                 p50/p99 in extra_info; "-spin" ring consumers busy-poll
                 instead of sleeping between records

The producer is a forked child that stays up across rounds; the benchmark
times the consumer (this process) receiving N records. records/s lands in
extra_info["records_per_s"]. Run:

    pytest benches/bench_ring.py --benchmark-enable --benchmark-group-by=group

Under the default ``--benchmark-disable`` each case runs once with a small N,
as a smoke test.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import time
import uuid
from typing import Any, Callable, Iterator, List

import pytest

from binance_streamer import native, shm

RECORD = bytes(range(200))
BATCH = 256
RING_BYTES = 4 << 20
LATENCY_INTERVAL_NS = 50_000  # 20,000 records/s
IMPLS = ["native", "python", "mp_queue", "faster_fifo"]
#: "native-spin"/"python-spin": a consumer that busy-polls between records
#: (a latency-critical consumer with a core to spare) instead of sleeping.
SPIN_IMPLS = ["native-spin", "python-spin"]
SPIN_FOR_LATENCY = 0.01

_ctx = multiprocessing.get_context("fork")


# -- transports: the same four operations for every implementation -------------------


class RingTransport:
    def __init__(self, backend: str, spin: float = 50e-6) -> None:
        self.spin = spin
        self.mod = native.load(backend)
        self.ring = self.mod.Ring.create(shm.segment_name(f"bench-{uuid.uuid4().hex[:8]}"), RING_BYTES)

    def in_child(self) -> None:
        self.ring = self.mod.Ring.attach(self.ring.name)  # by name, as a worker would

    def send(self, records: List[bytes]) -> None:
        sent = 0
        while sent < len(records):
            pushed = self.ring.push_batch(records[sent:] if sent else records)
            sent += pushed
            if not pushed:
                time.sleep(0)

    def send_one(self, record: bytes) -> None:
        while not self.ring.try_push(record):
            time.sleep(0)

    def receive(self, limit: int) -> List[bytes]:
        records = self.ring.pop_batch(max_records=limit)
        if not records:
            self.ring.wait(0.05, spin=self.spin)
        return records

    def close(self) -> None:
        self.ring.unlink()
        self.ring.close()


class MpQueueTransport:
    """Batches travel as one pickled list, the fair way to batch a Queue."""

    def __init__(self) -> None:
        self.q = _ctx.Queue(maxsize=RING_BYTES // 256)

    def in_child(self) -> None:
        pass

    def send(self, records: List[bytes]) -> None:
        self.q.put(records)

    def send_one(self, record: bytes) -> None:
        self.q.put(record)

    def receive(self, limit: int) -> List[bytes]:
        try:
            item = self.q.get(timeout=0.05)
        except queue.Empty:
            return []
        return item if isinstance(item, list) else [item]

    def close(self) -> None:
        self.q.close()
        self.q.join_thread()


class FasterFifoTransport:
    def __init__(self) -> None:
        faster_fifo = pytest.importorskip("faster_fifo")
        self.q = faster_fifo.Queue(max_size_bytes=RING_BYTES)

    def in_child(self) -> None:
        pass

    def send(self, records: List[bytes]) -> None:
        self.q.put_many(records, block=True, timeout=10.0)

    def send_one(self, record: bytes) -> None:
        self.q.put(record, block=True, timeout=10.0)

    def receive(self, limit: int) -> List[bytes]:
        try:
            return self.q.get_many(block=True, timeout=0.05, max_messages_to_get=limit)
        except queue.Empty:
            return []

    def close(self) -> None:
        self.q.close()


def make_transport(impl: str) -> Any:
    if impl == "faster_fifo":
        return FasterFifoTransport()
    if impl == "mp_queue":
        return MpQueueTransport()
    backend, _, spin = impl.partition("-")
    return RingTransport(backend, SPIN_FOR_LATENCY if spin else 50e-6)


# -- the producer child ---------------------------------------------------------------


def producer_loop(transport: Any, commands: Any) -> None:
    transport.in_child()
    # Distinct objects, as real frames are (pickle would dedupe one object).
    batch = [RECORD[:-1] + bytes([i]) for i in range(BATCH)]
    for mode, n in iter(commands.recv, None):
        if mode == "batched":
            for start in range(0, n, BATCH):
                transport.send(batch[: min(BATCH, n - start)])
        elif mode == "single":
            for _ in range(n):
                transport.send_one(RECORD)
        else:  # latency: paced, each record stamped with its send time
            pad = RECORD[8:]
            due = time.perf_counter_ns()
            for _ in range(n):
                while time.perf_counter_ns() < due:
                    time.sleep(0)  # lets mp.Queue's feeder thread take the GIL
                due += LATENCY_INTERVAL_NS
                transport.send_one(time.perf_counter_ns().to_bytes(8, "little") + pad)


@contextlib.contextmanager
def open_channel(impl: str) -> Iterator[tuple]:
    transport = make_transport(impl)
    parent_end, child_end = _ctx.Pipe()
    child = _ctx.Process(target=producer_loop, args=(transport, child_end), daemon=True)
    child.start()
    try:
        yield impl, transport, parent_end
    finally:
        parent_end.send(None)
        child.join(10)
        if child.is_alive():
            child.kill()
            child.join()
        transport.close()


@pytest.fixture(params=IMPLS)
def channel(request: pytest.FixtureRequest) -> Iterator[tuple]:
    with open_channel(request.param) as opened:
        yield opened


@pytest.fixture(params=IMPLS + SPIN_IMPLS)
def latency_channel(request: pytest.FixtureRequest) -> Iterator[tuple]:
    with open_channel(request.param) as opened:
        yield opened


def run(benchmark: Any, rounds: int, once: Callable[[], Any]) -> Any:
    return benchmark.pedantic(once, rounds=1 if benchmark.disabled else rounds, iterations=1)


def throughput(benchmark: Any, channel: tuple, mode: str, n: int, limit: int) -> None:
    impl, transport, commands = channel
    n = 2_000 if benchmark.disabled else n

    def once() -> None:
        commands.send((mode, n))
        got = 0
        while got < n:
            records = transport.receive(limit)
            got += len(records)
        assert got == n

    benchmark.group = f"ring-{mode}"
    benchmark.extra_info["impl"] = impl
    benchmark.extra_info["records"] = n
    run(benchmark, 3, once)
    if benchmark.stats is not None:
        benchmark.extra_info["records_per_s"] = round(n / benchmark.stats.stats.min)


def test_ring_batched(benchmark: Any, channel: tuple) -> None:
    throughput(benchmark, channel, "batched", 1_000_000, BATCH)


def test_ring_single(benchmark: Any, channel: tuple) -> None:
    throughput(benchmark, channel, "single", 200_000, 1)


def test_ring_latency(benchmark: Any, latency_channel: tuple) -> None:
    impl, transport, commands = latency_channel
    n = 500 if benchmark.disabled else 40_000
    latencies: List[int] = []

    def once() -> None:
        latencies.clear()
        commands.send(("latency", n))
        while len(latencies) < n:
            for record in transport.receive(BATCH):
                latencies.append(time.perf_counter_ns() - int.from_bytes(record[:8], "little"))

    benchmark.group = "ring-latency"
    benchmark.extra_info["impl"] = impl
    run(benchmark, 1, once)
    latencies.sort()
    for p in (50, 99):
        benchmark.extra_info[f"p{p}_us"] = round(latencies[len(latencies) * p // 100] / 1000, 1)
    assert len(latencies) == n
