"""Reconnect delays: exponential with full jitter, reset after a healthy spell."""

from __future__ import annotations

import random
from typing import Optional


class Backoff:
    """``next()`` gives the delay before the next attempt: ``first * 2**n`` capped at
    ``cap``, scaled by a random factor in [0.5, 1.0] so that many connections that
    dropped together do not reconnect together (Binance closes bursts with 1008)."""

    def __init__(self, first: float, cap: float, max_retries: int = 0, rng: Optional[random.Random] = None):
        self.first, self.cap, self.max_retries = first, cap, max_retries
        self.failures = 0
        self._rng = rng or random.Random()

    def next(self) -> float:
        delay = min(self.cap, self.first * (2 ** min(self.failures, 30)))
        self.failures += 1
        return delay * (0.5 + 0.5 * self._rng.random())

    @property
    def exhausted(self) -> bool:
        return self.max_retries > 0 and self.failures >= self.max_retries

    def reset(self) -> None:
        self.failures = 0
