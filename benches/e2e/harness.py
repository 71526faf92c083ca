"""One end-to-end measurement: the collector against the simulator at one rate.

Sequence (``run_once``):

1. The simulator starts in its own process (``simproc.py``) with S symbols at
   ``rate`` market ticks per second per symbol.
2. The collector starts as a real ``python -m binance_streamer`` (through
   ``collector_entry.py``, which only adds the latency probe) with
   aggTrade + depth@100ms + kline_1m per symbol and ``keep_all_klines`` on, so
   every frame the simulator sends becomes rows in a file.
3. Once every planned connection is open and delivering, and after a warm-up,
   the window opens: CPU of the collector's process tree and the simulator's
   per-connection counters are read.
4. After ``duration`` seconds the simulator stops sending (its stall fault), so
   the number of frames it wrote to the sockets is final, and the window closes.
5. The collector drains: the run waits until its workers have received every
   frame sent and the writer's rings are empty, then reads CPU and peak RSS
   again, stops the collector with SIGTERM, and counts the frames in the files.

Zero loss means: frames written to files == frames received by the workers ==
frames the simulator sent, per route, with no gap row and no reconnect.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Dict, List, Optional, Tuple

import numpy as np
import yaml

from binance_streamer import config as config_mod
from binance_streamer import runtime
from binance_streamer.collector import stats as stats_mod
from binance_streamer.collector.plan import make_plan

from . import procstat, simproc
from . import pyspy_profile as profile_mod
from .collector_entry import LATENCY_ENV

HERE = Path(__file__).resolve().parent
STREAMS = ("aggTrade", "depth@100ms", "kline_1m")
STATUS_INTERVAL = 0.25
CONNECT_TIMEOUT = 60.0
DRAIN_TIMEOUT = 60.0
STOP_TIMEOUT = 90.0
#: A run "kept up" when, after the simulator stopped sending, the collector had
#: written everything within this many seconds beyond its flush interval.
DRAIN_SLACK = 1.5
#: ... and the simulator had no more than this share of the window's frames
#: still queued for the collector's sockets (TCP back-pressure from a slow reader).
QUEUED_SHARE = 0.01
LATENCY_TAIL = 0.5


@dataclass(frozen=True)
class RunSpec:
    backend: str  # "native" or "python"
    symbols: int
    rate: float  # market ticks per second per symbol
    duration: float = 10.0
    warmup: float = 3.0
    workers: int = 2
    batch_size: int = 1000  # the collector's defaults
    flush_interval: float = 1.0


@dataclass
class RunResult:
    spec: RunSpec
    passed: bool = False
    why: str = ""  # the first criterion that failed
    window_s: float = 0.0
    window_frames: int = 0
    delivered_per_s: float = 0.0  # frames/s the simulator wrote to the collector's sockets
    sent: int = 0  # whole run, every route
    received: int = 0  # by the workers (their stats)
    written: int = 0  # frames found in the files
    lost_by_route: Dict[str, int] = field(default_factory=dict)
    gaps: Dict[str, int] = field(default_factory=dict)  # gap rows by (stream, reason)
    reconnects: int = 0
    queued_at_stop: int = 0
    sim_lag_ticks: int = 0
    drain_s: float = math.nan
    cpu_s: float = 0.0  # collector processes, window + drain
    cpu_by_role: Dict[str, float] = field(default_factory=dict)
    sys_by_role: Dict[str, float] = field(default_factory=dict)  # of which in the kernel
    cpu_per_10k: float = math.nan
    sim_cpu_s: float = 0.0
    other_load: float = 0.0  # cores busy with neither the collector nor the simulator
    peak_rss: Dict[str, int] = field(default_factory=dict)
    latency_ms: Dict[str, float] = field(default_factory=dict)  # p50, p99, max; receive -> file
    latency_samples: int = 0
    warnings: List[str] = field(default_factory=list)  # the collector log's first WARNING/ERROR lines
    profile: Dict[str, Dict[str, float]] = field(default_factory=dict)  # role -> category -> CPU s
    profile_top: Dict[str, List[Tuple[str, float]]] = field(default_factory=dict)  # role -> (frame, share)

    def as_dict(self) -> Dict[str, Any]:
        d = asdict(self)
        d["spec"] = asdict(self.spec)
        return d


class SimProcess:
    """The simulator process and its line protocol (see simproc.py)."""

    def __init__(self, symbols: int, rate: float, log: IO[str]):
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "simproc.py"), "--symbols", str(symbols), "--rate", str(rate)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=_env(),
        )
        hello = self._read()
        self.ws, self.rest, self.pid = hello["ws"], hello["rest"], hello["pid"]

    def _read(self) -> Dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the simulator exited (code {self.proc.wait()}); see its log")
        return json.loads(line)

    def ask(self, cmd: str) -> Dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


def _env() -> Dict[str, str]:
    env = dict(os.environ)
    env.pop("BINANCE_STREAMER_BACKEND", None)  # --backend says which one
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE.parent), env.get("PYTHONPATH")) if p)
    return env


def write_config(work: Path, spec: RunSpec, ws: str, rest: str) -> Path:
    names = simproc.symbol_names(spec.symbols)
    cfg = {
        "mode": "bench",
        "modes": {
            "bench": {
                "run_duration": 0,
                "max_workers": spec.workers,
                "symbols": [{"symbol": s, "streams": list(STREAMS)} for s in names],
            }
        },
        "performance": {"batch_size": spec.batch_size, "flush_interval": spec.flush_interval},
        # Every kline update becomes a row, so every frame sent has a row to find.
        "storage": {"output_directory": str(work / "data"), "keep_all_klines": True},
        "network": {"ws_base_url": ws, "rest_base_url": rest},
        "logging": {"file": str(work / "collector.log"), "level": "INFO"},
        "monitoring": {"status_interval": STATUS_INTERVAL},
    }
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _sent_by_route(counts: Dict[str, Any]) -> Dict[str, int]:
    out: Dict[str, int] = {}
    for c in counts["connections"]:
        out[c["route"]] = out.get(c["route"], 0) + c["sent"]
    return out


def _open_delivering(counts: Dict[str, Any]) -> int:
    return sum(1 for c in counts["connections"] if not c["closed"] and c["sent"] > 0)


def count_written(data: Path) -> Tuple[Dict[str, int], Dict[str, int]]:
    """Frames found in the files per route, and gap rows per "stream reason".
    A depth frame is one row per level (or one empty row), so depth frames are
    counted as distinct update ids. The "start" rows every run writes (where its
    coverage begins) are not losses and are not counted."""
    by_route = {"public": 0, "market": 0}
    gaps: Dict[str, int] = {}
    for sym_dir in data.iterdir():
        if not sym_dir.is_dir() or sym_dir.name.startswith("."):
            continue
        for f in sym_dir.iterdir():
            name = f.name
            raw = f.read_bytes()
            if name.startswith(("aggtrade_", "kline_")):
                by_route["market"] += raw.count(b"\n") - 1
            elif name.startswith("depth_"):
                ids = {line.split(b",", 6)[5] for line in raw.split(b"\n")[1:] if line}
                by_route["public"] += len(ids)
            elif name.startswith("gaps_"):
                for row in csv.DictReader(io.StringIO(raw.decode())):
                    if row["reason"] == "start":
                        continue
                    key = f"{row['stream']} {row['reason']}"
                    gaps[key] = gaps.get(key, 0) + 1
    return by_route, gaps


def _received(stats: Dict[str, Dict[str, Any]]) -> int:
    total = 0
    for role, st in stats.items():
        if role.startswith("worker"):
            for sym in st.get("symbols", {}).values():
                total += sum(s.get("messages", 0) for s in sym.get("streams", {}).values())
    return total


def _rings_empty(writer: Dict[str, Any]) -> bool:
    rings = writer.get("rings")
    return bool(rings) and all(r.get("fill", 1.0) == 0 for r in rings.values())


def _roles(
    main_pid: int, stats: Dict[str, Dict[str, Any]], procs: Dict[int, procstat.ProcSample]
) -> Dict[int, str]:
    """pid -> role: the children name themselves in their stats files."""
    roles = {main_pid: "main"}
    for role, st in stats.items():
        if "pid" in st:
            roles[int(st["pid"])] = role
    for pid, proc in procs.items():
        if pid not in roles:
            roles[pid] = "resource_tracker" if "resource_tracker" in proc.cmdline else str(pid)
    return roles


def latency_ms(lat_dir: Path, lo_us: int, hi_us: int) -> Tuple[Dict[str, float], int]:
    """Receive-to-file latency percentiles of the frames received in [lo, hi]."""
    parts = [np.fromfile(p, dtype=np.int64).reshape(-1, 2) for p in lat_dir.glob("latency-*.bin")]
    if not parts:
        return {}, 0
    pairs = np.concatenate(parts)
    keep = pairs[(pairs[:, 0] >= lo_us) & (pairs[:, 0] <= hi_us)]
    if not len(keep):
        return {}, 0
    d = (keep[:, 1] - keep[:, 0]) / 1000.0
    p50, p99 = np.percentile(d, [50, 99])
    return {"p50": round(float(p50), 1), "p99": round(float(p99), 1), "max": round(float(d.max()), 1)}, len(d)


def _stop_collector(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            for pid in reversed(procstat.tree(proc.pid)):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            proc.wait()


def run_once(spec: RunSpec, keep: Optional[Path] = None, profile: bool = False) -> RunResult:
    """Measure one rate; the work directory is removed unless ``keep`` names a
    directory to leave it in. ``profile`` samples the window with py-spy (see
    pyspy_profile.py); its figures then carry py-spy's overhead."""
    work = Path(tempfile.mkdtemp(prefix="bstream-e2e-", dir=keep))
    try:
        with open(work / "simulator.log", "w") as sim_log, open(work / "collector.err", "w") as err:
            result = _Run(spec, work, profile, sim_log, err).measure()
    except Exception as exc:
        raise RuntimeError(f"{exc} (logs kept in {work})") from exc
    if keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return result


@dataclass
class _Window:
    """What was read when the window opened (0) and closed (1)."""

    counts0: Dict[str, Any]
    counts1: Dict[str, Any]
    cpu0: Dict[int, procstat.ProcSample]
    cpu1: Dict[int, procstat.ProcSample]
    wall0: float
    wall1: float
    mono1: float
    spy: Optional[subprocess.Popen[bytes]]


class _Run:
    def __init__(self, spec: RunSpec, work: Path, profile: bool, sim_log: IO[str], err: IO[str]):
        self.spec, self.work, self.profile = spec, work, profile
        self.sim_log, self.err = sim_log, err
        self.lat_dir = work / "latency"
        self.lat_dir.mkdir()
        self.res = RunResult(spec)

    def measure(self) -> RunResult:
        sim = SimProcess(self.spec.symbols, self.spec.rate, self.sim_log)
        collector: Optional[subprocess.Popen[bytes]] = None
        try:
            cfg_path = write_config(self.work, self.spec, sim.ws, sim.rest)
            cfg = config_mod.load(cfg_path)
            root = runtime.paths_for(cfg.output_dir).root
            collector = self._start_collector(cfg_path)
            self._wait_connected(sim, collector, sum(len(w.connections) for w in make_plan(cfg).workers))
            time.sleep(self.spec.warmup)
            win = self._window(sim, collector)
            stats = self._drain(root, sum(_sent_by_route(win.counts1).values()), win.mono1)
            cpu2 = procstat.sample_tree(collector.pid)
            roles = _roles(collector.pid, stats, cpu2)
            self._account_cpu(win, cpu2, roles)
            _stop_collector(collector)
            self._check_files(sim, cfg.output_dir, root, win)
            if collector.returncode != 0:
                self.res.passed, self.res.why = False, f"collector exit code {collector.returncode}"
            return self.res
        finally:
            if collector is not None:
                _stop_collector(collector)
            sim.close()

    def _start_collector(self, cfg_path: Path) -> subprocess.Popen[bytes]:
        env = _env()
        env[LATENCY_ENV] = str(self.lat_dir)
        cmd = [sys.executable, str(HERE / "collector_entry.py"), "-c", str(cfg_path)]
        return subprocess.Popen(
            [*cmd, "--backend", self.spec.backend], stdout=subprocess.DEVNULL, stderr=self.err, env=env
        )

    @staticmethod
    def _wait_connected(sim: SimProcess, collector: subprocess.Popen[bytes], n_conns: int) -> None:
        deadline = time.monotonic() + CONNECT_TIMEOUT
        while _open_delivering(sim.ask("counts")) < n_conns:
            if collector.poll() is not None:
                raise RuntimeError(f"the collector exited (code {collector.returncode})")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the collector did not open its {n_conns} connections in time")
            time.sleep(0.2)

    def _window(self, sim: SimProcess, collector: subprocess.Popen[bytes]) -> _Window:
        res, spec = self.res, self.spec
        cpu0, sim0, busy0 = (
            procstat.sample_tree(collector.pid),
            procstat.sample(sim.pid),
            procstat.machine_busy_s(),
        )
        wall0, mono0 = time.time(), time.monotonic()
        counts0 = sim.ask("counts")
        spy = None
        if self.profile:
            spy = profile_mod.start_py_spy(collector.pid, spec.duration, self.work / "py-spy.txt")
            if spy is None:
                raise RuntimeError("profiling needs py-spy on PATH (pip install py-spy)")
        time.sleep(spec.duration)
        counts1 = sim.ask("stall")
        wall1, mono1 = time.time(), time.monotonic()
        busy1, sim1, cpu1 = (
            procstat.machine_busy_s(),
            procstat.sample(sim.pid),
            procstat.sample_tree(collector.pid),
        )

        res.window_s = mono1 - mono0
        res.window_frames = sum(_sent_by_route(counts1).values()) - sum(_sent_by_route(counts0).values())
        res.delivered_per_s = res.window_frames / res.window_s
        res.queued_at_stop = sum(c["queued"] for c in counts1["connections"] if not c["closed"])
        res.reconnects = sum(1 for c in counts1["connections"] if c["closed"])
        res.sim_lag_ticks = counts1["max_lag_ticks"]
        res.sim_cpu_s = round(sim1.cpu_s - sim0.cpu_s, 2) if sim0 and sim1 else math.nan
        ours = res.sim_cpu_s + sum(s1.cpu_s - cpu0[p].cpu_s for p, s1 in cpu1.items() if p in cpu0)
        res.other_load = round(max(0.0, busy1 - busy0 - ours) / res.window_s, 2)
        return _Window(counts0, counts1, cpu0, cpu1, wall0, wall1, mono1, spy)

    def _drain(self, root: Path, sent: int, stopped: float) -> Dict[str, Dict[str, Any]]:
        """Wait for every frame sent to be received by a worker, then for a
        writer report made after that with empty rings; returns the last stats."""
        received_at: Optional[float] = None
        stats: Dict[str, Dict[str, Any]] = {}
        while time.monotonic() - stopped < DRAIN_TIMEOUT:
            stats = stats_mod.read_all(root)
            if received_at is None and _received(stats) >= sent:
                received_at = time.time()
            writer = stats.get("writer", {})
            if received_at is not None and writer.get("time", 0) > received_at and _rings_empty(writer):
                self.res.drain_s = round(time.monotonic() - stopped, 2)
                break
            time.sleep(0.05)
        return stats

    def _account_cpu(self, win: _Window, cpu2: Dict[int, procstat.ProcSample], roles: Dict[int, str]) -> None:
        res = self.res
        for pid, s2 in cpu2.items():
            role, before = roles[pid], win.cpu0.get(pid)
            used = s2.cpu_s - (before.cpu_s if before else 0.0)
            kernel = s2.sys_s - (before.sys_s if before else 0.0)
            res.cpu_by_role[role] = round(res.cpu_by_role.get(role, 0.0) + used, 2)
            res.sys_by_role[role] = round(res.sys_by_role.get(role, 0.0) + kernel, 2)
            res.peak_rss[role] = max(res.peak_rss.get(role, 0), s2.peak_rss)
        res.cpu_s = round(sum(res.cpu_by_role.values()), 2)
        if res.window_frames:
            res.cpu_per_10k = round(res.cpu_s / res.window_frames * 10_000, 3)
        if win.spy is not None:
            _, err = win.spy.communicate(timeout=60)
            raw = self.work / "py-spy.txt"
            if not raw.exists():
                raise RuntimeError(f"py-spy failed: {err.decode(errors='replace').strip()[-300:]}")
            during = {
                roles.get(pid, str(pid)): (s1.user_s - win.cpu0[pid].user_s, s1.sys_s - win.cpu0[pid].sys_s)
                for pid, s1 in win.cpu1.items()
                if pid in win.cpu0
            }
            samples, leaves = profile_mod.read_raw(raw)
            res.profile = profile_mod.breakdown(samples, roles, during)
            res.profile_top = profile_mod.top_frames(leaves, roles)

    def _check_files(self, sim: SimProcess, data: Path, root: Path, win: _Window) -> None:
        res = self.res
        res.received = _received(stats_mod.read_all(root))
        written, res.gaps = count_written(data)
        sent_by_route = _sent_by_route(sim.ask("counts"))
        res.sent, res.written = sum(sent_by_route.values()), sum(written.values())
        res.lost_by_route = {r: n - written.get(r, 0) for r, n in sent_by_route.items()}
        # Frames received in the window's last flush interval would wait for the
        # writer's timer only because the simulator stopped: leave them out.
        end = win.wall1 - self.spec.flush_interval - LATENCY_TAIL
        res.latency_ms, res.latency_samples = latency_ms(self.lat_dir, int(win.wall0 * 1e6), int(end * 1e6))
        res.warnings = _warnings(self.work / "collector.log")
        res.passed, res.why = judge(res)


def _warnings(log: Path, limit: int = 10) -> List[str]:
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return []
    return [ln for ln in lines if " WARNING " in ln or " ERROR " in ln][:limit]


def judge(res: RunResult) -> Tuple[bool, str]:
    spec = res.spec
    if any(res.lost_by_route.values()) or res.written != res.sent:
        return False, f"lost {res.sent - res.written} of {res.sent} frames ({res.lost_by_route})"
    if res.received != res.sent:
        return False, f"workers received {res.received} of {res.sent} frames"
    if res.gaps or res.reconnects:
        return False, f"gap rows {res.gaps}, {res.reconnects} reconnects"
    if math.isnan(res.drain_s) or res.drain_s > spec.flush_interval + DRAIN_SLACK:
        return False, f"fell behind: {res.drain_s} s to drain after the window"
    if res.queued_at_stop > max(500, QUEUED_SHARE * res.window_frames):
        return False, f"fell behind: {res.queued_at_stop} frames still queued in the simulator"
    return True, ""
