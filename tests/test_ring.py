"""The SPSC ring inside one process: API behaviour of the backend under test,
native == fallback parity (hypothesis), and both backends sharing one segment.

Cross-process behaviour (stress, kill -9) is in test_ring_procs.py.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import pickle
import subprocess
import sys
import time
import uuid
from types import ModuleType
from typing import Any, Iterator, List, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from binance_streamer import shm

PREFIX = shm.segment_name("test-")


def new_name() -> str:
    return f"{PREFIX}{uuid.uuid4().hex[:12]}"


@contextlib.contextmanager
def created(mod: ModuleType, capacity: int = 4096, name: str = "") -> Iterator[Any]:
    ring = mod.Ring.create(name or new_name(), capacity)
    try:
        yield ring
    finally:
        ring.unlink()
        ring.close()


def leftovers() -> List[str]:
    return sorted(n for n in os.listdir(shm.shm_dir()) if n.startswith(PREFIX))


@pytest.fixture(autouse=True, scope="module")
def nothing_left_in_shm() -> Iterator[None]:
    assert leftovers() == []
    yield
    left = leftovers()
    for name in left:
        os.unlink(os.path.join(shm.shm_dir(), name))
    assert left == [], "segments left behind"


# -- API of the backend under test ---------------------------------------------


def test_push_pop_round_trip_and_counters(backend: ModuleType) -> None:
    with created(backend) as ring:
        assert ring.try_push(b"hello")
        assert ring.try_push(b"")
        assert ring.push_batch([b"a", b"bb", b"ccc"]) == 3
        assert ring.push_batch([]) == 0
        assert ring.pop_batch() == [b"hello", b"", b"a", b"bb", b"ccc"]
        assert ring.pop_batch() == []
        stats = ring.stats()
        assert stats == {
            "capacity": 4096,
            "used_bytes": 0,
            "fill_ratio": 0.0,
            "high_water": 16 + 8 + 3 * 16,
            "pushed": 5,
            "popped": 5,
            "full_events": 0,
            "bytes_pushed": 11,
            "bytes_popped": 11,
            "head": 72,
            "tail": 72,
        }


def test_full_ring_refuses_counts_and_recovers(backend: ModuleType) -> None:
    with created(backend) as ring:
        rec = bytes(range(248))  # 256-byte frames: 16 fill 4096 exactly
        assert ring.push_batch([rec] * 20) == 16
        assert not ring.try_push(b"x")
        assert ring.used_bytes == 4096
        assert ring.fill_ratio == 1.0
        assert ring.stats()["full_events"] == 2
        assert ring.stats()["high_water"] == 4096
        assert ring.pop_batch(max_records=2) == [rec, rec]
        assert ring.push_batch([rec] * 3) == 2
        assert len(ring.pop_batch()) == 16


def test_records_wrap_around_the_end(backend: ModuleType) -> None:
    with created(backend) as ring:
        got = []
        for i in range(500):
            rec = bytes([i % 256]) * (1 + (i * 37) % 700)
            assert ring.try_push(rec)
            got.extend(ring.pop_batch())
            assert got[-1] == rec
        assert ring.stats()["head"] > 20 * ring.capacity


def test_largest_record_fits_an_empty_ring_at_any_head(backend: ModuleType) -> None:
    with created(backend) as ring:
        assert ring.max_record == 4096 // 2 - 8
        big = b"\xab" * ring.max_record
        for step in range(64):
            assert ring.try_push(b"x" * (step * 8)), step
            ring.pop_batch()
            assert ring.try_push(big), step
            assert ring.pop_batch() == [big]
        with pytest.raises(ValueError, match="exceeds the maximum of 2040"):
            ring.try_push(big + b"!")


def test_peek_limits_commit_and_positions(backend: ModuleType) -> None:
    with created(backend, 8192) as ring:
        recs = [bytes([i]) * 100 for i in range(10)]
        assert ring.push_batch(recs) == 10
        assert ring.peek_batch(max_records=3) == recs[:3]
        assert ring.peek_batch(max_bytes=200) == recs[3:5], "max_bytes is inclusive"
        assert ring.peek_batch(max_bytes=1) == recs[5:6], "one record even above max_bytes"
        assert ring.committed_position == 0
        assert ring.read_position == 6 * 112
        assert ring.wait(0) is True
        assert ring.commit() == 6
        assert ring.commit() == 0
        assert ring.committed_position == 6 * 112
        assert ring.pop_batch() == recs[6:]
        assert ring.wait(0) is False
        ring.try_push(b"more")
        assert ring.wait(0, spin=0) is True
        assert ring.stats()["popped"] == 10


def test_uncommitted_records_come_back_to_a_new_handle(backend: ModuleType) -> None:
    with created(backend) as ring:
        ring.push_batch([b"1", b"2", b"3"])
        assert ring.peek_batch() == [b"1", b"2", b"3"]
        with contextlib.closing(backend.Ring.attach(ring.name)) as restarted:
            assert restarted.pop_batch(max_records=1) == [b"1"]
        assert ring.commit() == 3
        assert ring.stats()["used_bytes"] == 0


def test_writer_skips_what_it_already_wrote(backend: ModuleType) -> None:
    """The documented dedup: keep read_position with the output; after a crash
    between writing and committing, skip records up to it."""
    with created(backend) as ring:
        ring.push_batch([b"a", b"b", b"c", b"d"])
        written = ring.peek_batch(max_records=2)
        saved = ring.read_position  # stored with the output, then killed before commit
        with contextlib.closing(backend.Ring.attach(ring.name)) as restarted:
            skipped = 0
            while restarted.read_position < saved:
                skipped += len(restarted.peek_batch(max_records=1))
            assert (written, skipped) == ([b"a", b"b"], 2)
            assert restarted.pop_batch() == [b"c", b"d"]


def test_wait_returns_when_another_process_pushes(backend: ModuleType) -> None:
    with created(backend) as ring:
        code = (
            "import sys, time\n"
            "from binance_streamer import native\n"
            "ring = native.load(sys.argv[1]).Ring.attach(sys.argv[2])\n"
            "time.sleep(0.3)\n"
            "ring.try_push(b'late')\n"
        )
        mode = "native" if backend.__name__.endswith("_native") else "python"
        child = subprocess.Popen([sys.executable, "-c", code, mode, ring.name])
        try:
            assert ring.wait(30.0)
            assert ring.pop_batch() == [b"late"]
        finally:
            child.wait(30)
        assert child.returncode == 0


def test_idle_wait_does_not_burn_a_core(backend: ModuleType) -> None:
    with created(backend) as ring:
        cpu, wall = time.process_time(), time.monotonic()
        assert ring.wait(0.5) is False
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
        assert wall >= 0.5
        assert cpu < 0.25 * wall, f"{cpu:.3f} s CPU in {wall:.3f} s of waiting"


def test_closed_handle_refuses_everything_but_its_identity(backend: ModuleType) -> None:
    with created(backend) as ring:
        other = backend.Ring.attach(ring.name)
        other.close()
        other.close()
        assert other.closed and not ring.closed
        assert (other.name, other.capacity) == (ring.name, 4096)
        assert "closed" in repr(other)
        calls = [
            lambda: other.try_push(b"x"),
            lambda: other.push_batch([b"x"]),
            lambda: other.pop_batch(),
            lambda: other.peek_batch(),
            lambda: other.commit(),
            lambda: other.wait(0),
            lambda: other.stats(),
            lambda: other.used_bytes,
            lambda: other.read_position,
        ]
        for call in calls:
            with pytest.raises(ValueError, match="is closed"):
                call()
        ring.try_push(b"still works")


def test_unlink_is_idempotent_and_mappings_survive_it(backend: ModuleType) -> None:
    ring = backend.Ring.create(new_name(), 4096)
    with contextlib.closing(backend.Ring.attach(ring.name)) as other:
        ring.unlink()
        ring.unlink()
        assert not os.path.exists(os.path.join(shm.shm_dir(), ring.name))
        ring.try_push(b"x")
        assert other.pop_batch() == [b"x"]
        with pytest.raises(FileNotFoundError, match="does not exist"):
            backend.Ring.attach(ring.name)
    ring.close()


def test_context_manager_and_pickle_attach_by_name(backend: ModuleType) -> None:
    with created(backend) as ring:
        ring.try_push(b"x")
        with pickle.loads(pickle.dumps(ring)) as copy:
            assert type(copy) is type(ring)
            assert copy.name == ring.name
            assert copy.pop_batch() == [b"x"]
        assert copy.closed


def test_constructor_is_not_public(backend: ModuleType) -> None:
    with pytest.raises(TypeError):
        backend.Ring()


def test_attach_rejects_files_that_are_not_rings(backend: ModuleType) -> None:
    path = os.path.join(shm.shm_dir(), new_name())
    try:
        for content, why in [(b"\0" * 100, "too small"), (b"\x07" * 8192, "bad magic")]:
            with open(path, "wb") as f:
                f.write(content)
            with pytest.raises(ValueError, match=why):
                backend.Ring.attach(os.path.basename(path))
    finally:
        os.unlink(path)


# -- errors: same class and message in both backends ---------------------------


def error_of(call: Any) -> Tuple[type, str]:
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - the exception is the result
        return type(exc), str(exc)
    raise AssertionError("no exception")


def test_errors_match_between_backends(native_mod: ModuleType, python_mod: ModuleType) -> None:
    def cases(mod: ModuleType, ring: Any) -> List[Any]:
        name = ring.name
        return [
            lambda: mod.Ring.create(name, 4096),  # exists
            lambda: mod.Ring.attach(name + "-missing"),
            lambda: mod.Ring.create(name + "-x", 4097),
            lambda: mod.Ring.create(name + "-x", 1024),
            lambda: mod.Ring.create(name + "-x", -8),
            lambda: mod.Ring.create(name + "-x", (1 << 32) + 8),
            lambda: mod.Ring.create("a/b", 4096),
            lambda: mod.Ring.create("-lead", 4096),
            lambda: ring.try_push("text"),
            lambda: ring.try_push(bytearray(b"x")),
            lambda: ring.push_batch([b"ok", 3]),
            lambda: ring.try_push(b"x" * 2041),
            lambda: ring.push_batch([b"ok", b"x" * 2041]),
            lambda: ring.pop_batch(max_records=0),
            lambda: ring.peek_batch(max_bytes=-1),
        ]

    results = []
    for mod in (native_mod, python_mod):
        with created(mod) as ring:
            errors = [error_of(c) for c in cases(mod, ring)]
            results.append([(cls, msg.replace(ring.name, "<name>")) for cls, msg in errors])
            assert ring.stats()["pushed"] == 0, "a failed batch publishes nothing"
            # Argument conversion errors: same class, wording from the runtime.
            for call in (lambda: ring.peek_batch(max_records=1.5), lambda: ring.wait("soon")):
                assert error_of(call)[0] is TypeError
            assert error_of(lambda: ring.wait(-1))[0] is ValueError
            assert error_of(lambda: ring.wait(0, spin=-1e-6))[0] is ValueError
    assert results[0] == results[1]


# -- parity and interop: one random history, four ways ---------------------------

# Round sizes and limits as well as random ones, so limits are hit exactly.
sizes = st.sampled_from([0, 1, 7, 8, 9, 100, 200, 600]) | st.integers(0, 600)
limits = st.sampled_from([1, 100, 200, 300, 600, 1200]) | st.integers(1, 3000)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("push"), sizes),
        st.tuples(st.just("batch"), st.lists(sizes, max_size=12)),
        st.tuples(st.just("peek"), st.integers(1, 8), limits),
        st.tuples(st.just("pop"), st.integers(1, 8), limits),
        st.tuples(st.just("commit")),
        st.tuples(st.just("restart")),
    ),
    min_size=30,
    max_size=150,
)


def run_history(producer_mod: ModuleType, consumer_mod: ModuleType, history: list) -> list:
    """Replay ``history`` with a producer handle from one backend and a
    consumer handle from the other; returns every observable result."""
    seq = 0
    out: list = []
    with created(producer_mod) as producer:
        consumer = consumer_mod.Ring.attach(producer.name)
        try:
            for op in history:
                if op[0] == "push":
                    out.append(producer.try_push(bytes([seq % 256]) * op[1]))
                    seq += 1
                elif op[0] == "batch":
                    recs = [bytes([(seq + i) % 256]) * n for i, n in enumerate(op[1])]
                    out.append(producer.push_batch(recs))
                    seq += len(recs)
                elif op[0] == "peek":
                    out.append(consumer.peek_batch(op[1], op[2]))
                elif op[0] == "pop":
                    out.append(consumer.pop_batch(op[1], op[2]))
                elif op[0] == "commit":
                    out.append(consumer.commit())
                else:
                    consumer.close()
                    consumer = consumer_mod.Ring.attach(producer.name)
                out.append((consumer.read_position, consumer.committed_position))
            out.append(producer.stats())
            out.append(consumer.stats())
        finally:
            consumer.close()
    return out


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=ops)
def test_parity_and_interop_on_random_histories(
    native_mod: ModuleType, python_mod: ModuleType, history: list
) -> None:
    expected = run_history(native_mod, native_mod, history)
    assert run_history(python_mod, python_mod, history) == expected
    assert run_history(native_mod, python_mod, history) == expected
    assert run_history(python_mod, native_mod, history) == expected


def test_interop_both_directions_with_wrap_and_full(native_mod: ModuleType, python_mod: ModuleType) -> None:
    for producer_mod, consumer_mod in [(native_mod, python_mod), (python_mod, native_mod)]:
        with created(producer_mod, 8192) as producer:
            with contextlib.closing(consumer_mod.Ring.attach(producer.name)) as consumer:
                sent, got, full = [], [], 0
                for i in range(3000):
                    rec = i.to_bytes(4, "little") * (1 + i % 200)
                    if producer.try_push(rec):
                        sent.append(rec)
                    else:
                        full += 1
                        got.extend(consumer.pop_batch(max_records=7))
                got.extend(consumer.pop_batch(max_records=10_000))
                assert got == sent
                assert full > 0 and consumer.stats()["full_events"] == full
                assert producer.stats()["head"] > 20 * 8192


# -- stale segments ---------------------------------------------------------------


def test_cleanup_removes_segments_of_dead_or_reused_pids(
    backend: ModuleType, native_mod: ModuleType, python_mod: ModuleType
) -> None:
    me = os.getpid()
    dead = f"{shm.SEGMENT_PREFIX}{0x7FFFFFFF}-test-{uuid.uuid4().hex[:8]}"
    reused = f"{PREFIX}reused-{uuid.uuid4().hex[:8]}"
    live = f"{PREFIX}live-{uuid.uuid4().hex[:8]}"
    foreign = f"test-{me}-{uuid.uuid4().hex[:8]}"
    made = []
    try:
        for name in (dead, reused, live, foreign):
            backend.Ring.create(name, 4096).close()
            made.append(name)
        if shm.process_start_time(me) is not None:
            # Pretend an earlier process with our pid created it.
            with open(os.path.join(shm.shm_dir(), reused), "r+b") as f:
                with mmap.mmap(f.fileno(), 48) as m:
                    m[40:48] = (1).to_bytes(8, "little")
        else:
            made.remove(reused)
            os.unlink(os.path.join(shm.shm_dir(), reused))
        expect = sorted(n for n in (dead, reused) if n in made)
        # Both backends judge the same way; only the first one finds anything.
        first, second = (native_mod, python_mod)
        if backend is not native_mod:
            first, second = second, first
        removed = first.cleanup_stale_segments()
        assert [n for n in removed if n in made] == expect
        assert [n for n in second.cleanup_stale_segments() if n in made] == []
        remaining = set(os.listdir(shm.shm_dir()))
        assert live in remaining and foreign in remaining
        assert not remaining & set(expect)
    finally:
        for name in made:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(shm.shm_dir(), name))


def test_an_attaching_python_process_does_not_unlink_at_exit(backend: ModuleType) -> None:
    """The multiprocessing.shared_memory trap: its resource tracker unlinks a
    segment when an attaching process exits. Ours must survive."""
    with created(backend) as ring:
        code = (
            "import sys\n"
            "from binance_streamer import native\n"
            "ring = native.load(sys.argv[1]).Ring.attach(sys.argv[2])\n"
            "ring.try_push(b'from child')\n"
        )
        mode = "native" if backend.__name__.endswith("_native") else "python"
        done = subprocess.run([sys.executable, "-c", code, mode, ring.name], capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert b"resource_tracker" not in done.stderr
        assert os.path.exists(os.path.join(shm.shm_dir(), ring.name))
        assert ring.pop_batch() == [b"from child"]


def test_segment_helpers() -> None:
    assert shm.segment_name("w0-writer", pid=42) == "bstream-42-w0-writer"
    assert shm.owner_pid("bstream-42-w0-writer") == 42
    assert shm.owner_pid("bstream-42") is None
    assert shm.owner_pid("other-42-x") is None
    with pytest.raises(ValueError):
        shm.segment_name("bad/role")
    assert shm.ring_capacity_for(1) == shm.MIN_RING_BYTES
    assert shm.ring_capacity_for(10_000) == 5_120_000
    assert shm.ring_capacity_for(10_001) == 5_120_000 + 4096
    assert shm.ring_capacity_for(10**9) == shm.MAX_RING_BYTES
    with pytest.raises(ValueError):
        shm.ring_capacity_for(0)
