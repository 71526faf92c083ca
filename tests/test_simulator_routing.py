"""Routes, stream names, control messages and per-connection limits, as Binance USDⓈ-M."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets
from sim_client import Received, read_frames

from binance_streamer.simulator import Simulator

pytestmark = pytest.mark.simulator(rate=100)


def frames(sim: Simulator, path: str, **kw: Any) -> Received:
    return asyncio.run(read_frames(sim.ws_base_url + path, **kw))


def streams_seen(received: Received) -> set[str]:
    out = set()
    for frame in received.json():
        if "stream" in frame:
            out.add(frame["stream"])
        elif "e" in frame:
            out.add(frame["e"])
    return out


def replies(received: Received) -> list[dict[str, Any]]:
    return [f for f in received.json() if "id" in f or "error" in f]


def test_routes_deliver_their_own_streams(simulator: Simulator) -> None:
    market = "btcusdt@aggTrade/btcusdt@kline_1m/btcusdt@markPrice@1s"
    public = "btcusdt@depth@100ms/btcusdt@bookTicker/btcusdt@depth5"
    got_market = frames(simulator, f"/market/stream?streams={market}/{public}", duration=0.6)
    got_public = frames(simulator, f"/public/stream?streams={public}/{market}", duration=0.6)
    assert streams_seen(got_market) == set(market.split("/"))
    assert streams_seen(got_public) == set(public.split("/"))


def test_legacy_unrouted_paths_act_as_public(simulator: Simulator) -> None:
    got = frames(simulator, "/stream?streams=btcusdt@aggTrade/btcusdt@kline_1m/ethusdt@depth", duration=0.6)
    assert streams_seen(got) == {"ethusdt@depth"}
    raw = frames(simulator, "/ws/btcusdt@aggTrade", duration=0.4)
    assert raw.frames == [] and not raw.closed
    subscribed = frames(
        simulator,
        "/ws",
        duration=0.4,
        send=[{"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade", "btcusdt@kline_1m"], "id": 1}],
    )
    assert subscribed.json() == [{"result": None, "id": 1}]


def test_raw_form_sends_bare_payloads_for_several_streams(simulator: Simulator) -> None:
    got = frames(simulator, "/market/ws/btcusdt@aggTrade/ethusdt@aggTrade", duration=0.5)
    events = got.json()
    assert events and all(e["e"] == "aggTrade" for e in events)
    assert {e["s"] for e in events} == {"BTCUSDT", "ETHUSDT"}


@pytest.mark.parametrize(
    "stream",
    [
        "BTCUSDT@aggTrade",  # upper-case symbol
        "btcusdt@aggtrade",  # unknown type (case matters)
        "btcusd@aggTrade",  # symbol not listed
        "btcusdt@kline_2m",  # no such interval
        "btcusdt@depth@250ms",  # not a documented speed
        "btcusdt@depth",  # wrong route for /market
    ],
)
def test_silent_streams_are_acknowledged(simulator: Simulator, stream: str) -> None:
    got = frames(
        simulator,
        "/market/ws",
        duration=0.3,
        send=[{"method": "SUBSCRIBE", "params": [stream], "id": 7}],
    )
    assert got.json() == [{"result": None, "id": 7}]
    assert not got.closed


def test_subscribe_list_unsubscribe(simulator: Simulator) -> None:
    async def scenario() -> tuple[list[Any], int]:
        url = simulator.ws_base_url + "/market/stream?streams=btcusdt@aggTrade"
        async with websockets.connect(url) as ws:
            await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["ethusdt@aggTrade"], "id": 1}))
            await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 2}))
            await ws.send(
                json.dumps(
                    {
                        "method": "UNSUBSCRIBE",
                        "params": ["btcusdt@aggTrade", "ethusdt@aggTrade"],
                        "id": 3,
                    }
                )
            )
            got: list[Any] = []
            while len(got) < 3:
                msg = json.loads(await ws.recv())
                if "id" in msg:
                    got.append(msg)
            await asyncio.sleep(0.05)  # frames already queued may still arrive
            late = 0
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), 0.3)
                    late += 1
            except asyncio.TimeoutError:
                pass
            return got, late

    got, late = asyncio.run(scenario())
    assert got == [
        {"result": None, "id": 1},
        {"result": ["btcusdt@aggTrade", "ethusdt@aggTrade"], "id": 2},
        {"result": None, "id": 3},
    ]
    assert late == 0


def test_combined_property_wraps_raw_connections(simulator: Simulator) -> None:
    got = frames(
        simulator,
        "/market/ws/btcusdt@aggTrade",
        duration=0.5,
        send=[
            {"method": "GET_PROPERTY", "params": ["combined"], "id": 1},
            {"method": "SET_PROPERTY", "params": ["combined", True], "id": 2},
            {"method": "SET_PROPERTY", "params": ["combined", "yes"], "id": 3},
        ],
    )
    msgs = got.json()
    assert {"result": False, "id": 1} in msgs and {"result": None, "id": 2} in msgs
    assert {"error": {"code": 1, "msg": "Invalid value type: expected Boolean"}, "id": 3} in msgs
    wrapped = [m for m in msgs if "stream" in m]
    assert wrapped and wrapped[-1]["stream"] == "btcusdt@aggTrade"


def test_bad_requests_get_binance_errors(simulator: Simulator) -> None:
    got = frames(
        simulator,
        "/market/ws",
        duration=0.3,
        send=[
            {"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade"], "id": -1},
            {"method": "SUBSCRIBE", "params": "btcusdt@aggTrade", "id": 4},
            {"method": "FLY", "id": 5},
        ],
    )
    errors = [(m["error"]["code"], m.get("id")) for m in replies(got)]
    assert errors == [(2, None), (2, 4), (2, 5)]
    assert not got.closed
    bad_json = frames(simulator, "/market/ws", duration=1.0, send=["{nope"])
    assert bad_json.json()[0]["error"]["code"] == 3
    assert bad_json.closed and bad_json.close_code == 1008


def test_stream_limit_per_connection(simulator: Simulator) -> None:
    names = [f"btcusdt@kline_{i}x" for i in range(1024)]
    ok = frames(
        simulator,
        "/market/ws",
        duration=0.3,
        send=[{"method": "SUBSCRIBE", "params": names, "id": 1}],
    )
    assert ok.json() == [{"result": None, "id": 1}] and not ok.closed
    over = frames(
        simulator,
        "/market/ws",
        duration=1.0,
        send=[{"method": "SUBSCRIBE", "params": [*names, "btcusdt@aggTrade"], "id": 2}],
    )
    assert over.json() == [{"error": {"code": 4, "msg": "Too many subscriptions"}, "id": 2}]
    assert over.closed and over.close_code == 1008


def test_stream_limit_applies_to_the_url_too(simulator: Simulator) -> None:
    names = "/".join(f"btcusdt@kline_{i}x" for i in range(1025))
    over = frames(simulator, f"/market/stream?streams={names}", duration=1.0)
    assert over.json() == [{"error": {"code": 4, "msg": "Too many subscriptions"}}]
    assert over.closed and over.close_code == 1008


def test_incoming_message_rate_limit(simulator: Simulator) -> None:
    calm = [{"method": "LIST_SUBSCRIPTIONS", "id": i} for i in range(10)]
    ok = frames(simulator, "/market/ws", duration=0.3, send=calm)
    assert len(replies(ok)) == 10 and not ok.closed
    burst = [{"method": "LIST_SUBSCRIPTIONS", "id": i} for i in range(11)]
    over = frames(simulator, "/market/ws", duration=1.0, send=burst)
    assert over.closed and over.close_code == 1008 and over.close_reason == "Too many requests"


def test_client_pings_count_and_are_answered(simulator: Simulator) -> None:
    async def scenario() -> tuple[bool, int]:
        async with websockets.connect(simulator.ws_base_url + "/market/ws") as ws:
            waiter = await ws.ping(b"x")
            await asyncio.wait_for(waiter, 1.0)
            for _ in range(11):
                await ws.ping()
            try:
                await asyncio.wait_for(ws.recv(), 1.0)
            except websockets.ConnectionClosed as exc:
                return True, exc.rcvd.code if exc.rcvd else 0
            return False, 0

    closed, code = asyncio.run(scenario())
    assert closed and code == 1008


@pytest.mark.parametrize("path", ["/ws?btcusdt@aggTrade", "/public/nope", "/market/stream/extra"])
def test_invalid_paths_are_rejected(simulator: Simulator, path: str) -> None:
    with pytest.raises(websockets.InvalidStatus):
        frames(simulator, path, duration=0.1)


def test_connections_are_recorded(simulator: Simulator) -> None:
    frames(simulator, "/market/stream?streams=btcusdt@aggTrade", duration=0.3)
    record = simulator.truth.connections()[-1]
    assert (record.route, record.combined, record.streams) == ("market", True, ["btcusdt@aggTrade"])
    assert record.closed_wall is not None and record.frames_sent > 0
    sent = simulator.truth.sent(record.conn_id, "btcusdt@aggTrade")
    assert len(sent) == record.frames_sent
    trades = {t["a"]: t for t in simulator.truth.agg_trades("BTCUSDT")}
    assert all(trades[p["a"]] == p for p, _ in sent)
