"""Where ring segments live, what they are called, how big they are, and how
to tell a leftover of a killed run from a live segment.

These rules are shared by both ring backends (``rust/src/ring.rs`` implements
the same ones) and by the process manager, which names the rings and cleans up
after a run that was killed (``Ring`` cleanup: ``cleanup_stale_segments``).
"""

from __future__ import annotations

import os
import re
from typing import Optional

#: Every segment this project creates is named ``bstream-<owner pid>-<role>``.
SEGMENT_PREFIX = "bstream-"
#: Overrides the directory segments live in (default ``/dev/shm``).
SHM_DIR_ENV = "BINANCE_STREAMER_SHM_DIR"

#: Bytes of ring reserved per ``performance.queue_maxsize`` slot: about twice
#: a typical record (a ~260-byte frame + 16-byte header + 8-byte prefix), so a
#: burst of larger depth frames still fits ``queue_maxsize`` records.
RING_BYTES_PER_RECORD = 512
#: Floor: the largest record a ring takes is half its capacity, and a
#: 1000-level REST snapshot is ~40-60 KB; 1 MiB leaves a wide margin.
MIN_RING_BYTES = 1 << 20
#: Cap per ring, so a mistyped queue_maxsize cannot claim all of /dev/shm.
MAX_RING_BYTES = 256 << 20

_ROLE = re.compile(r"[A-Za-z0-9._-]{1,150}")


def shm_dir() -> str:
    """``$BINANCE_STREAMER_SHM_DIR``, else ``/dev/shm``, else ``/tmp``.

    Without /dev/shm (macOS) a file in /tmp is still shared memory through
    the page cache, only backed by disk.
    """
    configured = os.environ.get(SHM_DIR_ENV)
    if configured:
        return configured
    if os.path.isdir("/dev/shm"):
        return "/dev/shm"
    return "/tmp"


def segment_name(role: str, pid: Optional[int] = None) -> str:
    """The segment name for ``role`` owned by ``pid`` (default: this process).

    The owner pid in the name lets the next run find what a killed run left.
    """
    if not _ROLE.fullmatch(role):
        raise ValueError(f"segment role must be 1-150 characters of [A-Za-z0-9._-], got {role!r}")
    return f"{SEGMENT_PREFIX}{os.getpid() if pid is None else pid}-{role}"


def ring_capacity_for(queue_maxsize: int) -> int:
    """Ring capacity in bytes for ``performance.queue_maxsize`` records.

    ``queue_maxsize * RING_BYTES_PER_RECORD``, rounded up to a whole page and
    kept within [MIN_RING_BYTES, MAX_RING_BYTES].
    """
    if isinstance(queue_maxsize, bool) or not isinstance(queue_maxsize, int) or queue_maxsize < 1:
        raise ValueError(f"queue_maxsize must be a positive integer, got {queue_maxsize!r}")
    wanted = -(-queue_maxsize * RING_BYTES_PER_RECORD // 4096) * 4096
    return min(max(wanted, MIN_RING_BYTES), MAX_RING_BYTES)


def owner_pid(name: str) -> Optional[int]:
    """The pid in ``bstream-<pid>-...``, or None for any other name."""
    if not name.startswith(SEGMENT_PREFIX):
        return None
    digits, sep, _ = name[len(SEGMENT_PREFIX) :].partition("-")
    if not sep or not digits or not (digits.isascii() and digits.isdigit()):
        return None
    pid = int(digits)
    return pid if pid <= 0xFFFFFFFF else None


def pid_alive(pid: int) -> bool:
    if pid <= 0 or pid > 0x7FFFFFFF:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    return True


def process_start_time(pid: int) -> Optional[int]:
    """Start time of ``pid`` in clock ticks since boot (``/proc/<pid>/stat``
    field 22), which tells a dead owner from a reused pid; None if unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain spaces.
    fields = stat[stat.rfind(b")") + 1 :].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None
