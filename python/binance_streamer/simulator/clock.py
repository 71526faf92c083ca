"""The simulated exchange clock.

Every exchange timestamp the simulator emits (``E``, ``T``, kline bounds,
``serverTime``) comes from this clock, so a test can start it just before UTC
midnight and run it 60x fast to cross the day, or close 1m klines each second.
Only the mapping from the host's monotonic time changes; ordering is preserved.
"""

from __future__ import annotations

import time
from typing import Callable, Optional

__all__ = ["SimClock"]


class SimClock:
    """``now_ms = start_ms + (monotonic - anchor) * speed * 1000``.

    Thread-safe: it is immutable once anchored, and reading it never blocks.
    """

    def __init__(
        self,
        start_ms: Optional[int] = None,
        speed: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"clock speed must be > 0, got {speed}")
        self.start_ms: int = int(time.time() * 1000) if start_ms is None else int(start_ms)
        self.speed = float(speed)
        self._monotonic = monotonic
        self.anchor: float = monotonic()

    def anchor_now(self) -> None:
        """Restart the mapping so simulated time ``start_ms`` is *now* (done once at serve)."""
        self.anchor = self._monotonic()

    def now_ms(self) -> int:
        return self.sim_ms_at(self._monotonic())

    def sim_ms_at(self, monotonic_s: float) -> int:
        return self.start_ms + int((monotonic_s - self.anchor) * self.speed * 1000.0)

    def real_seconds(self, sim_ms: float) -> float:
        """How long ``sim_ms`` of simulated time takes on the host."""
        return sim_ms / 1000.0 / self.speed
