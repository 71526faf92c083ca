"""``python -m binance_streamer.simulator``: run the local exchange until SIGINT/SIGTERM.

Prints one line with the two base URLs for the collector's config
(``network.ws_base_url`` / ``network.rest_base_url``), then serves; exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from datetime import datetime, timezone
from typing import Optional

from .config import SimConfig
from .server import SimServer

__all__ = ["main", "parse_args"]


def _clock_start(text: str) -> int:
    """Epoch milliseconds, or an ISO-8601 time (UTC unless it has an offset)."""
    if text.isdigit():
        return int(text)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither epoch ms nor an ISO time like 2026-01-01T23:59:00Z"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m binance_streamer.simulator",
        description="Local Binance USDⓈ-M Futures exchange (WebSocket + REST on one port, "
        "127.0.0.1 only) with a seeded market, a fast clock and scriptable faults.",
        epilog="Point the collector at it: network.ws_base_url / network.rest_base_url = "
        "the URLs printed on start. Routes: <ws>/public/... (depth, bookTicker), "
        "<ws>/market/... (aggTrade, kline, markPrice); /ws/<stream> raw, "
        "/stream?streams=a/b combined.",
    )
    net = p.add_argument_group("listening")
    net.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    net.add_argument("--port", type=int, default=9000, help="TCP port; 0 picks a free one")

    mkt = p.add_argument_group("market")
    mkt.add_argument(
        "--symbols",
        default="BTCUSDT,ETHUSDT",
        help="comma-separated upper-case symbols (known ones get real tick/step sizes)",
    )
    mkt.add_argument(
        "--rate",
        type=float,
        default=10.0,
        help="market ticks per second per symbol: one @depth@100ms event and about "
        "--trades-per-tick aggTrades per tick; @depth/kline every 2.5 ticks, @500ms every 5",
    )
    mkt.add_argument("--trades-per-tick", type=float, default=1.0, help="mean aggTrades/tick")
    mkt.add_argument("--updates-per-tick", type=float, default=4.0, help="mean book changes/tick")
    mkt.add_argument("--book-levels", type=int, default=400, help="price band in ticks per side")
    mkt.add_argument("--seed", type=int, default=1, help="seed: same seed, same market")

    clk = p.add_argument_group("clock")
    clk.add_argument(
        "--clock-start",
        type=_clock_start,
        default=None,
        help="simulated start time: epoch ms or ISO time (default: now)",
    )
    clk.add_argument(
        "--clock-speed",
        type=float,
        default=1.0,
        help="simulated seconds per real second (60: a 1m kline closes every second)",
    )

    lim = p.add_argument_group("limits")
    lim.add_argument("--weight-limit", type=int, default=2400, help="REST weight per minute")
    lim.add_argument("--max-streams", type=int, default=1024, help="streams per connection")
    lim.add_argument("--max-incoming-per-s", type=int, default=10, help="client frames/s before close 1008")

    flt = p.add_argument_group("faults (all off unless given)")
    flt.add_argument("--ping-interval", type=float, default=180.0, help="server ping every N s")
    flt.add_argument("--pong-timeout", type=float, default=600.0, help="close if no pong in N s")
    flt.add_argument("--max-lifetime", type=float, default=86_400.0, help="close connections older than N s")
    flt.add_argument("--drop-every", type=float, help="reset every connection every N s")
    flt.add_argument("--drop-after-frames", type=int, help="reset a connection after N frames")
    flt.add_argument("--stall-every", type=float, help="stop sending every N s ...")
    flt.add_argument("--stall-for", type=float, default=5.0, help="... for this many s")
    flt.add_argument("--gap-every", type=float, help="withhold one depth event (pu gap) every N s")
    flt.add_argument(
        "--malformed-every",
        type=float,
        help="send a broken frame every N s (not JSON, missing field, wrong type, unknown event)",
    )
    flt.add_argument("--snapshot-delay", type=float, default=0.0, help="delay depth snapshots")
    flt.add_argument("--stale-snapshot-every", type=int, help="every Nth snapshot older than the stream")
    flt.add_argument("--rest-error-every", type=int, help="every Nth REST request fails")
    flt.add_argument(
        "--rest-error-status", type=int, default=503, help="status of those failures (5xx/429/418)"
    )
    return p


def parse_args(argv: Optional[list[str]] = None) -> SimConfig:
    parser = _parser()
    a = parser.parse_args(argv)
    try:
        return SimConfig(
            symbols=tuple(s.strip() for s in a.symbols.split(",") if s.strip()),
            host=a.host,
            port=a.port,
            seed=a.seed,
            rate=a.rate,
            trades_per_tick=a.trades_per_tick,
            updates_per_tick=a.updates_per_tick,
            book_levels=a.book_levels,
            clock_start_ms=a.clock_start,
            clock_speed=a.clock_speed,
            weight_limit=a.weight_limit,
            max_streams=a.max_streams,
            max_incoming_per_s=a.max_incoming_per_s,
            ping_interval=a.ping_interval,
            pong_timeout=a.pong_timeout,
            max_lifetime=a.max_lifetime,
            drop_every=a.drop_every,
            drop_after_frames=a.drop_after_frames,
            stall_every=a.stall_every,
            stall_for=a.stall_for,
            gap_every=a.gap_every,
            malformed_every=a.malformed_every,
            snapshot_delay=a.snapshot_delay,
            stale_snapshot_every=a.stale_snapshot_every,
            rest_error_every=a.rest_error_every,
            rest_error_status=a.rest_error_status,
        )
    except ValueError as exc:
        parser.error(str(exc))
        raise  # unreachable: parser.error exits


async def _serve(cfg: SimConfig) -> None:
    server = SimServer(cfg)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"ws_base_url={server.ws_base_url} rest_base_url={server.rest_base_url}", flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(argv: Optional[list[str]] = None) -> int:
    cfg = parse_args(argv)
    try:
        asyncio.run(_serve(cfg))
    except OSError as exc:
        print(f"simulator: cannot listen on {cfg.host}:{cfg.port}: {exc.strerror}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
