"""REST: weights and their header, limits and bans, error codes, backfill endpoints."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import websockets
from sim_client import rest_get

from binance_streamer.simulator import Simulator

pytestmark = pytest.mark.simulator(rate=100)


def get(sim: Simulator, path: str) -> tuple[int, dict[str, str], Any]:
    return asyncio.run(rest_get(sim.rest_base_url + path))


def test_weights_accumulate_in_the_header(simulator: Simulator) -> None:
    used = []
    for path in (
        "/fapi/v1/ping",  # 1
        "/fapi/v1/depth?symbol=BTCUSDT&limit=5",  # 2
        "/fapi/v1/depth?symbol=BTCUSDT&limit=100",  # 5
        "/fapi/v1/depth?symbol=BTCUSDT",  # 10 (default 500)
        "/fapi/v1/depth?symbol=BTCUSDT&limit=1000",  # 20
        "/fapi/v1/exchangeInfo",  # 1
        "/fapi/v1/aggTrades?symbol=BTCUSDT",  # 20
        "/fapi/v1/klines?symbol=BTCUSDT&interval=1m&limit=1000",  # 5
    ):
        status, headers, _ = get(simulator, path)
        assert status == 200
        used.append(int(headers["X-MBX-USED-WEIGHT-1M"]))
    steps = [b - a for a, b in zip([0, *used], used)]
    assert steps == [1, 2, 5, 10, 20, 1, 20, 5]


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/fapi/v1/depth?symbol=BTCUSDT&limit=7", -4021),
        ("/fapi/v1/depth?symbol=BTCUSDT&limit=5000", -4021),
        ("/fapi/v1/depth?symbol=BTCUSD", -1121),
        ("/fapi/v1/depth?symbol=btcusdt", -1121),
        ("/fapi/v1/depth", -1102),
        ("/fapi/v1/depth?symbol=BTCUSDT&limit=ten", -1100),
        ("/fapi/v1/klines?symbol=BTCUSDT&interval=7m", -1120),
    ],
)
def test_errors_are_binance_codes(simulator: Simulator, path: str, code: int) -> None:
    status, headers, body = get(simulator, path)
    assert status == 400 and body["code"] == code and isinstance(body["msg"], str)
    assert int(headers["X-MBX-USED-WEIGHT-1M"]) > 0  # refused requests still cost weight


@pytest.mark.simulator(rate=50, weight_limit=30, ban_after_429=2, clock_start_ms=1_800_000_000_000)
def test_over_the_limit_429_then_418(simulator: Simulator) -> None:
    path = "/fapi/v1/depth?symbol=ETHUSDT&limit=1000"  # weight 20
    results = [get(simulator, path) for _ in range(5)]
    assert [r[0] for r in results] == [200, 429, 429, 418, 418]
    for _, headers, body in results[1:]:
        assert body["code"] == -1003 and 1 <= int(headers["Retry-After"]) <= 120
    assert int(results[-1][1]["X-MBX-USED-WEIGHT-1M"]) == 100
    log = simulator.truth.rest_requests()
    assert [(r.status, r.used_weight) for r in log] == [
        (200, 20),
        (429, 40),
        (429, 60),
        (418, 80),
        (418, 100),
    ]
    assert log[1].retry_after == int(results[1][1]["Retry-After"]) and log[0].client.startswith("127.0.0.1:")


@pytest.mark.simulator(rate=50, weight_limit=30, clock_speed=120.0)
def test_weight_window_is_the_simulated_minute(simulator: Simulator) -> None:
    path = "/fapi/v1/depth?symbol=ETHUSDT&limit=1000"
    assert get(simulator, path)[0] == 200
    assert get(simulator, path)[0] == 429
    minute = simulator.now_ms() // 60_000
    simulator.wait_for(lambda: simulator.now_ms() // 60_000 > minute, timeout=2.0)
    status, headers, _ = get(simulator, path)
    assert status == 200 and headers["X-MBX-USED-WEIGHT-1M"] == "20"


def test_time_is_the_simulated_clock(simulator: Simulator) -> None:
    _, _, body = get(simulator, "/fapi/v1/time")
    assert abs(body["serverTime"] - simulator.now_ms()) < 1000


def test_agg_trades_backfill_matches_truth(simulator: Simulator) -> None:
    simulator.wait_for(lambda: len(simulator.truth.agg_trades("BTCUSDT")) > 60)
    truth = simulator.truth.agg_trades("BTCUSDT")
    start = truth[10]["a"]
    _, _, rows = get(simulator, f"/fapi/v1/aggTrades?symbol=BTCUSDT&fromId={start}&limit=20")
    assert [r["a"] for r in rows] == list(range(start, start + 20))
    for row, event in zip(rows, truth[10:30]):
        assert row == {k: event[k] for k in ("a", "p", "q", "nq", "f", "l", "T", "m")}
    t0, t1 = truth[5]["T"], truth[40]["T"]
    _, _, by_time = get(simulator, f"/fapi/v1/aggTrades?symbol=BTCUSDT&startTime={t0}&endTime={t1}")
    assert [r["a"] for r in by_time] == [e["a"] for e in truth if t0 <= e["T"] <= t1]


@pytest.mark.simulator(rate=100, clock_speed=60.0, symbols=("BTCUSDT",))
def test_klines_backfill_matches_the_closed_bars(simulator: Simulator) -> None:
    async def watch() -> None:
        url = simulator.ws_base_url + "/market/ws/btcusdt@kline_1m"
        async with websockets.connect(url) as ws:
            closed = 0
            while closed < 2:
                if '"x":true' in str(await asyncio.wait_for(ws.recv(), 5)):
                    closed += 1

    asyncio.run(watch())
    finals = [k["k"] for k in simulator.truth.klines("BTCUSDT", "1m", final_only=True)]
    _, _, rows = get(simulator, f"/fapi/v1/klines?symbol=BTCUSDT&interval=1m&startTime={finals[0]['t']}")
    by_open = {r[0]: r for r in rows}
    for bar in finals:
        row = by_open[bar["t"]]
        assert row == [
            bar["t"], bar["o"], bar["h"], bar["l"], bar["c"], bar["v"],
            bar["T"], bar["q"], bar["n"], bar["V"], bar["Q"], "0",
        ]  # fmt: skip
    _, _, latest = get(simulator, "/fapi/v1/klines?symbol=BTCUSDT&interval=5m&limit=1")
    assert len(latest) == 1 and latest[0][0] % 300_000 == 0
