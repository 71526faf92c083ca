"""pytest fixtures for the simulator (register with
``pytest_plugins = ["binance_streamer.simulator.pytest_plugin"]``).

- ``simulator``: a running :class:`Simulator` (BTCUSDT+ETHUSDT, rate 50, seed 1);
  override per test with ``@pytest.mark.simulator(rate=200, clock_speed=60, ...)``.
- ``simulator_factory``: ``make(**settings) -> Simulator`` for tests needing
  several or custom ones; all are stopped at teardown.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable

import pytest

from .handle import Simulator

__all__ = ["DEFAULT_SETTINGS", "simulator", "simulator_factory"]

DEFAULT_SETTINGS: dict[str, Any] = {"symbols": ("BTCUSDT", "ETHUSDT"), "rate": 50.0, "seed": 1}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "simulator(**settings): SimConfig settings for the `simulator` fixture"
    )


@pytest.fixture
def simulator_factory() -> Iterator[Callable[..., Simulator]]:
    started: list[Simulator] = []

    def make(**settings: Any) -> Simulator:
        sim = Simulator(**{**DEFAULT_SETTINGS, **settings})
        sim.start()
        started.append(sim)
        return sim

    yield make
    for sim in reversed(started):
        sim.stop()


@pytest.fixture
def simulator(request: pytest.FixtureRequest, simulator_factory: Callable[..., Simulator]) -> Simulator:
    marker = request.node.get_closest_marker("simulator")
    return simulator_factory(**(marker.kwargs if marker else {}))
