"""Faults a test (or the CLI's schedule) can inject, and the state the server consults.

:class:`FaultState` lives on the server's event-loop thread and is read on the
hot paths. :class:`Faults` is the public, thread-safe handle: every method runs
its change on the loop thread (blocking until done when called from another
thread), so after ``sim.faults.drop_connections()`` returns, the drop has
happened and is visible in ``sim.truth``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, TypeVar

from .config import SimConfig

if TYPE_CHECKING:
    from .server import SimServer

__all__ = ["MALFORMED_KINDS", "FaultState", "Faults", "ForcedStatus", "malformed_payload"]

MALFORMED_KINDS = ("not_json", "missing_field", "wrong_type", "unknown_event")
_T = TypeVar("_T")

# Per event type: the field removed by "missing_field" / retyped by "wrong_type".
_KEY_FIELD = {
    "aggTrade": "a",
    "depthUpdate": "u",
    "kline": "k",
    "bookTicker": "u",
    "markPriceUpdate": "p",
}


@dataclass
class ForcedStatus:
    status: int
    remaining: int
    retry_after: Optional[float]
    path: Optional[str]  # None = any REST path


def malformed_payload(kind: str, last_payload: Optional[str], symbol: str, sim_ms: int) -> str:
    """A broken event in the style of ``kind``, derived from a real recent payload."""
    if kind not in MALFORMED_KINDS:
        raise ValueError(f"malformed kind must be one of {MALFORMED_KINDS}, got {kind!r}")
    if kind == "unknown_event" or last_payload is None:
        return json.dumps({"e": "simUnknownEvent", "E": sim_ms, "s": symbol}, separators=(",", ":"))
    if kind == "not_json":
        return last_payload[: max(1, len(last_payload) // 2)]
    event: dict[str, Any] = json.loads(last_payload)
    key = _KEY_FIELD.get(event.get("e", ""), "E")
    if kind == "missing_field":
        event.pop(key, None)
    else:  # wrong_type: numbers become strings and strings numbers
        value = event.get(key)
        event[key] = str(value) if isinstance(value, int) else 12345.6
        event["E"] = str(event.get("E"))
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


class FaultState:
    """Current fault settings (event-loop thread only)."""

    def __init__(self, cfg: SimConfig, now: float) -> None:
        self.stall_until: dict[Optional[str], float] = {}
        self.drop_after_frames: Optional[int] = cfg.drop_after_frames
        self.drop_after_route: Optional[str] = None
        self.drop_every: Optional[float] = cfg.drop_every
        self.drop_every_route: Optional[str] = None
        self.next_drop = now + (cfg.drop_every or 0.0)
        self.ping_interval: Optional[float] = cfg.ping_interval
        self.pong_timeout: float = cfg.pong_timeout
        self.max_lifetime: Optional[float] = cfg.max_lifetime
        self.stale_pending: dict[Optional[str], int] = {}
        self.snapshot_delay: float = cfg.snapshot_delay
        self.snapshot_delay_left: Optional[int] = None  # None = every snapshot
        self.forced: list[ForcedStatus] = []
        # schedules from the config (host seconds / request counts)
        self.gap_every = cfg.gap_every
        self.next_gap = now + (cfg.gap_every or 0.0)
        self.malformed_every = cfg.malformed_every
        self.next_malformed = now + (cfg.malformed_every or 0.0)
        self.malformed_turn = 0
        self.stall_every = cfg.stall_every
        self.stall_for = cfg.stall_for
        self.next_stall = now + (cfg.stall_every or 0.0)
        self.stale_every = cfg.stale_snapshot_every
        self.snapshots_served = 0
        self.rest_error_every = cfg.rest_error_every
        self.rest_error_status = cfg.rest_error_status
        self.rest_requests = 0

    def stalled(self, route: str, now: float) -> bool:
        until = self.stall_until
        return bool(until) and (until.get(None, 0.0) > now or until.get(route, 0.0) > now)

    def take_forced(self, path: str) -> Optional[ForcedStatus]:
        for f in self.forced:
            if f.path is None or f.path == path:
                f.remaining -= 1
                if f.remaining <= 0:
                    self.forced.remove(f)
                return f
        return None

    def take_stale(self, symbol: str) -> bool:
        for key in (symbol, None):
            left = self.stale_pending.get(key, 0)
            if left > 0:
                self.stale_pending[key] = left - 1
                return True
        return False

    def take_delay(self) -> float:
        if self.snapshot_delay <= 0:
            return 0.0
        if self.snapshot_delay_left is not None:
            if self.snapshot_delay_left <= 0:
                return 0.0
            self.snapshot_delay_left -= 1
        return self.snapshot_delay


def _route_arg(route: Optional[str]) -> Optional[str]:
    if route not in (None, "public", "market", "legacy"):
        raise ValueError(f"route must be 'public', 'market', 'legacy' or None, got {route!r}")
    return route


class Faults:
    """Scriptable faults. Thread-safe; each call returns once the fault is in effect."""

    def __init__(self, server: SimServer) -> None:
        self._server = server

    def _run(self, fn: Callable[[], _T]) -> _T:
        return self._server.call_in_loop(fn)

    def _note(self, kind: str, detail: str) -> None:
        self._server.truth.note_fault(time.time(), kind, detail)

    # -- WebSocket ---------------------------------------------------------

    def drop_connections(self, route: Optional[str] = None, *, graceful: bool = False) -> int:
        """Drop every open WebSocket now (TCP reset; ``graceful`` sends close 1001).

        Returns how many were dropped."""
        route = _route_arg(route)

        def go() -> int:
            n = self._server.hub.drop(route, graceful, "fault: drop_connections")
            self._note("drop_connections", f"route={route} graceful={graceful} dropped={n}")
            return n

        return self._run(go)

    def drop_every(self, seconds: Optional[float], route: Optional[str] = None) -> None:
        """Drop the connections every ``seconds`` (None stops it)."""
        route = _route_arg(route)
        if seconds is not None and seconds <= 0:
            raise ValueError("drop_every needs seconds > 0 or None")

        def go() -> None:
            st = self._server.fault_state
            st.drop_every, st.drop_every_route = seconds, route
            st.next_drop = time.monotonic() + (seconds or 0.0)
            self._note("drop_every", f"seconds={seconds} route={route}")

        self._run(go)

    def drop_after_frames(self, frames: Optional[int], route: Optional[str] = None) -> None:
        """Drop each connection once it has been sent ``frames`` more data frames."""
        route = _route_arg(route)
        if frames is not None and frames < 1:
            raise ValueError("drop_after_frames needs frames >= 1 or None")

        def go() -> None:
            st = self._server.fault_state
            st.drop_after_frames, st.drop_after_route = frames, route
            for conn in self._server.hub.conns.values():
                if route is None or conn.route == route:
                    conn.drop_at = None if frames is None else conn.sent + frames
            self._note("drop_after_frames", f"frames={frames} route={route}")

        self._run(go)

    def stall(self, seconds: float, route: Optional[str] = None) -> None:
        """Keep connections open but send nothing (no data, no pings) for ``seconds``.

        Frames generated meanwhile are lost, as when the exchange stalls."""
        route = _route_arg(route)
        if seconds <= 0:
            raise ValueError("stall needs seconds > 0")

        def go() -> None:
            self._server.fault_state.stall_until[route] = time.monotonic() + seconds
            self._note("stall", f"seconds={seconds} route={route}")

        self._run(go)

    def resume(self) -> None:
        """End every stall now."""

        def go() -> None:
            self._server.fault_state.stall_until.clear()
            self._note("resume", "")

        self._run(go)

    def ping(self, interval: Optional[float], pong_timeout: Optional[float] = None) -> None:
        """Send a ping every ``interval`` s; close (1008) a connection that leaves one
        unanswered for ``pong_timeout`` s. A pong counts only if it echoes a ping's payload."""
        if interval is not None and interval <= 0:
            raise ValueError("ping interval must be > 0 or None")
        if pong_timeout is not None and pong_timeout <= 0:
            raise ValueError("pong_timeout must be > 0")

        def go() -> None:
            st = self._server.fault_state
            st.ping_interval = interval
            if pong_timeout is not None:
                st.pong_timeout = pong_timeout
            self._note("ping", f"interval={interval} pong_timeout={st.pong_timeout}")

        self._run(go)

    def max_lifetime(self, seconds: Optional[float]) -> None:
        """Close (1001) connections older than ``seconds``: the 24 h rollover, scaled down."""
        if seconds is not None and seconds <= 0:
            raise ValueError("max_lifetime needs seconds > 0 or None")

        def go() -> None:
            self._server.fault_state.max_lifetime = seconds
            self._note("max_lifetime", f"seconds={seconds}")

        self._run(go)

    def skip_update_id(self, symbol: str) -> list[str]:
        """Withhold the next event of each subscribed depth-diff stream of ``symbol``.

        The following event's ``pu`` then names a ``u`` the client never saw: a
        sequence gap. Returns the affected stream names."""

        def go() -> list[str]:
            engine = self._server.engine
            if symbol not in engine.by_symbol:
                raise KeyError(f"symbol {symbol!r} is not simulated")
            speeds = engine.depth_streams_wanted(symbol)
            st = engine.by_symbol[symbol]
            st.skip_speeds.update(speeds)
            names = [st.depth_names[ms] for ms in speeds]
            self._note("skip_update_id", f"symbol={symbol} streams={names}")
            return names

        return self._run(go)

    def malformed(self, kind: str = "not_json", route: Optional[str] = None, count: int = 1) -> int:
        """Send ``count`` broken frames to every connection with a deliverable stream.

        ``kind``: not_json | missing_field | wrong_type | unknown_event. They are
        extra frames: no real event is lost. Returns the number of frames sent."""
        route = _route_arg(route)
        if kind not in MALFORMED_KINDS:
            raise ValueError(f"malformed kind must be one of {MALFORMED_KINDS}, got {kind!r}")

        def go() -> int:
            n = self._server.hub.inject_malformed(kind, route, count)
            self._note("malformed", f"kind={kind} route={route} frames={n}")
            return n

        return self._run(go)

    # -- REST ----------------------------------------------------------------

    def stale_snapshot(self, symbol: Optional[str] = None, count: int = 1) -> None:
        """Serve the next ``count`` depth snapshots (of ``symbol``, or any) from the oldest
        retained book: older than every event a client can have buffered."""

        def go() -> None:
            st = self._server.fault_state
            st.stale_pending[symbol] = st.stale_pending.get(symbol, 0) + count
            self._note("stale_snapshot", f"symbol={symbol} count={count}")

        self._run(go)

    def slow_snapshots(self, seconds: float, count: Optional[int] = None) -> None:
        """Delay depth responses by ``seconds`` (the book is taken first, then held back).

        ``count`` limits it to the next N snapshots; ``seconds=0`` turns it off."""
        if seconds < 0:
            raise ValueError("slow_snapshots needs seconds >= 0")

        def go() -> None:
            st = self._server.fault_state
            st.snapshot_delay, st.snapshot_delay_left = seconds, count
            self._note("slow_snapshots", f"seconds={seconds} count={count}")

        self._run(go)

    def rest_status(
        self,
        status: int,
        *,
        count: int = 1,
        retry_after: Optional[float] = None,
        path: Optional[str] = "/fapi/v1/depth",
    ) -> None:
        """Answer the next ``count`` requests to ``path`` (None: any) with ``status``
        (5xx, 429, 418, ...), with a ``Retry-After`` header when given. They still cost weight."""
        if not 400 <= status <= 599:
            raise ValueError(f"rest_status needs an HTTP error status, got {status}")
        if count < 1:
            raise ValueError("rest_status needs count >= 1")

        def go() -> None:
            self._server.fault_state.forced.append(ForcedStatus(status, count, retry_after, path))
            self._note("rest_status", f"status={status} count={count} path={path}")

        self._run(go)

    def clear(self) -> None:
        """Remove every fault set at runtime or by the config's schedule."""

        def go() -> None:
            server = self._server
            cfg = server.config
            fresh = FaultState(cfg, time.monotonic())
            fresh.drop_after_frames = fresh.drop_every = None
            fresh.gap_every = fresh.malformed_every = fresh.stall_every = None
            fresh.stale_every = fresh.rest_error_every = None
            fresh.snapshot_delay = 0.0
            server.fault_state = fresh
            for conn in server.hub.conns.values():
                conn.drop_at = None
            for st in server.engine.states:
                st.skip_speeds.clear()
            self._note("clear", "")

        self._run(go)
