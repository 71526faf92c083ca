"""Where the collector's CPU goes, per process, from py-spy and /proc.

Method: during the measurement window ``py-spy record --gil --subprocesses``
samples the collector's processes at 100 Hz. ``--gil`` keeps only samples of
the thread holding the GIL, i.e. Python (and native code called with the GIL
held) actually running; time in the kernel and in blocking calls (epoll,
socket reads, sleeps) is not sampled. That kernel share comes from
``/proc/<pid>/stat`` instead (stime), and the user time (utime) is split over
categories in proportion to the samples. Each sample is put in a category by
its innermost frame: websockets or asyncio code if that is where it is, or
else the nearest frame of this package (stdlib helpers such as json or
pathlib count for the package code that called them).
"""

from __future__ import annotations

import collections
import re
import shutil
import subprocess
from pathlib import Path
from typing import Counter, Dict, List, Optional, Tuple

KERNEL = "kernel (socket reads, epoll, file writes)"
CATEGORIES = (
    ("websockets", "websockets library (frame parsing, message queue)"),
    ("aiohttp", "aiohttp library"),
    ("asyncio", "asyncio (event loop, transports, tasks, wait_for)"),
    ("receive", "collector per-frame code (stamp, route, ring push, depth check)"),
    ("writer", "writer (batch encode, files, journal)"),
    ("book", "orderbook manager (apply, board, top-N)"),
    ("status", "stats and status files"),
    ("package", "other package code"),
    ("other", "other (interpreter start-up, stdlib)"),
)
LABELS = dict(CATEGORIES)
_PACKAGE = re.compile(r"binance_streamer/(?:collector/)?(\w+)\.py")
_MODULE_CATEGORY = {
    "connection": "receive",
    "worker": "receive",
    "frames": "receive",
    "outbox": "receive",
    "depth_sync": "receive",
    "records": "receive",
    "writer": "writer",
    "files": "writer",
    "journal": "writer",
    "book_manager": "book",
    "bbo": "book",
    "stats": "status",
    "runtime": "status",
    "manager": "status",
}
_PROCESS = re.compile(r"^process (\d+):")
_LINE = re.compile(r":\d+\)$")


def categorize(frames: List[str]) -> str:
    """Category of one sample, given its frames outermost first."""
    leaf = frames[-1] if frames else ""
    if "/websockets/" in leaf or leaf.startswith("websockets/") or "(websockets/" in leaf:
        return "websockets"
    if "(aiohttp/" in leaf or "/aiohttp/" in leaf:
        return "aiohttp"
    if "(asyncio/" in leaf or "/asyncio/" in leaf or "(selectors.py" in leaf:
        return "asyncio"
    for frame in reversed(frames):
        m = _PACKAGE.search(frame)
        if m:
            return _MODULE_CATEGORY.get(m.group(1), "package")
    return "other"


def read_raw(path: Path) -> Tuple[Dict[int, Counter[str]], Dict[int, Counter[str]]]:
    """py-spy ``--format raw`` output -> per pid, samples per category and per
    innermost frame (function and file, without the line)."""
    cats: Dict[int, Counter[str]] = collections.defaultdict(collections.Counter)
    leaves: Dict[int, Counter[str]] = collections.defaultdict(collections.Counter)
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        pids = [int(m.group(1)) for f in frames for m in [_PROCESS.match(f)] if m]
        code = [f for f in frames if not _PROCESS.match(f)]
        if pids:
            cats[pids[-1]][categorize(code)] += int(count)
            if code:
                leaves[pids[-1]][_LINE.sub(")", code[-1])] += int(count)
    return cats, leaves


def top_frames(
    leaves: Dict[int, Counter[str]], roles: Dict[int, str], n: int = 12
) -> Dict[str, List[Tuple[str, float]]]:
    """The ``n`` innermost frames with the most samples, per role, as shares of its samples."""
    by_role: Dict[str, Counter[str]] = collections.defaultdict(collections.Counter)
    for pid, counts in leaves.items():
        by_role[roles.get(pid, str(pid))].update(counts)
    out = {}
    for role, counts in by_role.items():
        total = sum(counts.values())
        out[role] = [(frame, round(c / total, 3)) for frame, c in counts.most_common(n)]
    return out


def start_py_spy(pid: int, seconds: float, out: Path) -> Optional[subprocess.Popen[bytes]]:
    """Sample ``pid`` and its children for ``seconds``; None if py-spy is missing."""
    exe = shutil.which("py-spy")
    if exe is None:
        return None
    cmd = [exe, "record", "--pid", str(pid), "--subprocesses", "--gil", "--rate", "100"]
    cmd += ["--duration", str(max(1, int(seconds))), "--format", "raw", "--output", str(out)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def breakdown(
    samples: Dict[int, Counter[str]],
    roles: Dict[int, str],
    cpu: Dict[str, Tuple[float, float]],
) -> Dict[str, Dict[str, float]]:
    """CPU seconds per role and category: kernel time from /proc, user time
    split by the samples. ``cpu`` is role -> (user_s, sys_s) over the window."""
    by_role: Dict[str, Counter[str]] = collections.defaultdict(collections.Counter)
    for pid, counts in samples.items():
        by_role[roles.get(pid, str(pid))].update(counts)
    table: Dict[str, Dict[str, float]] = {}
    for role, (user_s, sys_s) in cpu.items():
        counts = by_role.get(role, collections.Counter())
        total = sum(counts.values())
        row = {KERNEL: sys_s}
        for key, label in CATEGORIES:
            row[label] = user_s * counts[key] / total if total else 0.0
        if not total:
            row[LABELS["other"]] = user_s
        table[role] = row
    return table


def format_breakdown(table: Dict[str, Dict[str, float]], messages: int) -> List[str]:
    """Markdown rows: µs per message for each role and category."""
    labels = [KERNEL] + [label for _, label in CATEGORIES]
    roles = sorted(table, key=lambda r: (not r.startswith("worker"), r))
    used = [lb for lb in labels if any(table[r].get(lb, 0.0) > 0 for r in roles)]
    lines = ["| µs per message | " + " | ".join(roles) + " | all |", "|---" * (len(roles) + 2) + "|"]
    for lb in used:
        cells = [table[r].get(lb, 0.0) / messages * 1e6 for r in roles]
        lines.append(f"| {lb} | " + " | ".join(f"{c:.1f}" for c in cells) + f" | {sum(cells):.1f} |")
    totals = [sum(table[r].values()) / messages * 1e6 for r in roles]
    lines.append("| **total** | " + " | ".join(f"{c:.1f}" for c in totals) + f" | {sum(totals):.1f} |")
    return lines
