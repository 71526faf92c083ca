"""The reference client rebuilds the book from snapshot + diffs and matches the truth."""

from __future__ import annotations

import asyncio

import pytest
from sim_client import BookSync

from binance_streamer.simulator import Simulator


def sync(sim: Simulator, symbol: str, speed: str, applied: int, **kw: object) -> BookSync:
    client = BookSync(sim.ws_base_url, sim.rest_base_url, symbol, speed, **kw)  # type: ignore[arg-type]
    asyncio.run(client.run(lambda c: c.synced and c.applied >= applied, timeout=10))
    return client


def assert_matches_truth(sim: Simulator, symbol: str, client: BookSync) -> None:
    assert client.last_u is not None
    truth = sim.truth.book_at(symbol, client.last_u)
    assert truth.last_update_id == client.last_u
    assert client.bids == truth.bids
    assert client.asks == truth.asks


@pytest.mark.simulator(rate=100)
@pytest.mark.parametrize("speed", ["@100ms", "@0ms", "", "@500ms"])
def test_book_from_snapshot_and_diffs_matches_truth(simulator: Simulator, speed: str) -> None:
    client = sync(simulator, "ETHUSDT", speed, applied=8)
    assert_matches_truth(simulator, "ETHUSDT", client)
    assert client.gaps == [] and client.stale_snapshots == 0
    snap = simulator.truth.snapshots("ETHUSDT")[-1]
    assert snap.limit == 1000 and not snap.stale
    assert snap.payload["lastUpdateId"] == snap.last_update_id
    # the snapshot itself is the true book at its lastUpdateId
    at_snap = simulator.truth.book_at("ETHUSDT", snap.last_update_id)
    assert dict(snap.payload["bids"]) == at_snap.bids and dict(snap.payload["asks"]) == at_snap.asks


@pytest.mark.simulator(rate=100, symbols=("BTCUSDT", "ETHUSDT", "DOGEUSDT"))
def test_books_of_all_symbols_match_while_ids_interleave(simulator: Simulator) -> None:
    for symbol in ("BTCUSDT", "DOGEUSDT"):
        assert_matches_truth(simulator, symbol, sync(simulator, symbol, "@100ms", applied=10))


@pytest.mark.simulator(rate=100)
def test_small_snapshot_only_matches_the_top(simulator: Simulator) -> None:
    client = sync(simulator, "BTCUSDT", "@100ms", applied=5, limit=20)
    truth = simulator.truth.book_at("BTCUSDT", client.last_u or 0)
    bids, asks = truth.top(5)
    ours = sorted(client.bids.items(), key=lambda kv: -float(kv[0]))[:5]
    assert ours == bids
    assert sorted(client.asks.items(), key=lambda kv: float(kv[0]))[:5] == asks
    assert len(client.bids) < len(truth.bids)  # the deep book was never sent
