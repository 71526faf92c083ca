"""--list-symbols, --status, --version and the backend switch, as a user sees them."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from binance_streamer import cli, native, runtime

REPO = Path(__file__).resolve().parents[1]


def test_list_symbols_shipped_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["-c", str(REPO / "config.yaml"), "--list-symbols"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "mode development: 2 of 2 symbols enabled, max_workers 2"
    assert out[1].split() == ["symbol", "streams", "enabled", "routes"]
    assert out[3].split() == ["BTCUSDT", "aggTrade,", "depth@0ms,", "kline_1m", "yes", "market+public"]
    assert out[4].split()[0] == "ETHUSDT"


def test_list_symbols_other_mode(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["-c", str(REPO / "config.yaml"), "--mode", "production", "--list-symbols"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("mode production: 12 of 12 symbols enabled, max_workers 8")
    assert "DOGEUSDT" in out


def test_status_without_collector(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["-c", str(REPO / "config.yaml"), "--status", "--output", str(tmp_path / "d")]) == 0
    out = capsys.readouterr().out
    assert "mode:       development (duration 300 s, max_workers 2)" in out
    assert f"output:     {tmp_path / 'd'} (" in out and "free)" in out
    assert "collector:  none running for this output directory" in out
    if native.resolve(None, "auto") == "python":
        expected = "backend:    python (pure-Python fallback selected)"
    else:
        expected = "-> native (Rust extension importable)"
    assert expected in out


def test_status_reads_live_state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = runtime.paths_for(tmp_path)
    paths.root.mkdir(parents=True)
    paths.pid_file.write_text(f"{os.getpid()}\n")
    lock = os.open(paths.pid_file, os.O_RDWR)
    fcntl.flock(lock, fcntl.LOCK_EX)  # as a running collector holds it
    now = time.time()
    runtime.write_status(
        paths,
        {
            "pid": os.getpid(),
            "started_at": now - 42,
            "updated_at": now,
            "backend": "native",
            "symbols": {
                "BTCUSDT": {
                    "gaps": 1,
                    "reconnects": 2,
                    "streams": {"aggTrade": {"messages": 1234, "rate": 10.5, "last_age_s": 0.2}},
                }
            },
            "rings": [{"name": "worker-0/writer", "fill": 0.25, "high_water": 0.5, "dropped": 0}],
            "writer": {"lag_s": 0.05, "rows": 999, "malformed": 3, "restarts": 0},
            "bbo": {"BTCUSDT": {"bid": "100.1", "ask": "100.2", "update_id": 77}},
        },
    )
    assert cli.main(["-c", str(REPO / "config.yaml"), "--status", "--output", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"collector:  running, pid {os.getpid()}, up 42 s" in out
    row = next(line for line in out.splitlines() if line.startswith("BTCUSDT") and "aggTrade" in line)
    assert row.split() == ["BTCUSDT", "aggTrade", "1234", "10.5/s", "0.2", "s", "1", "2"]
    assert "worker-0/writer" in out and "25.0%" in out
    assert "writer:     lag 0.05 s, 999 rows, 3 malformed, restarts 0" in out
    assert "100.1" in out and "100.2" in out
    os.close(lock)


def test_stale_pid_file_means_not_running(tmp_path: Path) -> None:
    paths = runtime.paths_for(tmp_path)
    paths.root.mkdir(parents=True)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    paths.pid_file.write_text(dead.stdout)
    assert runtime.running_pid(paths) is None and runtime.read_status(paths) is None


def test_version_and_console_script() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "binance_streamer", "--version"], capture_output=True, text=True
    )
    assert r.returncode == 0 and r.stdout.strip() == "binance-streamer 0.1.0"


def test_backend_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(native.ENV_VAR, raising=False)
    assert native.resolve(None, "python") == "python"
    monkeypatch.setenv(native.ENV_VAR, "native")
    assert native.resolve(None, "python") == "native"  # env beats config
    assert native.resolve("python", "native") == "python"  # flag beats env
    assert native.name_of(native.load("python")) == "python"
    with pytest.raises(native.BackendError, match="unknown backend 'rust'"):
        native.resolve("rust")


def test_backend_fixture_matches_env(backend: object) -> None:
    wanted = os.environ.get(native.ENV_VAR) or "native"
    assert native.name_of(backend) == ("python" if wanted == "python" else "native")  # type: ignore[arg-type]
