"""Micro-benchmark: the websocket receive path with different client libraries.

A worker's per-frame work starts with "get the next frame's bytes from the
socket". This measures only that, plus the two things the collector does to
every frame before the ring (stamp the receive time, read the stream name), for
several ways of writing it, against the same simulator:

- ``websockets+wait_for``: the collector's loop today, ``await
  asyncio.wait_for(ws.recv(decode=False), timeout)`` (websockets' asyncio client)
- ``websockets``: the same without the per-frame ``wait_for``
- ``aiohttp``: ``ClientSession.ws_connect(decode_text=False)``, ``await ws.receive()``
- ``picows``: picows' callback listener (``on_ws_frame``), no coroutine per frame
- each of them again on uvloop's event loop (``+uvloop``), when uvloop is installed

Every client opens the two combined-stream connections a collector worker with
every symbol would (``/public`` depth, ``/market`` aggTrade + kline) and runs in
its own process; the figure is that process's CPU time (user + system, from
``getrusage``) per frame received in the window. Clients whose package is not
installed are skipped.

Run: ``python benches/e2e/ws_clients.py [--symbols 50 --rate 160 --seconds 8]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

if __package__ in (None, ""):  # run as a script: make ``e2e`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from binance_streamer import streams
from binance_streamer.collector.frames import stream_of
from e2e import simproc

STREAMS = ("aggTrade", "depth@100ms", "kline_1m")
CLIENTS = ("websockets+wait_for", "websockets", "aiohttp", "picows")
WARMUP = 2.0


class FrameCounter:
    """What every client does per frame: stamp, route, count."""

    def __init__(self) -> None:
        self.frames = 0
        self.unrouted = 0
        self.last_t_us = 0

    def on_frame(self, frame: bytes) -> None:
        self.last_t_us = time.time_ns() // 1000
        if stream_of(frame) is None:
            self.unrouted += 1
        self.frames += 1


def urls(ws_base: str, symbols: int) -> List[str]:
    by_route: Dict[str, List[str]] = {}
    for sym in simproc.symbol_names(symbols):
        for name in STREAMS:
            by_route.setdefault(streams.route(name), []).append(streams.wire_name(sym, name))
    return [f"{ws_base}/{route}/stream?streams={'/'.join(names)}" for route, names in by_route.items()]


async def _websockets(url: str, counter: FrameCounter, stop: asyncio.Event, wait_for: bool) -> None:
    from websockets.asyncio.client import connect

    async with connect(url, ping_interval=None, compression=None, max_size=16 << 20, max_queue=4096) as ws:
        on_frame = counter.on_frame
        if wait_for:
            while not stop.is_set():
                on_frame(await asyncio.wait_for(ws.recv(decode=False), 1.0))
        else:
            while not stop.is_set():
                on_frame(await ws.recv(decode=False))


async def _aiohttp(url: str, counter: FrameCounter, stop: asyncio.Event) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url, autoping=True, decode_text=False, max_msg_size=16 << 20) as ws:
            on_frame = counter.on_frame
            text = aiohttp.WSMsgType.TEXT
            while not stop.is_set():
                msg = await ws.receive()
                if msg.type is text:
                    on_frame(msg.data)
                elif msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    return


async def _picows(url: str, counter: FrameCounter, stop: asyncio.Event) -> None:
    import picows

    on_frame = counter.on_frame
    text = picows.WSMsgType.TEXT

    class Listener(picows.WSListener):  # type: ignore[misc]
        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            if frame.msg_type == text:
                on_frame(frame.get_payload_as_bytes())

    transport, _ = await picows.ws_connect(Listener, url, enable_auto_pong=True, max_frame_size=16 << 20)
    try:
        await stop.wait()
    finally:
        transport.disconnect()
        await transport.wait_disconnected()


def _runner(client: str) -> Callable[[str, FrameCounter, asyncio.Event], Any]:
    base = client.split("+")[0]
    if base == "websockets":
        wait_for = client.startswith("websockets+wait_for")
        return lambda u, c, s: _websockets(u, c, s, wait_for)
    if base == "aiohttp":
        return _aiohttp
    if base == "picows":
        return _picows
    raise ValueError(f"unknown client {client!r}")


async def _measure(client: str, ws_base: str, symbols: int, seconds: float) -> Dict[str, Any]:
    counter, stop = FrameCounter(), asyncio.Event()
    run = _runner(client)
    tasks = [asyncio.ensure_future(run(u, counter, stop)) for u in urls(ws_base, symbols)]
    await asyncio.sleep(WARMUP)
    r0, f0, t0 = resource.getrusage(resource.RUSAGE_SELF), counter.frames, time.monotonic()
    await asyncio.sleep(seconds)
    r1, f1, t1 = resource.getrusage(resource.RUSAGE_SELF), counter.frames, time.monotonic()
    stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    frames = f1 - f0
    user, system = r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime
    return {
        "client": client,
        "frames": frames,
        "frames_per_s": round(frames / (t1 - t0)),
        "us_per_frame": round((user + system) / frames * 1e6, 2) if frames else None,
        "kernel_us_per_frame": round(system / frames * 1e6, 2) if frames else None,
        "unrouted": counter.unrouted,
    }


def client_main(client: str, ws_base: str, symbols: int, seconds: float) -> None:
    if client.endswith("+uvloop"):
        import uvloop

        uvloop.install()
    print(json.dumps(asyncio.run(_measure(client, ws_base, symbols, seconds))))


def available(client: str) -> bool:
    import importlib.util

    needs = [client.split("+")[0]] + (["uvloop"] if client.endswith("+uvloop") else [])
    return all(importlib.util.find_spec(n) is not None for n in needs)


def run_all(
    symbols: int, rate: float, seconds: float, clients: Optional[List[str]] = None
) -> List[Dict[str, Any]]:
    """Each client in turn, in its own process, against one simulator."""
    from e2e.harness import SimProcess

    chosen = clients or [c for base in CLIENTS for c in (base, base + "+uvloop")]
    results: List[Dict[str, Any]] = []
    with open(os.devnull, "w") as log:
        sim = SimProcess(symbols, rate, log)
        try:
            for client in chosen:
                if not available(client):
                    results.append({"client": client, "skipped": "not installed"})
                    continue
                cmd = [sys.executable, __file__, "--client", client, "--url", sim.ws]
                cmd += ["--symbols", str(symbols), "--seconds", str(seconds)]
                out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
                if out.returncode != 0:
                    results.append({"client": client, "error": out.stderr.strip().splitlines()[-1:]})
                    continue
                results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        finally:
            sim.close()
    return results


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--symbols", type=int, default=50)
    p.add_argument(
        "--rate", type=float, default=160.0, help="simulator ticks/s per symbol (~2.5 frames each)"
    )
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument(
        "--clients", help="comma-separated subset of: " + ", ".join(CLIENTS) + " (each +uvloop too)"
    )
    p.add_argument("--client", help=argparse.SUPPRESS)  # internal: run one client
    p.add_argument("--url", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.client:
        client_main(a.client, a.url, a.symbols, a.seconds)
        return 0
    results = run_all(a.symbols, a.rate, a.seconds, a.clients.split(",") if a.clients else None)
    base = next((r["us_per_frame"] for r in results if r.get("client") == "websockets+wait_for"), None)
    print("| client | frames/s received | CPU µs/frame | of which kernel | vs today |")
    print("|---|---|---|---|---|")
    for r in results:
        if "us_per_frame" not in r or r["us_per_frame"] is None:
            print(f"| {r['client']} | {r.get('skipped') or r.get('error')} | | | |")
            continue
        speed = f"{base / r['us_per_frame']:.2f}x" if base else ""
        print(
            f"| {r['client']} | {r['frames_per_s']} | {r['us_per_frame']} | {r['kernel_us_per_frame']} | {speed} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
