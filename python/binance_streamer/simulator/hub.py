"""Who is subscribed to what, and fan-out of engine frames to connections.

Each event's text is built once by the engine; the combined-stream wrapper is
built once per event too and shared by every combined connection. Frames are
appended to per-connection outboxes and written by each connection's own
sender task, so one slow client never delays the tick loop or the others.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Optional

from . import payloads
from .faults import malformed_payload
from .truth import KIND_MALFORMED, MalformedRecord, Truth

if TYPE_CHECKING:
    from .engine import Frame
    from .websocket import Connection

__all__ = ["Hub"]


class Hub:
    """Subscription index (stream name -> connections) for deliverable streams only."""

    def __init__(self, truth: Truth, max_outbox: int) -> None:
        self.truth = truth
        self.max_outbox = max_outbox
        self.conns: dict[int, Connection] = {}
        self.subscribers: dict[str, set[Connection]] = {}  # the engine's "wanted" set
        self.last_payload: dict[str, str] = {}
        self._next_id = 1

    def new_id(self) -> int:
        conn_id, self._next_id = self._next_id, self._next_id + 1
        return conn_id

    def add(self, conn: Connection) -> None:
        self.conns[conn.conn_id] = conn

    def remove(self, conn: Connection) -> None:
        self.conns.pop(conn.conn_id, None)
        for name in list(conn.delivering):
            self.unsubscribe(conn, name)

    def subscribe(self, conn: Connection, name: str) -> None:
        self.subscribers.setdefault(name, set()).add(conn)
        conn.delivering.add(name)

    def unsubscribe(self, conn: Connection, name: str) -> None:
        conn.delivering.discard(name)
        subs = self.subscribers.get(name)
        if subs is not None:
            subs.discard(conn)
            if not subs:
                del self.subscribers[name]

    def dispatch(self, frames: Iterable[Frame]) -> None:
        subscribers, code_of, last = self.subscribers, self.truth.stream_code, self.last_payload
        touched: set[Connection] = set()
        for name, kind, seq, payload in frames:
            conns = subscribers.get(name)
            if not conns:
                continue
            last[name] = payload
            code = code_of(name)
            wrapped: Optional[str] = None
            for conn in conns:
                if conn.combined:
                    if wrapped is None:
                        wrapped = payloads.combined(name, payload)
                    conn.outbox.append((code, kind, seq, wrapped))
                else:
                    conn.outbox.append((code, kind, seq, payload))
                touched.add(conn)
        for conn in touched:
            if len(conn.outbox) > self.max_outbox:
                conn.drop(False, "slow consumer: outbox over max_outbox", code=1008)
            else:
                conn.wake.set()

    def drop(self, route: Optional[str], graceful: bool, reason: str) -> int:
        victims = [c for c in self.conns.values() if route is None or c.route == route]
        for conn in victims:
            conn.drop(graceful, reason)
        return len(victims)

    def inject_malformed(self, kind: str, route: Optional[str], count: int) -> int:
        sent = 0
        now = time.time()
        for conn in list(self.conns.values()):
            if route is not None and conn.route != route or not conn.delivering:
                continue
            stream = sorted(conn.delivering)[0]
            symbol = stream.partition("@")[0].upper()
            sim_ms = conn.clock.now_ms()
            for _ in range(count):
                text = malformed_payload(kind, self.last_payload.get(stream), symbol, sim_ms)
                if conn.combined:
                    text = payloads.combined(stream, text)
                conn.outbox.append((self.truth.stream_code(stream), KIND_MALFORMED, -1, text))
                self.truth.malformed_frames.append(MalformedRecord(conn.conn_id, kind, stream, text, now))
                sent += 1
            conn.wake.set()
        return sent
