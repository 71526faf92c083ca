"""docs/reading.md's walkthrough runs as written, on a generated day."""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path
from types import ModuleType

import pytest
from contract_data import SyntheticMarket

from binance_streamer import native

DOC = Path(__file__).resolve().parents[1] / "docs" / "reading.md"


def test_walkthrough_runs(tmp_path: Path, backend: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    SyntheticMarket(start_ms=1_704_067_200_000, seconds=120).write(tmp_path / "data")
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) >= 8
    has_mpl = importlib.util.find_spec("matplotlib") is not None
    monkeypatch.chdir(tmp_path)  # data_dir = "data"; the plot is saved here
    monkeypatch.setenv(native.ENV_VAR, native.name_of(backend))
    namespace: dict = {}
    for block in blocks:
        if "matplotlib" in block and not has_mpl:
            continue
        exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102 - the doc's own code
    assert namespace["book"].synced
    assert len(namespace["tob"]) == len(namespace["depth_10"]) > 1000
    assert sum(namespace["gaps"].shape) == 0  # this day has none
    if has_mpl:
        assert os.path.getsize(tmp_path / "mid_spread.png") > 0
