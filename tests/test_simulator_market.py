"""The market model and engine, driven tick by tick without any network."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from binance_streamer.simulator import SimClock, SimConfig, Truth
from binance_streamer.simulator.engine import Engine, Frame, pushes_at
from binance_streamer.simulator.instruments import decimal_text, instrument_for
from binance_streamer.simulator.klines import bar_open, next_open

START_MS = 1_760_000_000_000


def make_engine(wanted: set[str], **settings: Any) -> Engine:
    cfg = SimConfig(**{"symbols": ("BTCUSDT", "ETHUSDT"), "rate": 100.0, **settings})
    clock = SimClock(cfg.clock_start_ms if cfg.clock_start_ms is not None else START_MS, cfg.clock_speed)
    return Engine(cfg, clock, Truth(cfg.truth_limit), wanted)


def run(engine: Engine, ticks: int) -> list[Frame]:
    frames: list[Frame] = []
    for _ in range(ticks):
        frames.extend(engine.step())
    return frames


def events(frames: list[Frame], stream: str) -> list[dict[str, Any]]:
    return [json.loads(f.payload) for f in frames if f.stream == stream]


ALL_BTC = {
    "btcusdt@aggTrade",
    "btcusdt@depth@100ms",
    "btcusdt@depth@0ms",
    "btcusdt@depth",
    "btcusdt@depth@500ms",
    "btcusdt@kline_1m",
    "btcusdt@bookTicker",
    "ethusdt@depth@100ms",
}


def test_same_seed_same_market_other_seed_other_market() -> None:
    a = run(make_engine(ALL_BTC, seed=7), 300)
    b = run(make_engine(ALL_BTC, seed=7), 300)
    c = run(make_engine(ALL_BTC, seed=8), 300)
    assert [f.payload for f in a] == [f.payload for f in b]
    assert [f.payload for f in a] != [f.payload for f in c]


def test_subscriptions_do_not_change_the_market() -> None:
    quiet = make_engine(set(), seed=5)
    busy = make_engine(ALL_BTC, seed=5)
    run(quiet, 400)
    run(busy, 400)
    assert quiet.truth.agg_trades("BTCUSDT") == busy.truth.agg_trades("BTCUSDT")
    assert quiet.truth.book("ETHUSDT") == busy.truth.book("ETHUSDT")


def test_update_ids_are_shared_and_every_stream_is_pu_chained() -> None:
    engine = make_engine(ALL_BTC)
    frames = run(engine, 600)
    btc = events(frames, "btcusdt@depth@100ms")
    eth = events(frames, "ethusdt@depth@100ms")
    assert len(btc) > 500
    # one counter: u advances by more than one between a symbol's events
    jumps = [b["U"] - a["u"] for a, b in zip(btc, btc[1:])]
    assert min(jumps) > 1
    # ...because the other symbol's ids sit in between
    btc_ids = {(e["U"], e["u"]) for e in btc}
    assert all(not any(lo <= e["U"] <= hi for lo, hi in btc_ids) for e in eth)
    for stream in (
        "btcusdt@depth@100ms",
        "btcusdt@depth@0ms",
        "btcusdt@depth",
        "btcusdt@depth@500ms",
    ):
        evs = events(frames, stream)
        assert all(b["pu"] == a["u"] for a, b in zip(evs, evs[1:])), stream
        assert all(e["U"] <= e["u"] and e["T"] <= e["E"] for e in evs)


def test_slower_depth_streams_batch_the_same_changes() -> None:
    engine = make_engine(ALL_BTC)
    frames = run(engine, 500)
    fast = events(frames, "btcusdt@depth@100ms")
    slow = events(frames, "btcusdt@depth@500ms")
    medium = events(frames, "btcusdt@depth")
    assert len(slow) == pytest.approx(len(fast) / 5, abs=2)
    assert len(medium) == pytest.approx(len(fast) / 2.5, abs=2)
    # applying either stream from the initial book reaches the same true book
    truth = engine.truth
    for evs in (slow, medium):
        book = truth.book_at("BTCUSDT", evs[0]["pu"])
        bids, asks = dict(book.bids), dict(book.asks)
        for e in evs:
            for side, levels in ((bids, e["b"]), (asks, e["a"])):
                for price, qty in levels:
                    if float(qty):
                        side[price] = qty
                    else:
                        side.pop(price, None)
        final = truth.book_at("BTCUSDT", evs[-1]["u"])
        assert (bids, asks) == (final.bids, final.asks)


def test_late_subscriber_still_chains() -> None:
    wanted: set[str] = set()
    engine = make_engine(wanted)
    run(engine, 50)
    wanted.add("btcusdt@depth@500ms")
    evs = events(run(engine, 50), "btcusdt@depth@500ms")
    before = engine.truth.book_at("BTCUSDT", evs[0]["pu"])
    assert evs[0]["pu"] < evs[0]["U"]
    bids, asks = dict(before.bids), dict(before.asks)
    for side, levels in ((bids, evs[0]["b"]), (asks, evs[0]["a"])):
        for price, qty in levels:
            if float(qty):
                side[price] = qty
            else:
                side.pop(price, None)
    after = engine.truth.book_at("BTCUSDT", evs[0]["u"])
    assert (bids, asks) == (after.bids, after.asks)


def test_agg_trades_are_contiguous_and_take_the_touch() -> None:
    engine = make_engine({"btcusdt@aggTrade", "btcusdt@bookTicker"})
    frames = run(engine, 500)
    trades = events(frames, "btcusdt@aggTrade")
    assert trades == engine.truth.agg_trades("BTCUSDT")
    assert len(trades) > 300
    assert all(b["a"] == a["a"] + 1 for a, b in zip(trades, trades[1:]))
    assert all(b["f"] > a["l"] for a, b in zip(trades, trades[1:]))
    assert all(t["f"] <= t["l"] and t["T"] <= t["E"] for t in trades)
    assert {t["m"] for t in trades} == {True, False}


def test_book_is_sane_and_uses_exchange_decimals() -> None:
    engine = make_engine(set(), symbols=("BTCUSDT", "DOGEUSDT", "XRPUSDT"), book_levels=300)
    run(engine, 1500)
    for symbol, price_dec, qty_dec in (("BTCUSDT", 2, 3), ("DOGEUSDT", 6, 0), ("XRPUSDT", 4, 1)):
        book = engine.truth.book(symbol)
        assert 100 < len(book.bids) <= 301 and 100 < len(book.asks) <= 301
        assert max(map(float, book.bids)) < min(map(float, book.asks))
        for price, qty in (*book.bids.items(), *book.asks.items()):
            assert len(price.partition(".")[2]) == price_dec
            assert len(qty.partition(".")[2]) == qty_dec
            assert float(qty) > 0


def test_mid_random_walks() -> None:
    engine = make_engine(set(), symbols=("BTCUSDT",))
    mids = []
    for _ in range(20):
        run(engine, 250)
        bb, _, ba, _ = engine.by_symbol["BTCUSDT"].market.top()
        mids.append((bb + ba) / 2)
    assert len(set(mids)) > 10


def test_klines_aggregate_the_trades_and_close_on_the_minute() -> None:
    # 100 ticks/s at 30x: one tick every 300 simulated ms, a minute every 200 ticks
    engine = make_engine({"btcusdt@aggTrade", "btcusdt@kline_1m"}, clock_start_ms=START_MS, clock_speed=30.0)
    frames = run(engine, 700)
    trades = events(frames, "btcusdt@aggTrade")
    closed = [k["k"] for k in events(frames, "btcusdt@kline_1m") if k["k"]["x"]]
    assert len(closed) == 3
    for bar in closed[1:]:  # the first bar began before the simulator started
        inside = [t for t in trades if bar["t"] <= t["T"] <= bar["T"]]
        assert bar["o"] == inside[0]["p"] and bar["c"] == inside[-1]["p"]
        assert float(bar["h"]) == max(float(t["p"]) for t in inside)
        assert float(bar["l"]) == min(float(t["p"]) for t in inside)
        assert round(sum(float(t["q"]) for t in inside), 3) == float(bar["v"])
        assert round(sum(float(t["q"]) for t in inside if not t["m"]), 3) == float(bar["V"])
        assert bar["n"] == sum(t["l"] - t["f"] + 1 for t in inside)
        assert (bar["f"], bar["L"]) == (inside[0]["f"], inside[-1]["l"])
    finals = [k for k in events(frames, "btcusdt@kline_1m") if k["k"]["x"]]
    assert all(k["E"] > k["k"]["T"] for k in finals)
    assert [k["k"] for k in engine.truth.klines("BTCUSDT", "1m", final_only=True)] == closed


def test_clock_crosses_utc_midnight_and_closes_the_day() -> None:
    midnight = int(datetime(2026, 3, 1, tzinfo=timezone.utc).timestamp() * 1000)
    engine = make_engine(
        {"btcusdt@kline_1d", "btcusdt@kline_1m", "btcusdt@aggTrade"},
        clock_start_ms=midnight - 90_000,
        clock_speed=600.0,  # 6 simulated seconds per tick at 100 ticks/s
    )
    frames = run(engine, 40)
    days = [k["k"] for k in events(frames, "btcusdt@kline_1d")]
    final_days = [d for d in days if d["x"]]
    assert len(final_days) == 1 and final_days[0]["T"] == midnight - 1
    assert days[-1]["t"] == midnight and not days[-1]["x"]
    trades = events(frames, "btcusdt@aggTrade")
    assert trades[0]["T"] < midnight < trades[-1]["T"]


def test_empty_bars_follow_the_exchange() -> None:
    engine = make_engine(
        {"btcusdt@kline_1m"}, symbols=("BTCUSDT",), rate=1.0, clock_speed=300.0, trades_per_tick=0.0
    )
    frames = run(engine, 3)  # 5 simulated minutes per tick, no trades at all
    finals = [k["k"] for k in events(frames, "btcusdt@kline_1m") if k["k"]["x"]]
    assert len(finals) >= 10
    assert all(b["f"] == -1 and b["L"] == -1 and b["n"] == 0 for b in finals)
    assert all(b["o"] == b["h"] == b["l"] == b["c"] and b["v"] == "0.000" for b in finals)
    assert [b["t"] for b in finals] == list(range(finals[0]["t"], finals[-1]["t"] + 1, 60_000))


@pytest.mark.parametrize(
    ("interval", "t", "opens"),
    [
        ("1m", "2026-03-01T10:00:59.999", "2026-03-01T10:00:00"),
        ("4h", "2026-03-01T11:59:00", "2026-03-01T08:00:00"),
        ("1w", "2026-03-01T11:59:00", "2026-02-23T00:00:00"),  # a Sunday -> Monday before
        ("1M", "2026-03-31T23:59:59", "2026-03-01T00:00:00"),
    ],
)
def test_interval_boundaries(interval: str, t: str, opens: str) -> None:
    def ms(text: str) -> int:
        return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp() * 1000)

    assert bar_open(interval, ms(t)) == ms(opens)
    assert next_open("1M", ms("2026-12-01T00:00:00")) == ms("2027-01-01T00:00:00")


def test_decimal_text_and_instruments() -> None:
    assert decimal_text(8309170, 2) == "83091.70"
    assert decimal_text(22, 3) == "0.022"
    assert decimal_text(0, 3) == "0.000"
    assert decimal_text(813, 0) == "813"
    assert decimal_text(-5, 2) == "-0.05"
    btc = instrument_for("BTCUSDT")
    assert (btc.tick_units, btc.price_decimals, btc.step_units, btc.qty_decimals) == (10, 2, 1, 3)
    other = instrument_for("ZZZUSDT")
    assert other == instrument_for("ZZZUSDT") and other.base_asset == "ZZZ"


def test_push_windows() -> None:
    assert [k for k in range(1, 11) if pushes_at(k, 250)] == [3, 5, 8, 10]
    assert [k for k in range(1, 11) if pushes_at(k, 500)] == [5, 10]
    assert all(pushes_at(k, 0) and pushes_at(k, 100) for k in range(1, 5))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"symbols": ("btcusdt",)}, "upper-case"),
        ({"rate": 0}, "rate must be > 0"),
        ({"host": "0.0.0.0"}, "loopback only"),
        ({"book_levels": 5000}, "book_levels"),
        ({"stall_every": 1.0, "stall_for": 2.0}, "stall_every"),
    ],
)
def test_config_errors_are_one_clear_line(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message) as err:
        SimConfig(**settings)
    assert "\n" not in str(err.value)


def test_unknown_setting_is_named() -> None:
    with pytest.raises(TypeError, match="rates"):
        SimConfig.from_kwargs(rates=5)
