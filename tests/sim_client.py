"""A plain reference client for the simulator tests (websockets + aiohttp).

It is deliberately independent of the collector: it implements the USDⓈ-M
book rules straight from the protocol notes, so when it agrees with the
simulator's truth both are right, and the collector can later be held to
the same standard.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import aiohttp
import websockets


@dataclass
class Received:
    frames: list[str] = field(default_factory=list)
    close_code: Optional[int] = None
    close_reason: str = ""
    closed: bool = False  # the server ended the connection (any way)

    def json(self) -> list[Any]:
        return [json.loads(f) for f in self.frames]


async def read_frames(
    url: str,
    *,
    duration: float = 1.0,
    count: Optional[int] = None,
    send: Optional[list[Any]] = None,
    **connect_kwargs: Any,
) -> Received:
    """Collect text frames for ``duration`` s (or until ``count``), sending ``send`` first."""
    out = Received()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + duration
    async with websockets.connect(url, max_size=None, **connect_kwargs) as ws:
        for msg in send or ():
            await ws.send(msg if isinstance(msg, str) else json.dumps(msg))
        try:
            while count is None or len(out.frames) < count:
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    frame = await asyncio.wait_for(ws.recv(), left)
                except asyncio.TimeoutError:
                    break
                out.frames.append(frame if isinstance(frame, str) else frame.decode())
        except websockets.ConnectionClosed as exc:
            out.closed = True
            rcvd = exc.rcvd
            out.close_code = rcvd.code if rcvd is not None else None
            out.close_reason = rcvd.reason if rcvd is not None else ""
    return out


async def rest_get(url: str) -> tuple[int, dict[str, str], Any]:
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as resp:
            text = await resp.text()
            try:
                body: Any = json.loads(text)
            except ValueError:
                body = text
            return resp.status, dict(resp.headers), body


class BookSync:
    """Local book for one symbol from ``/public`` diffs + REST snapshots (futures rule).

    States: buffering (waiting for a snapshot that bridges) and synced. A ``pu``
    break or a snapshot older than the buffer triggers a new snapshot while the
    socket keeps buffering, exactly as the protocol notes prescribe.
    """

    def __init__(
        self, ws_base: str, rest_base: str, symbol: str, speed: str = "@100ms", limit: int = 1000
    ) -> None:
        self.ws_url = f"{ws_base}/public/ws/{symbol.lower()}@depth{speed}"
        self.rest_url = f"{rest_base}/fapi/v1/depth?symbol={symbol}&limit={limit}"
        self.bids: dict[str, str] = {}
        self.asks: dict[str, str] = {}
        self.last_u: Optional[int] = None
        self.synced = False
        self.buffer: list[dict[str, Any]] = []
        self.applied = 0
        self.gaps: list[tuple[int, int]] = []  # (last u, pu of the event that broke)
        self.stale_snapshots = 0
        self.snapshots = 0
        self.bad_frames = 0
        self._fetch: Optional[asyncio.Task[None]] = None
        self._session: Optional[aiohttp.ClientSession] = None

    async def run(self, done: Callable[[BookSync], bool], timeout: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with aiohttp.ClientSession() as self._session:
            async with websockets.connect(self.ws_url, max_size=None) as ws:
                while not done(self):
                    left = deadline - loop.time()
                    if left <= 0:
                        raise TimeoutError("book did not reach the wanted state in time")
                    try:
                        frame = await asyncio.wait_for(ws.recv(), min(left, 0.5))
                    except asyncio.TimeoutError:
                        continue
                    self.on_frame(frame)
            if self._fetch is not None:
                self._fetch.cancel()

    def on_frame(self, frame: Any) -> None:
        try:
            event = json.loads(frame)
            first, last, prev = event["U"], event["u"], event["pu"]
            if not all(isinstance(x, int) for x in (first, last, prev)):
                raise TypeError("ids must be ints")
        except (ValueError, KeyError, TypeError):
            self.bad_frames += 1
            return
        if not self.synced:
            self.buffer.append(event)
            self._want_snapshot()
            return
        if prev != self.last_u:
            self.gaps.append((self.last_u or 0, prev))
            self.synced = False
            self.buffer = [event]
            self._want_snapshot()
            return
        self._apply(event)

    def _want_snapshot(self) -> None:
        if self._fetch is None or self._fetch.done():
            self._fetch = asyncio.ensure_future(self._snapshot())

    async def _snapshot(self) -> None:
        assert self._session is not None
        async with self._session.get(self.rest_url) as resp:
            if resp.status != 200:
                await asyncio.sleep(0.05)
                return
            snap = await resp.json()
        self.snapshots += 1
        last_id = snap["lastUpdateId"]
        while True:
            kept = [e for e in self.buffer if e["u"] >= last_id]
            if kept:
                break
            await asyncio.sleep(0.01)  # nothing reaches the snapshot yet: keep buffering
        if kept[0]["U"] > last_id:
            self.stale_snapshots += 1  # older than the buffer: fetch again on the next event
            return
        self.bids = {p: q for p, q in snap["bids"]}
        self.asks = {p: q for p, q in snap["asks"]}
        self.last_u = last_id
        self.buffer = []
        for i, event in enumerate(kept):
            if i and event["pu"] != self.last_u:
                self.gaps.append((self.last_u, event["pu"]))
                self.buffer = kept[i:]
                self._want_snapshot_later()
                return
            self._apply(event)
        self.synced = True

    def _want_snapshot_later(self) -> None:
        asyncio.get_running_loop().call_soon(self._want_snapshot)

    def _apply(self, event: dict[str, Any]) -> None:
        for side, levels in ((self.bids, event["b"]), (self.asks, event["a"])):
            for price, qty in levels:
                if float(qty) == 0.0:
                    side.pop(price, None)
                else:
                    side[price] = qty
        self.last_u = event["u"]
        self.applied += 1
