"""One WebSocket connection: control messages, limits, keep-alive and the sender.

Replies and limits follow Binance USDⓈ-M:

- ``{"method":"SUBSCRIBE"|"UNSUBSCRIBE","params":[...],"id":N}`` -> ``{"result":null,"id":N}``
  whatever the streams are (unknown, upper-case and wrong-route ones are acked and silent);
  ``LIST_SUBSCRIPTIONS`` lists them; ``SET_PROPERTY``/``GET_PROPERTY`` ``combined``.
- more than ``max_streams`` (1024) streams -> ``{"error":{"code":4,"msg":"Too many
  subscriptions"}}`` then close 1008; more than ``max_incoming_per_s`` (10) incoming
  frames of any kind (text, ping, pong) in one second -> close 1008 "Too many requests";
  unparsable JSON -> error code 3 then close 1008; other bad requests -> error code 2.
- server pings carry the simulated ms time as payload; only a pong echoing one keeps
  the connection alive.
"""

from __future__ import annotations

import asyncio
import json
import struct
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Optional

from aiohttp import WSMsgType, web

from .streams import delivered_on, parse_stream
from .truth import ConnectionRecord

if TYPE_CHECKING:
    from .clock import SimClock
    from .server import SimServer

__all__ = ["Connection", "handle_ws"]

_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_WRITE_HIGH = 1 << 20
_HEAD_SHORT = struct.Struct("!BB").pack
_HEAD_MEDIUM = struct.Struct("!BBH").pack
_HEAD_LONG = struct.Struct("!BBQ").pack


def text_frame(text: str) -> bytes:
    """One final, unmasked, uncompressed text frame (RFC 6455 5.2), as servers send."""
    data = text.encode()
    n = len(data)
    if n < 126:
        return _HEAD_SHORT(0x81, n) + data
    if n < 65536:
        return _HEAD_MEDIUM(0x81, 126, n) + data
    return _HEAD_LONG(0x81, 127, n) + data


class Connection:
    """Server side of one client socket (event-loop thread only)."""

    def __init__(
        self,
        server: SimServer,
        ws: web.WebSocketResponse,
        request: web.Request,
        route: str,
        combined: bool,
    ) -> None:
        self.server = server
        self.ws = ws
        self.request = request
        self.conn_id = server.hub.new_id()
        self.route = route
        self.combined = combined
        self.clock: SimClock = server.clock
        self.streams: list[str] = []  # subscription order, as LIST_SUBSCRIPTIONS reports
        self.delivering: set[str] = set()  # subset the hub routes frames for
        self.outbox: list[tuple[int, int, int, str]] = []
        self.wake = asyncio.Event()
        self.sent = 0
        self.opened = time.monotonic()
        self.incoming: deque[float] = deque()
        self.pings: dict[bytes, float] = {}  # outstanding ping payload -> sent at
        self.last_ping = self.opened
        self.closing = False
        self.close_task: Optional[asyncio.Future[None]] = None
        faults = server.fault_state
        self.drop_at: Optional[int] = None
        if faults.drop_after_frames is not None and faults.drop_after_route in (None, route):
            self.drop_at = faults.drop_after_frames
        self.record = ConnectionRecord(self.conn_id, request.path_qs, route, combined, time.time())

    # -- subscriptions -------------------------------------------------------

    def add_streams(self, names: list[str]) -> bool:
        """Subscribe; False when the stream limit is exceeded (caller closes)."""
        hub, symbols = self.server.hub, self.server.engine.by_symbol
        for name in names:
            if name in self.streams:
                continue
            self.streams.append(name)
            spec = parse_stream(name)
            if spec is not None and spec.symbol in symbols and delivered_on(spec, self.route):
                hub.subscribe(self, name)
        self.record.streams = list(self.streams)
        return len(self.streams) <= self.server.config.max_streams

    def remove_streams(self, names: list[str]) -> None:
        for name in names:
            if name in self.streams:
                self.streams.remove(name)
                self.server.hub.unsubscribe(self, name)
        self.record.streams = list(self.streams)

    # -- sending ---------------------------------------------------------------

    async def sender(self) -> None:
        """Write queued frames, all of a batch in one transport write.

        aiohttp's ``send_str`` costs one ``send()`` syscall per frame, which at tens
        of thousands of frames per second is most of the server's time. Server
        frames are unmasked, so encoding them here is a few bytes of header; every
        write to the transport is a whole frame, so they interleave safely with the
        control replies and pings aiohttp writes itself. One timestamp per batch.
        """
        truth, server = self.server.truth, self.server
        append = truth.deliveries.append
        cid = self.conn_id
        while not self.closing:
            await self.wake.wait()
            self.wake.clear()
            if not self.outbox:
                continue
            batch, self.outbox = self.outbox, []
            if server.fault_state.stalled(self.route, time.monotonic()):
                self.record.frames_discarded += len(batch)
                continue
            transport = self.request.transport
            if transport is None or transport.is_closing():
                self.drop(False, "send failed: client gone")
                return
            wall_us = int(time.time() * 1e6)
            sim_ms = self.clock.now_ms()
            chunks = []
            drop_at = self.drop_at
            for code, kind, seq, text in batch:
                chunks.append(text_frame(text))
                self.sent += 1
                append((cid, code, kind, seq, wall_us, sim_ms))
                if drop_at is not None and self.sent >= drop_at:
                    break
            transport.write(b"".join(chunks))
            self.record.frames_sent = self.sent
            if drop_at is not None and self.sent >= drop_at:
                self.drop(False, f"fault: drop_after_frames at {self.sent}")
                return
            while transport.get_write_buffer_size() > _WRITE_HIGH and not self.closing:
                await asyncio.sleep(0.002)  # a slow reader: let its buffer drain

    async def send_json(self, obj: Any) -> None:
        if not self.closing:
            try:
                await self.ws.send_str(_DUMPS(obj))
            except (ConnectionError, RuntimeError):
                self.drop(False, "send failed: client gone")

    def drop(self, graceful: bool, reason: str, code: int = 1001) -> None:
        """Close now: graceful sends a close frame, otherwise the TCP connection is reset."""
        if self.closing:
            return
        self.closing = True
        self.record.close_reason = reason
        self.wake.set()
        if graceful or code != 1001:
            self.close_task = self.server.spawn(self._close(code, reason))
        else:
            transport = self.request.transport
            if transport is not None:
                transport.abort()

    async def _close(self, code: int, reason: str) -> None:
        try:
            await self.ws.close(code=code, message=reason.encode()[:120])
        except (ConnectionError, RuntimeError):
            pass
        transport = self.request.transport
        if transport is not None and not transport.is_closing():
            transport.abort()

    # -- keep-alive and limits (called by the server's housekeeping) ----------

    def housekeeping(self, now: float) -> None:
        faults = self.server.fault_state
        if self.closing:
            return
        if faults.max_lifetime is not None and now - self.opened >= faults.max_lifetime:
            self.drop(True, "max connection lifetime reached", code=1001)
            return
        if self.pings and now - min(self.pings.values()) >= faults.pong_timeout:
            self.drop(True, "pong timeout", code=1008)
            return
        if (
            faults.ping_interval is not None
            and now - self.last_ping >= faults.ping_interval
            and not faults.stalled(self.route, now)
        ):
            self.last_ping = now
            payload = str(self.clock.now_ms()).encode()
            self.pings[payload] = now
            self.server.spawn(self._ping(payload))

    async def _ping(self, payload: bytes) -> None:
        try:
            await self.ws.ping(payload)
        except (ConnectionError, RuntimeError):
            self.drop(False, "send failed: client gone")

    def over_incoming_limit(self, now: float) -> bool:
        q = self.incoming
        q.append(now)
        while q and q[0] <= now - 1.0:
            q.popleft()
        return len(q) > self.server.config.max_incoming_per_s

    # -- control messages ------------------------------------------------------

    async def on_text(self, text: str) -> None:
        try:
            req = json.loads(text)
        except ValueError as exc:
            await self.send_json({"error": {"code": 3, "msg": f"Invalid JSON: {exc}"}})
            self.drop(True, "invalid JSON from client", code=1008)
            return
        req_id = req.get("id") if isinstance(req, dict) else None
        if not isinstance(req, dict):
            await self._error(2, "Invalid request: expected an object", None)
            return
        if not isinstance(req_id, int) or isinstance(req_id, bool) or req_id < 0:
            await self._error(2, "Invalid request: request ID must be an unsigned integer", None)
            return
        method, params = req.get("method"), req.get("params")
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
                await self._error(2, "Invalid request: params must be a list of strings", req_id)
                return
            if method == "UNSUBSCRIBE":
                self.remove_streams(params)
            elif not self.add_streams(params):
                await self.too_many_subscriptions(req_id)
                return
            await self.send_json({"result": None, "id": req_id})
        elif method == "LIST_SUBSCRIPTIONS":
            await self.send_json({"result": list(self.streams), "id": req_id})
        elif method == "SET_PROPERTY":
            if not isinstance(params, list) or len(params) != 2 or params[0] != "combined":
                await self._error(0, "Unknown property", req_id)
            elif not isinstance(params[1], bool):
                await self._error(1, "Invalid value type: expected Boolean", req_id)
            else:
                self.combined = params[1]
                await self.send_json({"result": None, "id": req_id})
        elif method == "GET_PROPERTY":
            if params != ["combined"]:
                await self._error(0, "Unknown property", req_id)
            else:
                await self.send_json({"result": self.combined, "id": req_id})
        else:
            await self._error(2, f"Invalid request: unknown method {method!r}", req_id)

    async def _error(self, code: int, msg: str, req_id: Optional[int]) -> None:
        reply: dict[str, Any] = {"error": {"code": code, "msg": msg}}
        if req_id is not None:
            reply["id"] = req_id
        await self.send_json(reply)

    async def too_many_subscriptions(self, req_id: Optional[int]) -> None:
        await self._error(4, "Too many subscriptions", req_id)
        self.drop(True, "too many subscriptions", code=1008)


async def handle_ws(
    server: SimServer, request: web.Request, route: str, combined: bool, streams: tuple[str, ...]
) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(autoping=False, compress=False, timeout=1.0, max_msg_size=1 << 20)
    await ws.prepare(request)
    conn = Connection(server, ws, request, route, combined)
    hub, truth = server.hub, server.truth
    hub.add(conn)
    with truth.lock:
        truth.conns[conn.conn_id] = conn.record
    sender = asyncio.ensure_future(conn.sender())
    try:
        if not conn.add_streams(list(streams)):
            await conn.too_many_subscriptions(None)
        async for msg in ws:
            if conn.closing:
                break
            now = time.monotonic()
            if conn.over_incoming_limit(now):
                conn.drop(True, "Too many requests", code=1008)
                break
            if msg.type == WSMsgType.TEXT:
                await conn.on_text(msg.data)
            elif msg.type == WSMsgType.PING:
                await ws.pong(msg.data)
            elif msg.type == WSMsgType.PONG:
                if bytes(msg.data) in conn.pings:
                    conn.pings.clear()  # the client is alive; older pings are moot
            elif msg.type == WSMsgType.BINARY:
                await conn.send_json({"error": {"code": 3, "msg": "Invalid JSON: binary frame"}})
                conn.drop(True, "binary frame from client", code=1008)
                break
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        if not conn.closing:
            conn.closing = True
            conn.record.close_reason = conn.record.close_reason or "closed by client"
        conn.wake.set()
        hub.remove(conn)
        conn.record.frames_sent = conn.sent
        conn.record.closed_wall = time.time()
        sender.cancel()
        if conn.close_task is not None:
            await asyncio.wait([conn.close_task], timeout=2.0)
    return ws
