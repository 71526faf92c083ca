"""One websocket connection (one route, one group of streams), kept alive:
reconnect with backoff and jitter, stall detection, and a no-hole rollover
before Binance's 24-hour limit.

Frames go to ``sink(frame_bytes, local_time_us, stream_name)`` as received.
During a rollover the old and the new socket both deliver for a while: the old
one's frames go through (their per-stream ids noted) while the new one's are
held; when the old socket closes, the held frames with ids beyond the old
one's last are passed on, so each event is delivered once and in order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable, Dict, List, Optional, Tuple

import websockets
from websockets.asyncio.client import ClientConnection, connect

from binance_streamer.collector import frames
from binance_streamer.collector.backoff import Backoff
from binance_streamer.collector.plan import ConnectionPlan
from binance_streamer.config import NetworkConfig

log = logging.getLogger(__name__)

Sink = Callable[[bytes, int, bytes], None]
ROLLOVER_OVERLAP = 5.0  # seconds both sockets run during a rollover


class GiveUp(Exception):
    """max_retries consecutive connection attempts failed."""


class StreamConnection:
    def __init__(
        self,
        plan: ConnectionPlan,
        net: NetworkConfig,
        sink: Sink,
        on_reconnect: Callable[[StreamConnection, str, float], None],
        on_unrouted: Callable[[bytes], None],
    ):
        self.plan = plan
        self.net = net
        self.url = plan.url(net.ws_base_url)
        self.sink = sink
        self.on_reconnect = on_reconnect  # (conn, reason, outage seconds): record gaps, resync
        self.on_unrouted = on_unrouted  # a frame that is not a stream frame
        self.name = (
            f"{plan.route}:{','.join(n for _, n in plan.streams[:3])}{'...' if len(plan.streams) > 3 else ''}"
        )
        self.wire_streams = {w.encode(): w.split("@", 1)[1] for w in plan.wire_names()}
        self.last_frame = time.monotonic()
        self.last_by_stream: Dict[bytes, float] = {}
        self.reconnects = 0
        self.rollovers = 0
        self.connected = False
        self._force_reconnect: Optional[str] = None
        self._why: Optional[str] = None
        self._last_key: Optional[Dict[bytes, int]] = None  # per stream, during a rollover
        self._held: List[Tuple[bytes, int, bytes]] = []
        self._backoff = Backoff(net.reconnect_delay, net.reconnect_max_delay, net.max_retries)

    def request_reconnect(self, reason: str) -> None:
        """Ask the connection to drop its socket and reconnect (e.g. a silent stream)."""
        self._force_reconnect = reason

    async def _open(self) -> ClientConnection:
        return await connect(
            self.url,
            open_timeout=self.net.connect_timeout,
            ping_interval=None,  # Binance pings us; websockets answers with the same payload
            compression=None,
            max_size=16 * 1024 * 1024,
            max_queue=4096,
            close_timeout=2,
        )

    async def run(self, stop: asyncio.Event) -> None:
        down_since: Optional[float] = None
        reason = "start"
        while not stop.is_set():
            try:
                ws = await self._open()
            except (OSError, asyncio.TimeoutError, websockets.InvalidHandshake, websockets.InvalidURI) as exc:
                if self._backoff.exhausted:
                    raise GiveUp(f"{self.url}: {exc}") from None
                delay = self._backoff.next()
                log.warning("connect %s failed (%s); retrying in %.1f s", self.name, exc, delay)
                await _sleep_or_stop(stop, delay)
                continue
            self.connected = True
            self.last_frame = time.monotonic()
            if down_since is not None:
                self.reconnects += 1
                self.on_reconnect(self, reason, time.monotonic() - down_since)
            log.info("connected %s (%d streams)", self.name, len(self.plan.streams))
            healthy_at = time.monotonic() + 60
            reason = await self._serve(ws, stop, healthy_at)
            self.connected = False
            down_since = time.monotonic()
            if stop.is_set():
                break
            delay = self._backoff.next()
            log.warning("connection %s lost (%s); reconnecting in %.1f s", self.name, reason, delay)
            await _sleep_or_stop(stop, delay)

    async def _serve(self, ws: ClientConnection, stop: asyncio.Event, healthy_at: float) -> str:
        """Read frames until the socket fails, stalls, is replaced or we stop; say why.

        The read loop is a bare ``await recv()``: a per-frame ``wait_for`` costs a
        task and a timer per frame (measured: 3x the receive path's CPU). Stalls,
        stops, forced reconnects and rollovers are a watchdog's job, which aborts
        the socket so that ``recv()`` raises.
        """
        st = _Sockets(ws)
        self._why = None
        watchdog = asyncio.ensure_future(self._watch(st, stop, healthy_at))
        try:
            while True:
                try:
                    frame = await st.ws.recv(decode=False)
                except websockets.ConnectionClosed as exc:
                    if st.switching and st.new is not None:
                        await self._switch(st)
                        continue
                    return self._why or f"closed by server: {exc}"
                self._deliver(frame, hold=False)
        finally:
            watchdog.cancel()
            if st.hold_task is not None:
                st.hold_task.cancel()
            for sock in (st.ws, st.new):
                if sock is not None:
                    _abort(sock)

    async def _watch(self, st: _Sockets, stop: asyncio.Event, healthy_at: float) -> None:
        opened = time.monotonic()
        lifetime = self.net.connection_lifetime
        tick = min(0.25, self.net.stall_timeout / 4)
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            if now > healthy_at:
                self._backoff.reset()
            why = None
            if stop.is_set():
                why = "stopping"
            elif self._force_reconnect is not None:
                why, self._force_reconnect = self._force_reconnect, None
            elif now - self.last_frame > self.net.stall_timeout:
                why = f"stall: no frame for {self.net.stall_timeout:g} s"
            if why is not None:
                self._why = why
                _abort(st.ws)
                return
            if st.new is None and now - opened > lifetime:
                # Rollover: open the replacement; the old socket keeps delivering
                # for ROLLOVER_OVERLAP seconds while the new one's frames are held.
                try:
                    new = await self._open()
                except (OSError, asyncio.TimeoutError, websockets.WebSocketException) as exc:
                    log.warning("rollover of %s: opening the replacement failed (%s)", self.name, exc)
                    opened = now - lifetime + min(30.0, lifetime)
                    continue
                self._last_key, self._held = {}, []
                st.new, st.switch_at = new, time.monotonic() + ROLLOVER_OVERLAP
                st.hold_task = asyncio.ensure_future(self._hold(new))
                self.rollovers += 1
                log.info(
                    "rollover of %s: replacement connected, overlapping %.0f s", self.name, ROLLOVER_OVERLAP
                )
            elif st.new is not None and not st.switching and now >= st.switch_at:
                st.switching = True
                opened = st.switch_at - ROLLOVER_OVERLAP
                _abort(st.ws)  # the read loop sees the close and switches over

    async def _hold(self, new: ClientConnection) -> None:
        """Read the replacement socket during a rollover, holding its frames."""
        try:
            while True:
                self._deliver(await new.recv(decode=False), hold=True)
        except websockets.ConnectionClosed:
            pass

    async def _switch(self, st: _Sockets) -> None:
        """End of a rollover: the old socket is gone; continue on the new one."""
        assert st.hold_task is not None and st.new is not None
        st.hold_task.cancel()  # recv() is cancellation-safe: no frame is lost
        await asyncio.gather(st.hold_task, return_exceptions=True)
        self._release_held()
        st.ws, st.new, st.hold_task, st.switching = st.new, None, None, False

    def _deliver(self, frame: bytes | str, hold: bool) -> None:
        if isinstance(frame, str):  # a text frame decoded anyway (should not happen)
            frame = frame.encode()
        t_us = time.time_ns() // 1000
        now = time.monotonic()
        self.last_frame = now
        stream = frames.stream_of(frame)
        if stream is None or stream not in self.wire_streams:
            self.on_unrouted(frame)
            return
        self.last_by_stream[stream] = now
        if hold:
            self._held.append((frame, t_us, stream))
            return
        if self._last_key is not None:
            key = frames.dedupe_key(self.wire_streams[stream], frame)
            if key is not None:
                self._last_key[stream] = max(key, self._last_key.get(stream, -1))
        self.sink(frame, t_us, stream)

    def _release_held(self) -> None:
        """End of a rollover: pass on the new socket's frames the old one did not deliver."""
        last, held = self._last_key or {}, self._held
        self._last_key, self._held = None, []
        passed = 0
        for frame, t_us, stream in held:
            key = frames.dedupe_key(self.wire_streams[stream], frame)
            if key is not None and key <= last.get(stream, -1):
                continue
            passed += 1
            self.sink(frame, t_us, stream)
        log.info("rollover of %s complete: %d held frames, %d new", self.name, len(held), passed)


class _Sockets:
    """The socket being read and, during a rollover, its replacement."""

    def __init__(self, ws: ClientConnection):
        self.ws = ws
        self.new: Optional[ClientConnection] = None
        self.hold_task: Optional[asyncio.Future[None]] = None
        self.switch_at = 0.0
        self.switching = False


def _abort(ws: ClientConnection) -> None:
    """Drop the TCP connection now: a pending ``recv()`` raises ConnectionClosed."""
    transport = getattr(ws, "transport", None)
    if transport is not None:
        transport.abort()


async def _sleep_or_stop(stop: asyncio.Event, delay: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), delay)
    except asyncio.TimeoutError:
        pass
