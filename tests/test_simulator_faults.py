"""Every fault can be triggered from a test and is observed by a plain client."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest
import websockets
from sim_client import BookSync, read_frames, rest_get

from binance_streamer.simulator import MALFORMED_KINDS, Simulator

pytestmark = pytest.mark.simulator(rate=100)
AGG = "/market/ws/btcusdt@aggTrade"


async def read_until_closed(url: str, limit: float = 3.0) -> tuple[float, Any, int]:
    """(seconds until the server ended it, close code or None, frames seen)."""
    start = time.monotonic()
    seen = 0
    async with websockets.connect(url) as ws:
        try:
            while time.monotonic() - start < limit:
                await asyncio.wait_for(ws.recv(), limit)
                seen += 1
        except websockets.ConnectionClosed as exc:
            return time.monotonic() - start, exc.rcvd.code if exc.rcvd else None, seen
    return limit, "still open", seen


def test_drop_connections_resets_every_socket(simulator: Simulator) -> None:
    async def scenario() -> list[tuple[float, Any, int]]:
        readers = [
            asyncio.ensure_future(read_until_closed(simulator.ws_base_url + AGG)),
            asyncio.ensure_future(
                read_until_closed(simulator.ws_base_url + "/public/ws/btcusdt@depth@100ms")
            ),
        ]
        await asyncio.sleep(0.3)
        dropped = await asyncio.get_running_loop().run_in_executor(None, simulator.faults.drop_connections)
        assert dropped == 2
        return list(await asyncio.gather(*readers))

    for elapsed, code, seen in asyncio.run(scenario()):
        assert code is None and seen > 0 and elapsed < 2.0  # no close frame: a TCP reset


def test_graceful_drop_on_one_route(simulator: Simulator) -> None:
    async def scenario() -> tuple[Any, Any]:
        market = asyncio.ensure_future(read_until_closed(simulator.ws_base_url + AGG, 1.0))
        public = asyncio.ensure_future(
            read_until_closed(simulator.ws_base_url + "/public/ws/btcusdt@depth@100ms", 1.0)
        )
        await asyncio.sleep(0.3)
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: simulator.faults.drop_connections("market", graceful=True)
        )
        return (await market)[1], (await public)[1]

    assert asyncio.run(scenario()) == (1001, "still open")


def test_drop_after_frames(simulator: Simulator) -> None:
    simulator.faults.drop_after_frames(5)
    _, code, seen = asyncio.run(read_until_closed(simulator.ws_base_url + AGG))
    assert (code, seen) == (None, 5)
    record = simulator.truth.connections()[-1]
    assert record.frames_sent == 5 and "drop_after_frames" in record.close_reason


def test_drop_every(simulator: Simulator) -> None:
    simulator.faults.drop_every(0.3)
    elapsed, code, _ = asyncio.run(read_until_closed(simulator.ws_base_url + AGG))
    assert code is None and elapsed < 0.8
    simulator.faults.drop_every(None)
    assert asyncio.run(read_until_closed(simulator.ws_base_url + AGG, 0.5))[1] == "still open"


def test_stall_keeps_the_socket_open_and_silent(simulator: Simulator) -> None:
    async def scenario() -> tuple[list[float], bool]:
        times: list[float] = []
        async with websockets.connect(simulator.ws_base_url + AGG) as ws:
            await ws.recv()
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, lambda: simulator.faults.stall(0.6))
            stalled_at = time.monotonic()
            while time.monotonic() - stalled_at < 1.2:
                await asyncio.wait_for(ws.recv(), 2.0)
                times.append(time.monotonic() - stalled_at)
            return times, ws.close_code is None

    times, still_open = asyncio.run(scenario())
    assert still_open
    # at most what was already queued arrives at once, then silence until the stall ends
    after = [t for t in times if t > 0.05]
    assert after and after[0] >= 0.55
    assert simulator.truth.connections()[-1].frames_discarded > 0


def test_unanswered_pings_close_the_connection(simulator: Simulator) -> None:
    simulator.faults.ping(0.1, pong_timeout=0.4)

    async def silent_client() -> tuple[list[bytes], Any, float]:
        pings: list[bytes] = []
        start = time.monotonic()
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(simulator.ws_base_url + "/market/ws", autoping=False) as ws:
                async for msg in ws:
                    if msg.type == aiohttp.WSMsgType.PING:
                        pings.append(msg.data)
                return pings, ws.close_code, time.monotonic() - start

    pings, code, elapsed = asyncio.run(silent_client())
    assert code == 1008 and 0.4 <= elapsed < 1.5
    assert pings and all(p.isdigit() and abs(int(p) - simulator.now_ms()) < 10_000 for p in pings)
    # a client that answers (websockets does, echoing the payload) stays connected
    assert asyncio.run(read_until_closed(simulator.ws_base_url + AGG, 1.0))[1] == "still open"


def test_max_lifetime(simulator: Simulator) -> None:
    simulator.faults.max_lifetime(0.4)
    elapsed, code, _ = asyncio.run(read_until_closed(simulator.ws_base_url + AGG))
    assert code == 1001 and 0.35 <= elapsed < 1.0


def test_skipped_update_id_is_a_pu_gap_and_resync_recovers(simulator: Simulator) -> None:
    client = BookSync(simulator.ws_base_url, simulator.rest_base_url, "BTCUSDT")

    async def scenario() -> None:
        task = asyncio.ensure_future(client.run(lambda c: bool(c.gaps) and c.synced and c.applied >= 15))
        while not (client.synced and client.applied >= 5):
            await asyncio.sleep(0.01)
        loop = asyncio.get_running_loop()
        skipped = await loop.run_in_executor(None, simulator.faults.skip_update_id, "BTCUSDT")
        assert skipped == ["btcusdt@depth@100ms"]
        await task

    asyncio.run(scenario())
    (last_u, pu), *_ = client.gaps
    events = simulator.truth.depth_diffs("BTCUSDT", include_withheld=True)
    withheld = [e for e in events if e["_withheld"]]
    assert len(withheld) == 1 and (withheld[0]["pu"], withheld[0]["u"]) == (last_u, pu)
    assert client.bids == simulator.truth.book_at("BTCUSDT", client.last_u or 0).bids


@pytest.mark.parametrize("kind", MALFORMED_KINDS)
def test_malformed_frames(simulator: Simulator, kind: str) -> None:
    async def scenario() -> list[str]:
        got: list[str] = []
        url = simulator.ws_base_url + "/market/stream?streams=btcusdt@aggTrade"
        async with websockets.connect(url) as ws:
            await ws.recv()
            loop = asyncio.get_running_loop()
            sent = await loop.run_in_executor(None, lambda: simulator.faults.malformed(kind, count=2))
            assert sent == 2
            while len(got) < 20:
                got.append(str(await asyncio.wait_for(ws.recv(), 2.0)))
        return got

    def valid(frame: str) -> bool:
        try:
            data = json.loads(frame)["data"]
        except (ValueError, KeyError):
            return False
        return (
            data.get("e") == "aggTrade" and isinstance(data.get("a"), int) and isinstance(data.get("E"), int)
        )

    bad = [f for f in asyncio.run(scenario()) if not valid(f)]
    assert len(bad) == 2
    recorded = [m.text for m in simulator.truth.malformed() if m.kind == kind]
    assert recorded == bad
    if kind == "unknown_event":
        assert json.loads(bad[0])["data"]["e"] == "simUnknownEvent"


def test_stale_snapshot_cannot_be_bridged(simulator: Simulator) -> None:
    simulator.wait_for(lambda: len(simulator.truth.agg_trades("ETHUSDT")) > 20)
    simulator.faults.stale_snapshot("ETHUSDT")
    client = BookSync(simulator.ws_base_url, simulator.rest_base_url, "ETHUSDT")
    asyncio.run(client.run(lambda c: c.synced and c.applied >= 5))
    assert client.stale_snapshots == 1 and client.snapshots == 2
    first, second = simulator.truth.snapshots("ETHUSDT")
    assert first.stale and not second.stale and first.last_update_id < second.last_update_id
    assert client.bids == simulator.truth.book_at("ETHUSDT", client.last_u or 0).bids


def test_slow_snapshot_is_taken_at_request_time(simulator: Simulator) -> None:
    simulator.faults.slow_snapshots(0.5, count=1)
    start = time.monotonic()
    status, _, body = asyncio.run(rest_get(simulator.rest_base_url + "/fapi/v1/depth?symbol=BTCUSDT"))
    assert status == 200 and time.monotonic() - start >= 0.5
    snap = simulator.truth.snapshots("BTCUSDT")[-1]
    assert snap.last_update_id == body["lastUpdateId"]
    assert simulator.truth.last_update_id("BTCUSDT") > body["lastUpdateId"]  # stream moved on
    client = BookSync(simulator.ws_base_url, simulator.rest_base_url, "BTCUSDT")
    simulator.faults.slow_snapshots(0.3)
    asyncio.run(client.run(lambda c: c.synced and c.applied >= 3))
    assert client.bids == simulator.truth.book_at("BTCUSDT", client.last_u or 0).bids


@pytest.mark.parametrize(
    ("status", "retry_after", "code"),
    [(503, None, -1001), (500, None, -1001), (429, 2, -1003), (418, 120, -1003)],
)
def test_rest_status_faults(simulator: Simulator, status: int, retry_after: Any, code: int) -> None:
    simulator.faults.rest_status(status, retry_after=retry_after, count=2)
    url = simulator.rest_base_url + "/fapi/v1/depth?symbol=BTCUSDT&limit=5"
    results = [asyncio.run(rest_get(url)) for _ in range(3)]
    assert [r[0] for r in results] == [status, status, 200]
    for _, headers, body in results[:2]:
        assert body["code"] == code
        assert headers.get("Retry-After") == (None if retry_after is None else str(retry_after))
        assert "X-MBX-USED-WEIGHT-1M" in headers
    # other paths are unaffected
    assert asyncio.run(rest_get(simulator.rest_base_url + "/fapi/v1/ping"))[0] == 200


@pytest.mark.simulator(rate=100, gap_every=0.2, rest_error_every=3, stale_snapshot_every=2)
def test_scheduled_faults_from_the_config(simulator: Simulator) -> None:
    client = BookSync(simulator.ws_base_url, simulator.rest_base_url, "BTCUSDT")
    asyncio.run(client.run(lambda c: len(c.gaps) >= 1 and c.synced and c.applied >= 3, timeout=15))
    assert client.stale_snapshots >= 1
    assert any(kind == "gap_every" for _, kind, _ in simulator.truth.faults())
    ping = simulator.rest_base_url + "/fapi/v1/ping"
    statuses = [asyncio.run(rest_get(ping))[0] for _ in range(3)]
    assert statuses.count(503) == 1


def test_clear_removes_faults(simulator: Simulator) -> None:
    simulator.faults.stall(30)
    simulator.faults.rest_status(503, count=5)
    simulator.faults.clear()
    assert asyncio.run(read_frames(simulator.ws_base_url + AGG, count=3, duration=2)).frames
    assert asyncio.run(rest_get(simulator.rest_base_url + "/fapi/v1/depth?symbol=BTCUSDT"))[0] == 200


def test_fault_arguments_are_checked(simulator: Simulator) -> None:
    with pytest.raises(ValueError, match="route"):
        simulator.faults.drop_connections("private")
    with pytest.raises(ValueError, match="malformed kind"):
        simulator.faults.malformed("garbage")
    with pytest.raises(KeyError, match="not simulated"):
        simulator.faults.skip_update_id("XRPUSDT")
