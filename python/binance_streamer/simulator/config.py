"""Every knob of the simulator in one validated dataclass (shared by CLI, handle, fixture)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Optional

__all__ = ["SimConfig"]


@dataclass
class SimConfig:
    """Simulator settings. Durations are host (real) seconds unless named ``*_ms``.

    ``rate`` is market ticks per host second, the same for every symbol. One tick
    yields one ``@depth@100ms``/``@0ms`` event and on average ``trades_per_tick``
    aggTrades per symbol; ``@depth`` (250 ms) and kline updates push every 2.5
    ticks, ``@depth@500ms`` every 5, ``@markPrice`` every 30 (``@1s``: 10).
    ``clock_speed`` only stretches exchange time: at 60, a 1m kline closes every
    host second whatever the rate.
    """

    symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")
    host: str = "127.0.0.1"
    port: int = 0
    seed: int = 1
    rate: float = 10.0
    trades_per_tick: float = 1.0
    updates_per_tick: float = 4.0
    book_levels: int = 400
    clock_start_ms: Optional[int] = None
    clock_speed: float = 1.0
    # REST limits (the weight window is the simulated UTC minute)
    weight_limit: int = 2400
    ban_after_429: int = 5
    ban_seconds: float = 120.0  # simulated seconds, like the minute window
    # WebSocket limits and keep-alive
    max_streams: int = 1024
    max_incoming_per_s: int = 10
    ping_interval: Optional[float] = 180.0
    pong_timeout: float = 600.0
    max_lifetime: Optional[float] = 86_400.0
    max_outbox: int = 200_000
    # Truth retention (rows per log); bounds memory on long or heavy runs
    truth_limit: int = 200_000
    # Scheduled faults (all off by default; the Faults API sets the same things at runtime)
    drop_every: Optional[float] = None
    drop_after_frames: Optional[int] = None
    stall_every: Optional[float] = None
    stall_for: float = 5.0
    gap_every: Optional[float] = None
    malformed_every: Optional[float] = None
    snapshot_delay: float = 0.0
    stale_snapshot_every: Optional[int] = None
    rest_error_every: Optional[int] = None
    rest_error_status: int = 503

    def __post_init__(self) -> None:
        if isinstance(self.symbols, str):
            self.symbols = tuple(s for s in self.symbols.split(",") if s)
        self.symbols = tuple(s.strip() for s in self.symbols)
        self.validate()

    def validate(self) -> None:
        """Raise ValueError with one clear line for the first bad setting."""
        if not self.symbols:
            raise ValueError("at least one symbol is needed")
        for s in self.symbols:
            if not s or s != s.upper() or not all(ch.isalnum() or ch == "_" for ch in s):
                raise ValueError(f"symbol {s!r} must be upper-case letters, digits or '_'")
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError("symbols must not repeat")
        if self.host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"the simulator binds loopback only, not {self.host!r}")
        positive = {
            "rate": self.rate,
            "clock_speed": self.clock_speed,
            "pong_timeout": self.pong_timeout,
            "stall_for": self.stall_for,
            "ban_seconds": self.ban_seconds,
        }
        for name, value in positive.items():
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        if self.rate > 5000:
            raise ValueError(f"rate {self.rate} ticks/s is beyond what one process can drive")
        if not 10 <= self.book_levels <= 990:
            raise ValueError("book_levels must be 10..990 (a 1000-level snapshot covers it all)")
        if self.trades_per_tick < 0 or self.updates_per_tick < 1:
            raise ValueError("trades_per_tick must be >= 0 and updates_per_tick >= 1")
        if self.truth_limit < 10_000:
            raise ValueError("truth_limit must be >= 10000 rows")
        for name in ("weight_limit", "max_streams", "max_incoming_per_s", "max_outbox"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        optional_positive = (
            "ping_interval",
            "max_lifetime",
            "drop_every",
            "drop_after_frames",
            "stall_every",
            "gap_every",
            "malformed_every",
            "stale_snapshot_every",
            "rest_error_every",
        )
        for name in optional_positive:
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0 or unset, got {value}")
        if self.stall_every is not None and self.stall_every <= self.stall_for:
            raise ValueError("stall_every must be longer than stall_for")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535, got {self.port}")
        if self.snapshot_delay < 0:
            raise ValueError("snapshot_delay must be >= 0")
        if not 400 <= self.rest_error_status <= 599:
            raise ValueError("rest_error_status must be an HTTP error status (400..599)")

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> SimConfig:
        """Like the constructor but with a clear error naming an unknown setting."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise TypeError(f"unknown simulator setting(s): {', '.join(unknown)}")
        return cls(**kwargs)
