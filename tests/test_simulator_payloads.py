"""Every payload the simulator sends has the real exchange's keys, key order and JSON types.

Reference messages: 2026 captures (polyoxide) and a 2021 USDⓈ-M recording (cryptofeed),
see tests/data/SOURCES.md.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from sim_client import read_frames, rest_get

from binance_streamer.simulator import Simulator

POLY = Path(__file__).parent / "data" / "polyoxide"
CRYPTOFEED_WS = Path(__file__).parent / "data" / "cryptofeed" / "sample_data" / "BINANCE_FUTURES.ws.1.0"


def shape(value: Any) -> Any:
    """Keys (in order) and JSON types, recursively; lists of scalars by position."""
    if isinstance(value, dict):
        return [(k, shape(v)) for k, v in value.items()]
    if isinstance(value, list):
        if value and all(isinstance(v, (dict, list)) for v in value):
            return ["each", shape(value[0])]
        return ["tuple", [type(v).__name__ for v in value]]
    return type(value).__name__


def real(name: str) -> Any:
    return json.loads((POLY / name).read_text())


def first_nonempty(events: list[dict[str, Any]]) -> dict[str, Any]:
    """A depth event with levels on both sides (so level shapes can be compared)."""
    return next(e for e in events if e["b"] and e["a"])


@pytest.fixture(scope="module")
def captured() -> dict[str, list[dict[str, Any]]]:
    """One short session per route, combined streams, grouped by stream name."""
    streams = {
        "market": "btcusdt@aggTrade/btcusdt@kline_1m/btcusdt@markPrice@1s",
        "public": "btcusdt@depth@100ms/btcusdt@depth20@100ms/btcusdt@bookTicker",
    }
    with Simulator(symbols=["BTCUSDT"], rate=100, seed=3) as sim:

        async def grab() -> list[dict[str, Any]]:
            runs = await asyncio.gather(
                *(
                    read_frames(f"{sim.ws_base_url}/{route}/stream?streams={names}", duration=0.8)
                    for route, names in streams.items()
                )
            )
            return [frame for run in runs for frame in run.json()]

        frames = asyncio.run(grab())
    by_stream: dict[str, list[dict[str, Any]]] = {}
    for frame in frames:
        assert set(frame) == {"stream", "data"}
        by_stream.setdefault(frame["stream"], []).append(frame["data"])
    return by_stream


@pytest.mark.parametrize(
    ("stream", "capture"),
    [
        ("btcusdt@aggTrade", "ws/stream_btcusdt_aggTrade.json"),
        ("btcusdt@kline_1m", "ws/stream_btcusdt_kline_1m.json"),
        ("btcusdt@bookTicker", "ws/stream_btcusdt_bookTicker.json"),
        ("btcusdt@depth20@100ms", "ws/stream_btcusdt_depth20_100ms.json"),
    ],
)
def test_stream_payload_matches_2026_capture(
    captured: dict[str, list[dict[str, Any]]], stream: str, capture: str
) -> None:
    reference = real(capture)
    assert reference["stream"] == stream
    ours = captured[stream][0]
    if stream.startswith("btcusdt@depth"):
        ours = first_nonempty(captured[stream])
    assert shape(ours) == shape(reference["data"])


def test_diff_depth_has_the_depth_event_shape_of_both_captures(
    captured: dict[str, list[dict[str, Any]]],
) -> None:
    ours = first_nonempty(captured["btcusdt@depth@100ms"])
    # 2026: same event type and keys as the depth20 capture (ps, st included)
    assert shape(ours) == shape(real("ws/stream_btcusdt_depth20_100ms.json")["data"])
    # 2021 diff events: every key they had, same types, levels ascending on both sides
    lines = CRYPTOFEED_WS.read_text().splitlines()[1:]
    old = next(
        d
        for d in (json.loads(line.split(": ", 1)[1])["data"] for line in lines)
        if d["e"] == "depthUpdate" and d["b"] and d["a"]
    )
    ours_shape = dict(shape(ours))
    for key, kind in shape(old):
        assert ours_shape[key] == kind, key
    for side in ("b", "a"):
        for event in captured["btcusdt@depth@100ms"]:
            prices = [float(p) for p, _ in event[side]]
            assert prices == sorted(prices)


def test_values_are_exchange_text(captured: dict[str, list[dict[str, Any]]]) -> None:
    trade = captured["btcusdt@aggTrade"][0]
    assert trade["s"] == "BTCUSDT" and trade["st"] == 1 and trade["nq"] == trade["q"]
    assert len(trade["p"].split(".")[1]) == 2 and len(trade["q"].split(".")[1]) == 3
    assert trade["T"] <= trade["E"]
    bar = captured["btcusdt@kline_1m"][0]["k"]
    assert bar["T"] == bar["t"] + 59_999 and bar["t"] % 60_000 == 0 and bar["B"] == "0"
    assert len(bar["q"].split(".")[1]) == 5  # price decimals + qty decimals
    ticker = captured["btcusdt@bookTicker"][0]
    assert float(ticker["b"]) < float(ticker["a"])
    partial = first_nonempty(captured["btcusdt@depth20@100ms"])
    assert len(partial["b"]) == len(partial["a"]) == 20
    assert [float(p) for p, _ in partial["b"]] == sorted((float(p) for p, _ in partial["b"]), reverse=True)


def test_mark_price_matches_documented_shape(captured: dict[str, list[dict[str, Any]]]) -> None:
    # No live capture in tests/data: keys and types from the USDⓈ-M stream documentation.
    documented = {
        "e": "markPriceUpdate",
        "E": 1562305380000,
        "s": "BTCUSDT",
        "p": "11794.15000000",
        "i": "11784.62659091",
        "P": "11784.25641265",
        "r": "0.00038167",
        "T": 1562306400000,
    }
    ours = captured["btcusdt@markPrice@1s"][0]
    assert shape(ours) == shape(documented)
    assert ours["T"] % (8 * 3600 * 1000) == 0 and ours["T"] > ours["E"]
    assert all(len(ours[k].split(".")[1]) == 8 for k in "piPr")


@pytest.fixture(scope="module")
def rest_bodies() -> dict[str, Any]:
    with Simulator(symbols=["BTCUSDT", "ETHUSDT"], rate=100, seed=3) as sim:
        asyncio.run(asyncio.sleep(0.3))
        base = sim.rest_base_url + "/fapi/v1/"

        async def grab() -> dict[str, Any]:
            paths = {
                "depth": "depth?symbol=BTCUSDT&limit=5",
                "time": "time",
                "ping": "ping",
                "exchange_info": "exchangeInfo",
                "agg_trades": "aggTrades?symbol=BTCUSDT&limit=3",
                "klines": "klines?symbol=BTCUSDT&interval=1m&limit=2",
            }
            out = {}
            for key, path in paths.items():
                status, _, body = await rest_get(base + path)
                assert status == 200, (path, body)
                out[key] = body
            return out

        return asyncio.run(grab())


@pytest.mark.parametrize("name", ["depth", "time", "agg_trades", "klines"])
def test_rest_payload_matches_capture(rest_bodies: dict[str, Any], name: str) -> None:
    assert shape(rest_bodies[name]) == shape(real(f"rest/{name}.json"))


def test_rest_depth_orders_levels_like_the_exchange(rest_bodies: dict[str, Any]) -> None:
    depth = rest_bodies["depth"]
    bids = [float(p) for p, _ in depth["bids"]]
    asks = [float(p) for p, _ in depth["asks"]]
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks) and bids[0] < asks[0]
    assert len(bids) == len(asks) == 5 and depth["T"] <= depth["E"]
    assert rest_bodies["ping"] == {}


def test_exchange_info_matches_capture(rest_bodies: dict[str, Any]) -> None:
    ours, theirs = rest_bodies["exchange_info"], real("rest/exchange_info.json")
    assert shape({k: v for k, v in ours.items() if k not in ("symbols", "assets")}) == shape(
        {k: v for k, v in theirs.items() if k not in ("symbols", "assets")}
    )
    assert shape(ours["assets"][0]) == shape(theirs["assets"][0])
    real_entry = theirs["symbols"][0]
    for entry in ours["symbols"]:
        assert [k for k, _ in shape(entry)] == [k for k, _ in shape(real_entry)]
        assert dict(shape(entry))["pricePrecision"] == "int"
        real_filters = {f["filterType"]: f for f in real_entry["filters"]}
        for f in entry["filters"]:
            assert shape(f) == shape(real_filters[f["filterType"]])
    btc = next(e for e in ours["symbols"] if e["symbol"] == "BTCUSDT")
    price_filter = next(f for f in btc["filters"] if f["filterType"] == "PRICE_FILTER")
    assert price_filter["tickSize"] == "0.10" and btc["status"] == "TRADING"
    assert [e["symbol"] for e in ours["symbols"]] == ["BTCUSDT", "ETHUSDT"]
