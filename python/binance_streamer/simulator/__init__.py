"""A local Binance USDⓈ-M Futures exchange for tests, benchmarks and offline demos.

``python -m binance_streamer.simulator --help`` runs it standalone; in Python::

    from binance_streamer.simulator import Simulator
    with Simulator(symbols=["BTCUSDT"], rate=50, seed=1) as sim:
        sim.ws_base_url, sim.rest_base_url   # point the collector here
        sim.faults.drop_connections()        # script faults
        sim.truth.agg_trades("BTCUSDT")      # compare with what was recorded

Pure Python (aiohttp); it does not use the native extension.
"""

from __future__ import annotations

from .clock import SimClock
from .config import SimConfig
from .faults import MALFORMED_KINDS, Faults
from .handle import Simulator
from .server import SimServer
from .truth import (
    Book,
    ConnectionRecord,
    Delivery,
    MalformedRecord,
    RestRecord,
    SnapshotRecord,
    Truth,
)

__all__ = [
    "MALFORMED_KINDS",
    "Book",
    "ConnectionRecord",
    "Delivery",
    "Faults",
    "MalformedRecord",
    "RestRecord",
    "SimClock",
    "SimConfig",
    "SimServer",
    "Simulator",
    "SnapshotRecord",
    "Truth",
]
