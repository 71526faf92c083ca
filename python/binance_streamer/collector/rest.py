"""REST depth snapshots, paced so that many symbols resyncing at once never
earn a 429, and honouring 429/418 when they come anyway.

Binance counts request weight per IP per UTC clock minute and reports the total
in ``X-MBX-USED-WEIGHT-1M``. Each worker spends at most its share of a safe
budget per minute, and also stops when the exchange says the IP as a whole is
near the limit (other programs on the same IP count too).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable, Optional, Tuple

import aiohttp

log = logging.getLogger(__name__)

IP_WEIGHT_LIMIT = 2400  # REQUEST_WEIGHT per minute per IP (USDⓈ-M)
SAFE_FRACTION = 0.8
DEFAULT_429_PAUSE = 60.0
DEFAULT_418_PAUSE = 300.0


def depth_weight(limit: int) -> int:
    if limit <= 50:
        return 2
    if limit <= 100:
        return 5
    if limit <= 500:
        return 10
    return 20


class RestRetry(Exception):
    """The request failed in a way that may succeed later; ``delay`` is the least wait."""

    def __init__(self, msg: str, delay: float = 0.0):
        super().__init__(msg)
        self.delay = delay


class RestFatal(Exception):
    """The request can never succeed as asked (bad symbol, bad limit)."""


class WeightGovernor:
    def __init__(self, share: float, clock: Callable[[], float] = time.time):
        self.budget = IP_WEIGHT_LIMIT * SAFE_FRACTION * share
        self.clock = clock
        self._minute = -1
        self._spent = 0  # by this worker in the current minute
        self._ip_used = 0  # as last reported by the exchange for the current minute
        self.paused_until = 0.0

    def _roll(self, now: float) -> None:
        minute = int(now // 60)
        if minute != self._minute:
            self._minute, self._spent, self._ip_used = minute, 0, 0

    def wait_time(self, weight: int) -> float:
        """Seconds to wait before a request of ``weight`` may go out."""
        now = self.clock()
        if now < self.paused_until:
            return self.paused_until - now
        self._roll(now)
        over_share = self._spent > 0 and self._spent + weight > self.budget
        over_ip = self._ip_used + weight > IP_WEIGHT_LIMIT * SAFE_FRACTION
        if over_share or over_ip:
            return (self._minute + 1) * 60 - now + 0.05
        return 0.0

    def spend(self, weight: int) -> None:
        self._roll(self.clock())
        self._spent += weight

    def observe(self, used_header: Optional[str]) -> None:
        if used_header is None:
            return
        try:
            used = int(used_header)
        except ValueError:
            return
        self._roll(self.clock())
        self._ip_used = max(self._ip_used, used)

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, self.clock() + seconds)


def _retry_after(resp: aiohttp.ClientResponse, default: float) -> float:
    try:
        return max(1.0, float(resp.headers.get("Retry-After", "")))
    except ValueError:
        return default


class SnapshotClient:
    """Fetches ``GET /fapi/v1/depth`` one request at a time, within the weight budget."""

    def __init__(self, base_url: str, limit: int, timeout: float, share: float):
        self.base_url = base_url
        self.limit = limit
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.weight = depth_weight(limit)
        self.governor = WeightGovernor(share)
        self._lock = asyncio.Lock()
        self._session: Optional[aiohttp.ClientSession] = None
        self.requests = 0
        self.throttled = 0

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch_depth(self, symbol: str) -> Tuple[bytes, int]:
        """(raw body, local receive time µs) of a depth snapshot, or RestRetry / RestFatal."""
        async with self._lock:
            while True:
                wait = self.governor.wait_time(self.weight)
                if wait <= 0:
                    break
                log.info("pacing depth snapshots: waiting %.1f s for request weight", wait)
                await asyncio.sleep(wait)
            if self._session is None:
                self._session = aiohttp.ClientSession(timeout=self.timeout)
            self.governor.spend(self.weight)
            self.requests += 1
            url = f"{self.base_url}/fapi/v1/depth"
            try:
                async with self._session.get(
                    url, params={"symbol": symbol, "limit": str(self.limit)}
                ) as resp:
                    body = await resp.read()
                    t_us = time.time_ns() // 1000
                    self.governor.observe(resp.headers.get("X-MBX-USED-WEIGHT-1M"))
                    return self._check(resp, body, symbol), t_us
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                raise RestRetry(f"depth snapshot for {symbol}: {type(exc).__name__}: {exc}") from None

    def _check(self, resp: aiohttp.ClientResponse, body: bytes, symbol: str) -> bytes:
        status = resp.status
        if status == 200:
            return body
        text = body[:200].decode("utf-8", "replace")
        if status == 429:
            pause = _retry_after(resp, DEFAULT_429_PAUSE)
            self.governor.pause(pause)
            self.throttled += 1
            log.warning(
                "HTTP 429 on depth snapshot for %s: pausing REST for %.0f s (%s)", symbol, pause, text
            )
            raise RestRetry("HTTP 429", pause)
        if status == 418:
            pause = _retry_after(resp, DEFAULT_418_PAUSE)
            self.governor.pause(pause)
            self.throttled += 1
            log.error("HTTP 418 (IP banned) on depth snapshot for %s: pausing REST for %.0f s", symbol, pause)
            raise RestRetry("HTTP 418", pause)
        if status >= 500 or status in (403, 408):
            raise RestRetry(f"HTTP {status} on depth snapshot for {symbol}: {text}", 1.0)
        raise RestFatal(f"HTTP {status} on depth snapshot for {symbol}: {text}")
