"""A simulator running in a background thread, for synchronous code (pytest, benchmarks).

Collector tests start the collector as separate OS processes and drive faults
from plain test code, so the simulator needs its own event loop that keeps
serving while the test thread blocks, polls files or sleeps.
"""

from __future__ import annotations

import asyncio
import threading
import time
from types import TracebackType
from typing import Any, Callable, Optional

from .clock import SimClock
from .config import SimConfig
from .faults import Faults
from .server import SimServer
from .truth import Truth

__all__ = ["Simulator"]


class Simulator:
    """``with Simulator(symbols=["BTCUSDT"], rate=50, seed=1) as sim: ...``

    Keyword arguments are :class:`SimConfig` fields (or pass ``config=``).
    ``faults`` and ``truth`` are safe to use from any thread.
    """

    def __init__(self, config: Optional[SimConfig] = None, **settings: Any) -> None:
        if config is not None and settings:
            raise TypeError("pass either config= or settings, not both")
        if "symbols" in settings and not isinstance(settings["symbols"], str):
            settings["symbols"] = tuple(settings["symbols"])
        self.config = config or SimConfig.from_kwargs(**settings)
        self.server = SimServer(self.config)
        self._thread: Optional[threading.Thread] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._stopped: Optional[asyncio.Event] = None

    # -- what tests use ---------------------------------------------------------

    @property
    def faults(self) -> Faults:
        return self.server.faults

    @property
    def truth(self) -> Truth:
        return self.server.truth

    @property
    def clock(self) -> SimClock:
        return self.server.clock

    @property
    def ws_base_url(self) -> str:
        return self.server.ws_base_url

    @property
    def rest_base_url(self) -> str:
        return self.server.rest_base_url

    @property
    def port(self) -> int:
        if self.server.port is None:
            raise RuntimeError("the simulator is not running")
        return self.server.port

    def now_ms(self) -> int:
        """Current simulated exchange time."""
        return self.server.clock.now_ms()

    @property
    def max_lag_ticks(self) -> int:
        """Worst backlog of due ticks seen: > 0 means the host could not keep ``rate``."""
        return self.server.max_lag_ticks

    def call(self, fn: Callable[[SimServer], Any]) -> Any:
        """Run ``fn(server)`` on the simulator's loop thread (for inspection in tests)."""
        return self.server.call_in_loop(lambda: fn(self.server))

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.02) -> bool:
        """Poll ``predicate`` until true or ``timeout``; returns the last result."""
        deadline = time.monotonic() + timeout
        while True:
            if predicate():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(interval)

    # -- lifecycle -------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> Simulator:
        if self._thread is not None:
            raise RuntimeError("the simulator is already running")
        ready = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve(ready, failure))
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()
                ready.set()

        self._thread = threading.Thread(target=main, name="binance-simulator", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError("the simulator did not start in time")
        if failure:
            self._thread.join(timeout)
            self._thread = None
            raise failure[0]
        return self

    async def _serve(self, ready: threading.Event, failure: list[BaseException]) -> None:
        self._stopped = asyncio.Event()
        try:
            await self.server.start()
        except BaseException as exc:
            failure.append(exc)
            await self.server.stop()
            return
        ready.set()
        try:
            await self._stopped.wait()
        finally:
            await self.server.stop()

    def stop(self, timeout: float = 10.0) -> None:
        thread, loop, stopped = self._thread, self._loop, self._stopped
        if thread is None or loop is None or stopped is None:
            return
        if not loop.is_closed():
            loop.call_soon_threadsafe(stopped.set)
        thread.join(timeout)
        self._thread = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()
