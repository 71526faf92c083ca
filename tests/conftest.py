"""Shared fixtures. The suite runs once per backend: CI sets
BINANCE_STREAMER_BACKEND=native for one pass and =python for the other.
``backend`` is the module under test; parity tests also use ``native_mod``
and ``python_mod`` directly."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

import pytest

from binance_streamer import native

pytest_plugins = ["binance_streamer.simulator.pytest_plugin"]

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def backend() -> ModuleType:
    """The backend this pass tests (env var BINANCE_STREAMER_BACKEND, default native)."""
    return native.load(os.environ.get(native.ENV_VAR) or "native")


@pytest.fixture(scope="session")
def native_mod() -> ModuleType:
    return native.load("native")


@pytest.fixture(scope="session")
def python_mod() -> ModuleType:
    return native.load("python")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA
