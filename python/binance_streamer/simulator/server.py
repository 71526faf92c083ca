"""The asyncio server: one aiohttp app serving WebSocket and REST on one port.

:class:`SimServer` runs inside an existing event loop (the CLI's, or the
thread of :class:`~binance_streamer.simulator.handle.Simulator`). Besides the
aiohttp handlers it runs two tasks: the tick loop, which steps the engine on
schedule and fans frames out, and a 20 ms housekeeping loop for keep-alive,
lifetimes and scheduled faults.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Coroutine
from typing import Any, Callable, Optional, TypeVar

from aiohttp import web

from .clock import SimClock
from .config import SimConfig
from .engine import Engine
from .faults import MALFORMED_KINDS, Faults, FaultState
from .hub import Hub
from .rest import RestApi
from .streams import parse_ws_path
from .truth import Truth
from .websocket import handle_ws

__all__ = ["SimServer"]

log = logging.getLogger(__name__)
_T = TypeVar("_T")
_HOUSEKEEPING_S = 0.02
_TICK_BUDGET_S = 0.01
_MAX_URL = 64 * 1024  # longest stretch of catch-up ticks before letting sockets run


class SimServer:
    """Engine + hub + REST + faults + truth behind one listening socket."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.clock = SimClock(config.clock_start_ms, config.clock_speed)
        self.truth = Truth(config.truth_limit)
        self.hub = Hub(self.truth, config.max_outbox)
        self.engine = Engine(config, self.clock, self.truth, self.hub.subscribers)
        self.fault_state = FaultState(config, time.monotonic())
        self.faults = Faults(self)
        self.rest = RestApi(self)
        self.port: Optional[int] = None
        self.max_lag_ticks = 0  # worst backlog of due ticks seen (0 = kept up)
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._loop_thread: Optional[int] = None
        self._runner: Optional[web.AppRunner] = None
        self._tasks: set[asyncio.Future[Any]] = set()
        self._gap_turn = 0

    # -- URLs ------------------------------------------------------------------

    @property
    def ws_base_url(self) -> str:
        return f"ws://{self._host_for_url()}:{self.port}"

    @property
    def rest_base_url(self) -> str:
        return f"http://{self._host_for_url()}:{self.port}"

    def _host_for_url(self) -> str:
        host = self.config.host
        return f"[{host}]" if ":" in host else host

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        app = web.Application()
        app.add_routes(self.rest.routes())
        app.add_routes([web.get("/{path:.*}", self._ws_entry)])
        self._runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=1.0,
            max_line_size=_MAX_URL,  # 1024 streams in a URL must reach the stream limit
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self.clock.anchor_now()
        self.fault_state = FaultState(self.config, time.monotonic())
        self.spawn(self._tick_loop())
        self.spawn(self._housekeeping_loop())

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for conn in list(self.hub.conns.values()):
            conn.drop(False, "simulator stopping")
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Future[Any]:
        """Run ``coro`` as a task the server keeps a reference to (and cancels on stop)."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("simulator task failed", exc_info=task.exception())

    def call_in_loop(self, fn: Callable[[], _T]) -> _T:
        """Run ``fn`` on the server's loop thread and return its result (thread-safe)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            raise RuntimeError("the simulator is not running")
        if threading.get_ident() == self._loop_thread:
            return fn()
        done: concurrent.futures.Future[_T] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(fn())
            except BaseException as exc:  # handed to the calling thread
                done.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return done.result(timeout=30)

    # -- WebSocket entry -------------------------------------------------------

    async def _ws_entry(self, request: web.Request) -> web.StreamResponse:
        path = parse_ws_path(request.path, request.query_string, request.query.get("streams"))
        if path is None:
            raise web.HTTPNotFound(text="unknown path")
        if not web.WebSocketResponse().can_prepare(request).ok:
            raise web.HTTPBadRequest(text="WebSocket upgrade expected")
        return await handle_ws(self, request, path.route, path.combined, path.streams)

    # -- loops -------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        engine, hub, truth = self.engine, self.hub, self.truth
        rate, anchor = self.config.rate, self.clock.anchor
        trim_every = max(1, int(rate))
        while True:
            started = time.monotonic()
            due = int((started - anchor) * rate)
            self.max_lag_ticks = max(self.max_lag_ticks, due - engine.tick - 1)
            while engine.tick < due and time.monotonic() - started < _TICK_BUDGET_S:
                hub.dispatch(engine.step())
                if engine.tick % trim_every == 0:
                    truth.trim()
            if engine.tick < due:
                await asyncio.sleep(0)
            else:
                await asyncio.sleep(max(0.0, anchor + (engine.tick + 1) / rate - time.monotonic()))

    async def _housekeeping_loop(self) -> None:
        while True:
            await asyncio.sleep(_HOUSEKEEPING_S)
            now = time.monotonic()
            for conn in list(self.hub.conns.values()):
                conn.housekeeping(now)
            self._scheduled_faults(now)

    def _scheduled_faults(self, now: float) -> None:
        fs, truth = self.fault_state, self.truth
        if fs.drop_every is not None and now >= fs.next_drop:
            fs.next_drop = now + fs.drop_every
            n = self.hub.drop(fs.drop_every_route, False, "fault: drop_every")
            truth.note_fault(time.time(), "drop_every", f"dropped={n}")
        if fs.gap_every is not None and now >= fs.next_gap:
            fs.next_gap = now + fs.gap_every
            st = self.engine.states[self._gap_turn % len(self.engine.states)]
            self._gap_turn += 1
            speeds = self.engine.depth_streams_wanted(st.instrument.symbol)
            st.skip_speeds.update(speeds)
            truth.note_fault(time.time(), "gap_every", f"symbol={st.instrument.symbol}")
        if fs.malformed_every is not None and now >= fs.next_malformed:
            fs.next_malformed = now + fs.malformed_every
            kind = MALFORMED_KINDS[fs.malformed_turn % len(MALFORMED_KINDS)]
            fs.malformed_turn += 1
            n = self.hub.inject_malformed(kind, None, 1)
            truth.note_fault(time.time(), "malformed_every", f"kind={kind} frames={n}")
        if fs.stall_every is not None and now >= fs.next_stall:
            fs.next_stall = now + fs.stall_every
            fs.stall_until[None] = now + fs.stall_for
            truth.note_fault(time.time(), "stall_every", f"seconds={fs.stall_for}")
