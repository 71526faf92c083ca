"""CPU time and peak memory of a process tree, from /proc (Linux only).

The collector is a main process plus spawned children (writer, orderbook
manager, workers, multiprocessing's resource tracker). Their CPU is read from
``/proc/<pid>/stat`` while they are alive, so an exited child's time is not
lost in a parent's ``cutime`` that is only filled in when it is reaped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, List, Optional

CLOCK_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcSample:
    pid: int
    cmdline: str
    user_s: float  # CPU time since the process started, in user mode ...
    sys_s: float  # ... and in the kernel (socket reads, epoll, file writes)
    peak_rss: int  # bytes (VmHWM)

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s


def children_of(pid: int) -> List[int]:
    kids: List[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return kids
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids.extend(int(x) for x in f.read().split())
        except OSError:
            continue
    return kids


def tree(pid: int) -> List[int]:
    """``pid`` and all its descendants that are alive now."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children_of(p))
    return out


def sample(pid: int) -> Optional[ProcSample]:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        with open(f"/proc/{pid}/status") as f:
            status = f.read()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return None
    # The command name is in parentheses and may contain spaces: split after it.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    peak = 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) * 1024
            break
    return ProcSample(pid, cmdline, utime / CLOCK_TICK, stime / CLOCK_TICK, peak)


def sample_tree(pid: int) -> Dict[int, ProcSample]:
    out = {}
    for p in tree(pid):
        s = sample(p)
        if s is not None:
            out[p] = s
    return out


def machine_busy_s() -> float:
    """CPU seconds all processes of the machine have spent busy since boot
    (every CPU; /proc/stat's first line minus idle and iowait)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    # guest time is already counted in user time
    return (sum(fields[:8]) - idle) / CLOCK_TICK
