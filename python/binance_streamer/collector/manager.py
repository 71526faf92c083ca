"""The ProcessManager (main process): owns the run.

It takes the output directory's PID lock, creates the shared-memory rings and
the best bid/ask board, starts the Writer, the OrderBook Manager and the symbol
workers, restarts any that crash (with backoff; logged and counted), writes the
status file, and on SIGINT/SIGTERM or at the end of ``run_duration`` stops them
in data-flow order (workers, then the manager, then the writer once every ring
is drained), removes the shared memory and the PID file, and exits 0.
A second signal forces an immediate exit.
"""

from __future__ import annotations

import fcntl
import logging
import multiprocessing as mp
import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from binance_streamer import bbo, logs, native, runtime, shm
from binance_streamer.collector import stats as stats_mod
from binance_streamer.collector.children import EXIT_GAVE_UP, ChildEnv, book_main, worker_main, writer_main
from binance_streamer.collector.plan import Plan, make_plan
from binance_streamer.config import Config

log = logging.getLogger(__name__)

RESTART_FIRST, RESTART_CAP, HEALTHY_AFTER = 1.0, 30.0, 60.0
RING_WARN_FILL = 0.8


class AlreadyRunning(RuntimeError):
    pass


@dataclass
class Child:
    role: str
    target: Callable[..., None]
    args: Tuple[Any, ...]
    stop: Any
    process: Optional[Any] = None
    started_at: float = 0.0
    restarts: int = 0
    consecutive: int = 0
    restart_at: Optional[float] = None
    history: List[int] = field(default_factory=list)


class ProcessManager:
    def __init__(self, cfg: Config, backend_name: str, verbose: bool = False):
        self.cfg = cfg
        self.backend_name = backend_name
        self.backend = native.load(backend_name)
        self.verbose = verbose
        self.paths = runtime.paths_for(cfg.output_dir)
        self.plan: Plan = make_plan(cfg)
        self.ctx = mp.get_context("spawn")
        self.children: List[Child] = []
        self.rings: Dict[str, Any] = {}
        self.board: Optional[bbo.Board] = None
        self._lock_fd: Optional[int] = None
        self._signals = 0
        self._priority_warned = False
        self._ring_warned: Dict[str, bool] = {}
        self.started_at = time.time()
        self.exit_code = 0
        self.last_status: Dict[str, Any] = {}

    # --- set-up ---------------------------------------------------------------------

    def _take_lock(self) -> None:
        self.paths.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.paths.pid_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = runtime.running_pid(self.paths)
            who = f"pid {pid}" if pid else "another process"
            raise AlreadyRunning(
                f"another collector ({who}) is already writing to {self.cfg.output_dir}; "
                "stop it first or choose another --output"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def _create_shared_memory(self) -> None:
        removed = self.backend.cleanup_stale_segments()
        if removed:
            log.info("removed %d shared-memory segments left by an earlier run: %s", len(removed), removed)
        cap = shm.ring_capacity_for(self.cfg.performance.queue_maxsize)
        for w in self.plan.workers:
            for dest in ("writer", "book"):
                name = shm.segment_name(f"w{w.index}-{dest}")
                self.rings[name] = self.backend.Ring.create(name, cap)
        name = shm.segment_name("book-writer")
        self.rings[name] = self.backend.Ring.create(name, max(shm.MIN_RING_BYTES, cap // 4))
        self.board = bbo.create_board(self.cfg.output_dir, self.plan.symbols)

    def _make_children(self, log_queue: Any, level: int) -> None:
        syms = list(self.plan.symbols)
        self.resync_epoch = self.ctx.Value("i", 0)
        writer_rings = [n for n in self.rings if n.endswith("-writer")]
        book_rings = [n for n in self.rings if n.endswith("-book")]
        self.writer_stop, self.book_stop, self.workers_stop = (self.ctx.Event() for _ in range(3))

        def env(stop: Any) -> ChildEnv:
            return ChildEnv(self.cfg, self.paths.root, stop, log_queue, level, self.backend_name)

        self.children.append(
            Child("writer", writer_main, (env(self.writer_stop), syms, writer_rings), self.writer_stop)
        )
        book_args = (env(self.book_stop), syms, book_rings, shm.segment_name("book-writer"))
        self.children.append(Child("orderbook", book_main, book_args, self.book_stop))
        for w in self.plan.workers:
            rings = (shm.segment_name(f"w{w.index}-writer"), shm.segment_name(f"w{w.index}-book"))
            args = (env(self.workers_stop), self.plan, w.index, *rings, self.resync_epoch)
            self.children.append(Child(w.role, worker_main, args, self.workers_stop))

    def _start(self, child: Child) -> None:
        p = self.ctx.Process(target=child.target, args=child.args, name=child.role, daemon=False)
        p.start()
        child.process, child.started_at, child.restart_at = p, time.monotonic(), None
        self._apply_priority(p.pid)

    def _apply_priority(self, pid: Optional[int]) -> None:
        nice = self.cfg.performance.process_priority
        if nice == 0 or pid is None or self._priority_warned:
            return
        try:
            os.setpriority(os.PRIO_PROCESS, pid, nice)
        except (PermissionError, OSError) as exc:
            self._priority_warned = True
            log.warning("cannot set process priority %d (%s); running at the default priority", nice, exc)

    # --- running ----------------------------------------------------------------------

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self._signals += 1
        if self._signals == 1:
            log.info(
                "received %s: stopping (drain rings, flush files); send it again to force",
                signal.Signals(signum).name,
            )
        else:
            log.warning("second signal: forcing exit")
            self._force_exit()

    def _force_exit(self) -> None:
        for c in self.children:
            if c.process is not None and c.process.is_alive():
                c.process.kill()
        self._cleanup()
        os._exit(1)

    def _supervise(self, stopping: bool) -> None:
        now = time.monotonic()
        for c in self.children:
            p = c.process
            if p is None:
                continue
            if p.exitcode is None:
                if now - c.started_at > HEALTHY_AFTER:
                    c.consecutive = 0
                continue
            if c.restart_at is None:
                code = p.exitcode
                if c.role.startswith("worker") and code == EXIT_GAVE_UP:
                    log.error("%s gave up connecting (network.max_retries reached); stopping", c.role)
                    self.exit_code = 1
                    self._signals = max(self._signals, 1)
                    c.process = None
                    continue
                if stopping and ((code == 0 and c.stop.is_set()) or c.role.startswith("worker")):
                    c.process = None  # finished, or not worth restarting during shutdown
                    continue
                delay = min(RESTART_CAP, RESTART_FIRST * 2**c.consecutive)
                c.restart_at = now + delay
                log.error("%s exited unexpectedly (exit code %s); restarting in %.0f s", c.role, code, delay)
            elif now >= c.restart_at:
                c.restarts += 1
                c.consecutive += 1
                if c.role == "orderbook":
                    # Its books restart empty: every worker re-bases its symbols
                    # with fresh snapshots, which the new manager receives.
                    with self.resync_epoch.get_lock():
                        self.resync_epoch.value += 1
                log.warning("restarting %s (restart #%d)", c.role, c.restarts)
                self._start(c)

    def run(self) -> int:
        cfg = self.cfg
        self._take_lock()
        listener = None
        try:
            self._create_shared_memory()
            log_queue = self.ctx.Queue()
            listener = logs.listen(log_queue)
            level = logging.getLogger().getEffectiveLevel()
            self._make_children(log_queue, level)
            signal.signal(signal.SIGINT, self._on_signal)
            signal.signal(signal.SIGTERM, self._on_signal)
            for c in self.children:
                self._start(c)
            if cfg.monitoring.prometheus_port:
                from binance_streamer.collector import metrics

                metrics.serve(cfg.monitoring.prometheus_port, lambda: self.last_status)
                log.info("Prometheus metrics on port %d", cfg.monitoring.prometheus_port)
            mode = cfg.active
            log.info(
                "collecting %d symbols with %d workers (backend %s) into %s%s",
                len(self.plan.symbols),
                len(self.plan.workers),
                self.backend_name,
                cfg.output_dir,
                "" if mode.run_duration == 0 else f" for {mode.run_duration:g} s",
            )
            deadline = None if mode.run_duration == 0 else time.monotonic() + mode.run_duration
            next_status = 0.0
            while self._signals == 0 and (deadline is None or time.monotonic() < deadline):
                self._supervise(stopping=False)
                if time.monotonic() >= next_status:
                    next_status = time.monotonic() + cfg.monitoring.status_interval
                    self._write_status()
                time.sleep(0.1)
            self._shutdown()
            return self.exit_code
        finally:
            self._cleanup()
            if listener is not None:
                listener.stop()

    def _shutdown(self) -> None:
        log.info("stopping: workers first, then the orderbook manager, then the writer (draining every ring)")
        phases = [
            ([c for c in self.children if c.role.startswith("worker")], self.workers_stop, 15.0),
            ([c for c in self.children if c.role == "orderbook"], self.book_stop, 15.0),
            ([c for c in self.children if c.role == "writer"], self.writer_stop, 120.0),
        ]
        for group, event, limit in phases:
            event.set()
            deadline = time.monotonic() + limit
            while True:
                # A writer or manager that crashes while draining is restarted to finish.
                self._supervise(stopping=True)
                pending = [
                    c
                    for c in group
                    if c.restart_at is not None or (c.process is not None and c.process.exitcode is None)
                ]
                if not pending:
                    break
                if time.monotonic() >= deadline:
                    for c in pending:
                        log.error("%s did not stop in %.0f s; killing it", c.role, limit)
                        c.restart_at = None
                        if c.process is not None:
                            c.process.kill()
                            c.process.join(5)
                    break
                time.sleep(0.05)
            self._write_status()
        undrained = {n: r.used_bytes for n, r in self.rings.items() if r.used_bytes}
        if undrained:
            log.error("rings not fully drained at exit: %s", undrained)
            self.exit_code = self.exit_code or 1
        log.info("stopped")

    def _cleanup(self) -> None:
        for name, ring in list(self.rings.items()):
            try:
                ring.unlink()
                ring.close()
            except Exception as exc:  # noqa: BLE001 - best effort at exit
                log.debug("ring %s cleanup: %s", name, exc)
        self.rings.clear()
        if self.board is not None:
            self.board.close()
            self.board.unlink()
            self.board = None
        for p in (self.paths.status_file,):
            try:
                p.unlink()
            except FileNotFoundError:
                pass
        if self._lock_fd is not None:
            try:
                self.paths.pid_file.unlink()
            except FileNotFoundError:
                pass
            os.close(self._lock_fd)
            self._lock_fd = None

    # --- status -------------------------------------------------------------------------

    def _write_status(self) -> None:
        per_role = stats_mod.read_all(self.paths.root)
        symbols: Dict[str, Any] = {}
        for role, st in per_role.items():
            if role.startswith("worker"):
                symbols.update(st.get("symbols", {}))
        writer = per_role.get("writer", {})
        drops: Dict[str, int] = {}
        for st in per_role.values():
            for name, n in st.get("ring_drops", {}).items():
                drops[name] = drops.get(name, 0) + n
        rings = []
        for name, r in writer.get("rings", {}).items():
            fill = float(r.get("fill", 0.0))
            if fill >= RING_WARN_FILL and not self._ring_warned.get(name):
                log.warning("ring %s is %.0f%% full: the writer is falling behind", name, 100 * fill)
                self._ring_warned[name] = True
            elif fill < RING_WARN_FILL / 2:
                self._ring_warned[name] = False
            cap = r.get("capacity") or 1
            rings.append(
                {
                    "name": name,
                    "fill": fill,
                    "high_water": r.get("high_water", 0) / cap,
                    "dropped": drops.get(name, 0),
                }
            )
        status = {
            "pid": os.getpid(),
            "started_at": self.started_at,
            "updated_at": time.time(),
            "mode": self.cfg.mode,
            "backend": self.backend_name,
            "symbols": symbols,
            "rings": rings,
            "writer": {
                "lag_s": writer.get("lag_s", 0.0),
                "rows": writer.get("records", 0),
                "malformed": sum(writer.get("malformed", {}).values()),
                "restarts": next((c.restarts for c in self.children if c.role == "writer"), 0),
                "last_batch_ms": writer.get("last_batch_ms", 0.0),
            },
            "bbo": per_role.get("orderbook", {}).get("bbo", {}),
            "restarts": {c.role: c.restarts for c in self.children},
            "rss": {role: st.get("rss", 0) for role, st in per_role.items()},
        }
        try:
            runtime.write_status(self.paths, status)
        except OSError as exc:
            log.warning("cannot write the status file: %s", exc)
        self.last_status = status
