"""Pure-Python twin of the native SPSC ring: same byte layout, same API, so a
native producer and a Python consumer (or the reverse) share one segment.

Layout and crash semantics: ``docs/ring.md`` and ``rust/src/ring.rs``.

Two details make this safe across processes:

* Every 8-byte word that another process reads (head, tail, frame prefixes)
  is written through ``memoryview.cast("Q")``: CPython stores one aligned
  8-byte item with one machine store, so no reader sees half of it.
  ``struct.pack_into`` is not used for them.
* The segment is opened with ``os.open`` + ``mmap`` rather than
  ``multiprocessing.shared_memory``: on Python 3.9-3.12 every process that
  attaches a ``SharedMemory`` registers it with its resource tracker, which
  unlinks it (and warns) when that process exits, taking the ring away from
  the others.

Publication order relies on the CPU keeping stores in order (x86-64 does);
on weakly ordered CPUs (aarch64) the native backend has the barriers this
module cannot express, and creating or attaching logs a warning.
"""

from __future__ import annotations

import errno
import logging
import mmap
import numbers
import operator
import os
import platform
import re
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from .. import shm

__all__ = ["Ring", "cleanup_stale_segments"]

_log = logging.getLogger(__name__)

MAGIC = int.from_bytes(b"BSRING01", "little")
LAYOUT_VERSION = 1
MIN_CAPACITY = 4096
MAX_CAPACITY = 1 << 32
MAX_NAME_LEN = 200
DEFAULT_MAX_RECORDS = 4096
DEFAULT_MAX_BYTES = 1 << 22

# 8-byte word indices into the segment (byte offset / 8), as in rust/src/ring.rs.
_W_MAGIC, _W_VERSION, _W_CAPACITY, _W_DATA, _W_CREATOR_PID, _W_CREATOR_START = range(6)
_W_HEAD = 16  # byte 128
_W_PUSHED, _W_BYTES_PUSHED, _W_FULL_EVENTS, _W_HIGH_WATER = 32, 33, 34, 35  # byte 256
_W_TAIL = 48  # byte 384
_W_POPPED, _W_BYTES_POPPED = 64, 65  # byte 512
DATA_OFFSET = 640
_W_DATA0 = DATA_OFFSET // 8
_PREFIX = 8
_WRAP_LEN = 0xFFFFFFFF
_LOW32 = 0xFFFFFFFF

DEFAULT_SPIN = 50e-6
_FIRST_SLEEP = 50e-6
_MAX_SLEEP = 1e-3

_NAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_NAME_LEN - 1}}}")
_STRONGLY_ORDERED = {"x86_64", "amd64", "i386", "i686", "x86"}
_warned_ordering = False


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"ring name must be 1-{MAX_NAME_LEN} characters of [A-Za-z0-9._-] "
            f'starting with a letter or digit, got "{name}"'
        )


def _capacity_error(got: object) -> ValueError:
    return ValueError(
        f"capacity_bytes must be a multiple of 8 between {MIN_CAPACITY} and {MAX_CAPACITY}, got {got}"
    )


def _positive(value: int, what: str) -> int:
    value = operator.index(value)
    if value < 1:
        raise ValueError(f"{what} must be at least 1, got {value}")
    return value


def _seconds(value: float, what: str) -> float:
    if not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a number of seconds, not {type(value).__name__}")
    value = float(value)
    if not value >= 0:
        raise ValueError(f"{what} must be a non-negative number of seconds, got {value}")
    return value


def _os_error(path: str, exc: OSError) -> OSError:
    """The same one-line errors, of the same classes, as the native backend."""
    if isinstance(exc, FileExistsError):
        return FileExistsError(f"ring segment {path} already exists")
    if isinstance(exc, FileNotFoundError):
        return FileNotFoundError(f"ring segment {path} does not exist")
    detail = f"{exc.strerror} (os error {exc.errno})"
    cls = PermissionError if isinstance(exc, PermissionError) else OSError
    return cls(f"ring segment {path}: {detail}")


def _warn_if_weakly_ordered() -> None:
    global _warned_ordering
    if not _warned_ordering and platform.machine().lower() not in _STRONGLY_ORDERED:
        _warned_ordering = True
        _log.warning(
            "the pure-Python ring relies on x86 store ordering; on %s use the native backend",
            platform.machine(),
        )


def _reserve(fd: int, size: int) -> None:
    """Claim the pages now so a full /dev/shm fails here, not as SIGBUS later."""
    fallocate = getattr(os, "posix_fallocate", None)
    if fallocate is None:
        return
    try:
        fallocate(fd, 0, size)
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
            raise


class Ring:
    """A single-producer single-consumer ring of byte records in shared memory.

    Created by the process manager (``Ring.create``), attached by name from
    the producer and the consumer (``Ring.attach``). One handle may push, pop
    and read statistics; the segment has one producer and one consumer at a
    time by convention, not by a lock.
    """

    __slots__ = (
        "_name",
        "_path",
        "_capacity",
        "_max_record",
        "_mm",
        "_buf",
        "_q",
        "_cached_tail",
        "_cursor",
        "_pending",
        "_pending_records",
        "_pending_bytes",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(
            "cannot create 'Ring' instances; use Ring.create(name, capacity_bytes) or Ring.attach(name)"
        )

    # -- lifecycle ------------------------------------------------------------

    @classmethod
    def create(cls, name: str, capacity_bytes: int) -> Ring:
        """Create the segment ``name`` with ``capacity_bytes`` of data space."""
        _check_name(name)
        capacity = operator.index(capacity_bytes)
        if not MIN_CAPACITY <= capacity <= MAX_CAPACITY or capacity % 8:
            raise _capacity_error(capacity)
        path = os.path.join(shm.shm_dir(), name)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise _os_error(path, exc) from None
        size = DATA_OFFSET + capacity
        try:
            os.ftruncate(fd, size)
            _reserve(fd, size)
            mm = mmap.mmap(fd, size)
        except OSError as exc:
            os.unlink(path)
            raise _os_error(path, exc) from None
        finally:
            os.close(fd)
        ring = cls._wrap(name, path, capacity, mm)
        q = ring._q
        q[_W_VERSION] = LAYOUT_VERSION
        q[_W_CAPACITY] = capacity
        q[_W_DATA] = DATA_OFFSET
        pid = os.getpid()
        q[_W_CREATOR_PID] = pid
        q[_W_CREATOR_START] = shm.process_start_time(pid) or 0
        q[_W_MAGIC] = MAGIC  # last: an attacher that sees it sees the rest
        return ring

    @classmethod
    def attach(cls, name: str) -> Ring:
        """Attach to the existing segment ``name``."""
        _check_name(name)
        path = os.path.join(shm.shm_dir(), name)
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError as exc:
            raise _os_error(path, exc) from None
        try:
            size = os.fstat(fd).st_size
            if size < DATA_OFFSET + MIN_CAPACITY:
                raise ValueError(f"{path} is not a binance_streamer ring (too small)")
            mm = mmap.mmap(fd, size)
        except OSError as exc:
            raise _os_error(path, exc) from None
        finally:
            os.close(fd)
        with memoryview(mm) as raw, raw.cast("Q") as q:
            magic, version, capacity, data = q[_W_MAGIC], q[_W_VERSION], q[_W_CAPACITY], q[_W_DATA]
        why = None
        if magic != MAGIC:
            why = "bad magic, or still being created"
        elif version != LAYOUT_VERSION:
            why = f"layout version {version}, this build reads {LAYOUT_VERSION}"
        elif (
            data != DATA_OFFSET
            or not MIN_CAPACITY <= capacity <= MAX_CAPACITY
            or capacity % 8
            or DATA_OFFSET + capacity != size
        ):
            why = "inconsistent header"
        if why is not None:
            mm.close()
            raise ValueError(f"{path} is not a binance_streamer ring ({why})")
        return cls._wrap(name, path, capacity, mm)

    @classmethod
    def _wrap(cls, name: str, path: str, capacity: int, mm: mmap.mmap) -> Ring:
        _warn_if_weakly_ordered()
        ring = cls.__new__(cls)
        ring._name = name
        ring._path = path
        ring._capacity = capacity
        ring._max_record = capacity // 2 - _PREFIX
        ring._mm = mm
        ring._buf = memoryview(mm)
        ring._q = ring._buf.cast("Q")
        tail = ring._q[_W_TAIL]
        ring._cached_tail = tail
        ring._cursor = tail
        ring._pending = False
        ring._pending_records = 0
        ring._pending_bytes = 0
        return ring

    @property
    def name(self) -> str:
        return self._name

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def max_record(self) -> int:
        """The largest record accepted: half the capacity less the prefix, so
        an empty ring takes it wherever the head stands."""
        return self._max_record

    @property
    def closed(self) -> bool:
        return self._q is None

    def close(self) -> None:
        """Unmap the segment (idempotent); the segment itself stays."""
        if self._q is None:
            return
        self._q.release()
        self._buf.release()
        self._mm.close()
        self._q = self._buf = self._mm = None
        self._pending = False

    def unlink(self) -> None:
        """Remove the segment's name (idempotent); attached handles keep working."""
        try:
            os.unlink(self._path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise _os_error(self._path, exc) from None

    def _words(self) -> memoryview:
        q = self._q
        if q is None:
            raise ValueError(f"ring '{self._name}' is closed")
        return q

    # -- producer -------------------------------------------------------------

    def _place(self, q: memoryview, head: int, record: bytes) -> int:
        """Write ``record`` after ``head`` (unpublished); the new head, or -1
        when it does not fit."""
        if not isinstance(record, bytes):
            raise TypeError(f"record must be bytes, not {type(record).__name__}")
        n = len(record)
        if n > self._max_record:
            raise ValueError(
                f"record of {n} bytes exceeds the maximum of {self._max_record} "
                f"for ring '{self._name}' (capacity / 2 - 8)"
            )
        cap = self._capacity
        frame = _PREFIX + ((n + 7) & -8)
        off = head % cap
        room = cap - off
        pos = head + room if frame > room else head
        end = pos + frame
        if end - self._cached_tail > cap:
            self._cached_tail = q[_W_TAIL]
            if end - self._cached_tail > cap:
                return -1
        if pos != head:
            q[_W_DATA0 + (off >> 3)] = _WRAP_LEN | (((head >> 3) & _LOW32) << 32)
            off = 0
        start = DATA_OFFSET + off + _PREFIX
        self._buf[start : start + n] = record
        q[_W_DATA0 + (off >> 3)] = n | (((pos >> 3) & _LOW32) << 32)
        return end

    def _publish(self, q: memoryview, head: int, records: int, nbytes: int) -> None:
        q[_W_HEAD] = head  # the release point: everything above is now visible
        q[_W_PUSHED] += records
        q[_W_BYTES_PUSHED] += nbytes
        mark = q[_W_HIGH_WATER]
        if head - self._cached_tail > mark:
            # Exact mark: re-read the tail only when the stale view says it may rise.
            self._cached_tail = q[_W_TAIL]
            used = head - self._cached_tail
            if used > mark:
                q[_W_HIGH_WATER] = used

    def try_push(self, record: bytes) -> bool:
        """Push one record; False (and a full event counted) if it does not fit."""
        if not isinstance(record, bytes):
            raise TypeError(f"record must be bytes, not {type(record).__name__}")
        q = self._words()
        end = self._place(q, q[_W_HEAD], record)
        if end < 0:
            q[_W_FULL_EVENTS] += 1
            return False
        self._publish(q, end, 1, len(record))
        return True

    def push_batch(self, records: Sequence[bytes]) -> int:
        """Push records in order until one does not fit; they become visible
        together. Returns how many were pushed. An invalid record raises and
        nothing of the batch is published."""
        q = self._words()
        head = q[_W_HEAD]
        count = nbytes = 0
        full = False
        for record in records:
            end = self._place(q, head, record)
            if end < 0:
                full = True
                break
            head = end
            count += 1
            nbytes += len(record)
        if count:
            self._publish(q, head, count, nbytes)
        if full:
            q[_W_FULL_EVENTS] += 1
        return count

    # -- consumer -------------------------------------------------------------

    @property
    def read_position(self) -> int:
        """Stream position the next peek starts at (after uncommitted peeks)."""
        q = self._words()
        return self._cursor if self._pending else q[_W_TAIL]

    @property
    def committed_position(self) -> int:
        """Stream position up to which the consumer has committed; a
        restarted consumer resumes here."""
        return self._words()[_W_TAIL]

    def peek_batch(
        self, max_records: int = DEFAULT_MAX_RECORDS, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> List[bytes]:
        """Up to ``max_records`` records after the read position, stopping
        before ``max_bytes`` payload bytes would be exceeded (but at least one
        record). Their space is freed only by ``commit()``."""
        max_records = _positive(max_records, "max_records")
        max_bytes = _positive(max_bytes, "max_bytes")
        q = self._words()
        cursor = self._cursor if self._pending else q[_W_TAIL]
        head = q[_W_HEAD]
        cap = self._capacity
        mm = self._mm
        out: List[bytes] = []
        append = out.append
        count = nbytes = 0
        while cursor != head and count < max_records:
            off = cursor % cap
            word = q[_W_DATA0 + (off >> 3)]
            n = word & _LOW32
            if word >> 32 != (cursor >> 3) & _LOW32 or (n > self._max_record and n != _WRAP_LEN):
                raise RuntimeError(
                    f"ring '{self._name}' is corrupt at position {cursor} (prefix {word:#018x}); "
                    "was it written by two producers?"
                )
            if n == _WRAP_LEN:
                cursor += cap - off
                continue
            if count and nbytes + n > max_bytes:
                break
            start = DATA_OFFSET + off + _PREFIX
            append(mm[start : start + n])
            count += 1
            nbytes += n
            cursor += _PREFIX + ((n + 7) & -8)
        if count:
            self._cursor = cursor
            self._pending = True
            self._pending_records += count
            self._pending_bytes += nbytes
        return out

    def commit(self) -> int:
        """Free the space of every record peeked so far; returns how many."""
        q = self._words()
        if not self._pending:
            return 0
        q[_W_TAIL] = self._cursor
        q[_W_POPPED] += self._pending_records
        q[_W_BYTES_POPPED] += self._pending_bytes
        committed = self._pending_records
        self._pending = False
        self._pending_records = self._pending_bytes = 0
        return committed

    def pop_batch(
        self, max_records: int = DEFAULT_MAX_RECORDS, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> List[bytes]:
        """``peek_batch`` then ``commit`` (which also commits earlier peeks)."""
        records = self.peek_batch(max_records, max_bytes)
        self.commit()
        return records

    def wait(self, timeout: float, spin: float = DEFAULT_SPIN) -> bool:
        """Wait up to ``timeout`` seconds for a record after the read position:
        busy-poll for ``spin`` seconds, then sleep in pauses growing to 1 ms,
        so an idle consumer costs almost no CPU. True if one is available.

        A latency-critical consumer with a core to spare raises ``spin``."""
        timeout = _seconds(timeout, "timeout")
        spin = _seconds(spin, "spin")
        q = self._words()
        start = self._cursor if self._pending else q[_W_TAIL]
        if q[_W_HEAD] != start:
            return True
        now = time.monotonic()
        deadline = now + timeout
        spin_until = now + min(spin, timeout)
        while time.monotonic() < spin_until:
            if q[_W_HEAD] != start:
                return True
        pause = _FIRST_SLEEP
        while True:
            if q[_W_HEAD] != start:
                return True
            now = time.monotonic()
            if now >= deadline:
                return False
            time.sleep(min(pause, deadline - now))
            pause = min(pause * 2, _MAX_SLEEP)

    # -- monitoring -----------------------------------------------------------

    def _positions(self) -> Tuple[int, int]:
        q = self._words()
        tail = q[_W_TAIL]  # tail first: the later head read is >= it
        return tail, q[_W_HEAD]

    @property
    def used_bytes(self) -> int:
        tail, head = self._positions()
        return head - tail

    @property
    def fill_ratio(self) -> float:
        return self.used_bytes / self._capacity

    def stats(self) -> Dict[str, Union[int, float]]:
        """Fill level and counters, as any attached process sees them."""
        tail, head = self._positions()
        q = self._q
        used = head - tail
        return {
            "capacity": self._capacity,
            "used_bytes": used,
            "fill_ratio": used / self._capacity,
            "high_water": q[_W_HIGH_WATER],
            "pushed": q[_W_PUSHED],
            "popped": q[_W_POPPED],
            "full_events": q[_W_FULL_EVENTS],
            "bytes_pushed": q[_W_BYTES_PUSHED],
            "bytes_popped": q[_W_BYTES_POPPED],
            "head": head,
            "tail": tail,
        }

    # -- protocol -------------------------------------------------------------

    def __enter__(self) -> Ring:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> bool:
        self.close()
        return False

    def __reduce__(self) -> Tuple[Any, Tuple[str]]:
        """Pickles as "attach by name", so a ring can be handed to a child process."""
        return (type(self).attach, (self._name,))

    def __repr__(self) -> str:
        closed = ", closed" if self._q is None else ""
        return f"Ring(name='{self._name}', capacity={self._capacity}{closed})"


def _read_creator(path: str) -> Optional[Tuple[int, int]]:
    try:
        with open(path, "rb") as f:
            meta = f.read(48)
    except OSError:
        return None
    if len(meta) < 48 or int.from_bytes(meta[0:8], "little") != MAGIC:
        return None
    return int.from_bytes(meta[32:40], "little"), int.from_bytes(meta[40:48], "little")


def _is_stale(directory: str, name: str) -> bool:
    pid = shm.owner_pid(name)
    if pid is None:
        return False
    if not shm.pid_alive(pid):
        return True
    creator = _read_creator(os.path.join(directory, name))
    if creator is None or creator[0] != pid or creator[1] == 0:
        return False
    started = shm.process_start_time(pid)
    return started is not None and started != creator[1]


def cleanup_stale_segments() -> List[str]:
    """Remove the segments left by runs that were killed (owner pid dead, or
    reused by a process started later); returns their names, sorted."""
    directory = shm.shm_dir()
    try:
        names = os.listdir(directory)
    except OSError as exc:
        raise _os_error(directory, exc) from None
    removed = []
    for name in names:
        if _is_stale(directory, name):
            path = os.path.join(directory, name)
            try:
                os.unlink(path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise _os_error(path, exc) from None
            removed.append(name)
    return sorted(removed)
