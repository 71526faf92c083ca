"""Every class of configuration mistake gets ONE exact line and exit code 2."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from binance_streamer import cli, config

REPO = Path(__file__).resolve().parents[1]

GOOD = """\
mode: development
modes:
  development:
    run_duration: 300
    max_workers: 2
    symbols:
      - {symbol: BTCUSDT, streams: [aggTrade, depth@0ms, kline_1m], enabled: true}
      - {symbol: ETHUSDT, streams: [aggTrade, depth@0ms, kline_1m], enabled: true}
      - {symbol: SOLUSDT, streams: [aggTrade], enabled: false}
storage:
  output_directory: ./out
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.yaml"
    p.write_text(textwrap.dedent(text))
    return p


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_shipped_config_loads() -> None:
    cfg = config.load(REPO / "config.yaml")
    assert cfg.mode == "development"
    dev = cfg.modes["development"]
    assert [s.symbol for s in dev.symbols] == ["BTCUSDT", "ETHUSDT"]
    assert dev.symbols[0].streams == ("aggTrade", "depth@0ms", "kline_1m")
    assert (dev.run_duration, dev.max_workers) == (300, 2)
    prod = cfg.modes["production"]
    assert (prod.run_duration, prod.max_workers) == (86400, 8) and len(prod.symbols) > 2
    assert cfg.network.ws_base_url == "wss://fstream.binance.com"
    assert cfg.network.rest_base_url == "https://fapi.binance.com"


def test_defaults_and_relative_output(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, GOOD))
    assert cfg.output_dir == (tmp_path / "out").resolve()
    assert cfg.performance == config.PerformanceConfig()
    assert cfg.network.reconnect_delay == 5.0 and cfg.network.max_retries == 0
    assert [s.symbol for s in cfg.active.enabled_symbols] == ["BTCUSDT", "ETHUSDT"]


def test_lower_case_symbol_is_fixed(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, GOOD.replace("symbol: BTCUSDT", "symbol: btcusdt")))
    assert cfg.active.symbols[0].symbol == "BTCUSDT"


def test_overrides(tmp_path: Path) -> None:
    text = GOOD.replace("storage:\n  output_directory: ./out\n", "") + (
        "  production:\n    run_duration: 10\n    max_workers: 1\n"
        "    symbols: [{symbol: XRPUSDT, streams: [depth]}]\n"
    )
    p = write(tmp_path, text)
    cfg = config.load(
        p, config.Overrides(mode="production", duration=0, backend="python", output=str(tmp_path / "o2"))
    )
    assert cfg.mode == "production" and cfg.active.run_duration == 0
    assert cfg.performance.backend == "python" and cfg.output_dir == tmp_path / "o2"


CASES = [
    # (id, replace-this, with-this, expected message after "<path>: ")
    (
        "unknown stream",
        "[aggTrade, depth@0ms, kline_1m], enabled: true}\n      - {symbol: ETH",
        "[aggTrade, depht@0ms, kline_1m], enabled: true}\n      - {symbol: ETH",
        "modes.development.symbols[0].streams[1]: unknown stream 'depht@0ms'; did you mean 'depth@0ms'? "
        "(expected aggTrade, trade, depth, depth@0ms, depth@100ms, depth@500ms, kline_<interval>, "
        "bookTicker, markPrice, markPrice@1s)",
    ),
    (
        "silent depth speed",
        "SOLUSDT, streams: [aggTrade]",
        "SOLUSDT, streams: [depth@250ms]",
        "modes.development.symbols[2].streams[0]: unknown stream 'depth@250ms'; use 'depth' (250 ms is its "
        "default speed; Binance acknowledges 'depth@250ms' and then sends nothing) (expected aggTrade, trade, "
        "depth, depth@0ms, depth@100ms, depth@500ms, kline_<interval>, bookTicker, markPrice, markPrice@1s)",
    ),
    (
        "bad kline interval",
        "SOLUSDT, streams: [aggTrade]",
        "SOLUSDT, streams: [kline_7m]",
        "modes.development.symbols[2].streams[0]: bad kline interval '7m' in 'kline_7m' (expected one of "
        "1m, 3m, 5m, 15m, 30m, 1h, 2h, 4h, 6h, 8h, 12h, 1d, 3d, 1w, 1M)",
    ),
    (
        "two depth speeds",
        "SOLUSDT, streams: [aggTrade]",
        "SOLUSDT, streams: [depth, depth@100ms]",
        "modes.development.symbols[2].streams[1]: second depth stream 'depth@100ms' (already 'depth'); "
        "one book per symbol needs exactly one diff-depth speed",
    ),
    (
        "duplicate stream",
        "SOLUSDT, streams: [aggTrade]",
        "SOLUSDT, streams: [aggTrade, aggTrade]",
        "modes.development.symbols[2].streams[1]: duplicate stream 'aggTrade'",
    ),
    (
        "path symbol",
        "symbol: SOLUSDT",
        "symbol: ../x",
        "modes.development.symbols[2].symbol: invalid symbol '../x' (expected Binance's form: A-Z and 0-9, "
        "e.g. BTCUSDT or BTCUSDT_261225)",
    ),
    (
        "empty symbol",
        "symbol: SOLUSDT",
        "symbol: ''",
        "modes.development.symbols[2].symbol: empty (expected Binance's form: A-Z and 0-9, "
        "e.g. BTCUSDT or BTCUSDT_261225)",
    ),
    (
        "duplicate symbol",
        "symbol: SOLUSDT",
        "symbol: ethusdt",
        "modes.development.symbols[2].symbol: duplicate symbol 'ETHUSDT' (already at symbols[1])",
    ),
    (
        "unknown top key",
        "mode: development",
        "mode: development\nperformence: {}",
        "performence: unknown key; did you mean 'performance'?",
    ),
    (
        "unknown section key",
        "storage:\n  output_directory: ./out",
        "storage:\n  output_dir: ./out",
        "storage.output_dir: unknown key; did you mean 'output_directory'?",
    ),
    (
        "unknown symbol key",
        "enabled: false}",
        "enable: false}",
        "modes.development.symbols[2].enable: unknown key; did you mean 'enabled'?",
    ),
    (
        "wrong type",
        "max_workers: 2",
        "max_workers: two",
        "modes.development.max_workers: expected an integer, got string 'two'",
    ),
    (
        "bool is not int",
        "max_workers: 2",
        "max_workers: true",
        "modes.development.max_workers: expected an integer, got boolean True",
    ),
    (
        "zero workers",
        "max_workers: 2",
        "max_workers: 0",
        "modes.development.max_workers: must be >= 1, got 0",
    ),
    (
        "negative duration",
        "run_duration: 300",
        "run_duration: -5",
        "modes.development.run_duration: must be >= 0, got -5 (seconds; 0 = forever)",
    ),
    (
        "zero queue",
        "storage:",
        "performance: {queue_maxsize: 0}\nstorage:",
        "performance.queue_maxsize: must be >= 1, got 0",
    ),
    (
        "zero flush interval",
        "storage:",
        "performance: {flush_interval: 0}\nstorage:",
        "performance.flush_interval: must be > 0, got 0",
    ),
    (
        "negative batch",
        "storage:",
        "performance: {batch_size: -1}\nstorage:",
        "performance.batch_size: must be >= 1, got -1",
    ),
    (
        "bad backend",
        "storage:",
        "performance: {backend: rust}\nstorage:",
        "performance.backend: unknown value 'rust' (expected one of auto, native, python)",
    ),
    (
        "bad snapshot limit",
        "storage:",
        "network: {snapshot_limit: 5000}\nstorage:",
        "network.snapshot_limit: invalid depth snapshot limit 5000 (Binance USDⓈ-M accepts "
        "5, 10, 20, 50, 100, 500, 1000)",
    ),
    (
        "bad url",
        "storage:",
        "network: {ws_base_url: 'http://x'}\nstorage:",
        "network.ws_base_url: invalid URL 'http://x' (expected wss://host or ws://host)",
    ),
    (
        "delay order",
        "storage:",
        "network: {reconnect_delay: 10, reconnect_max_delay: 2}\nstorage:",
        "network.reconnect_max_delay: must be >= network.reconnect_delay (10), got 2",
    ),
    (
        "bad priority",
        "storage:",
        "performance: {process_priority: turbo}\nstorage:",
        "performance.process_priority: invalid priority 'turbo' (expected low, normal, high, highest "
        "or a nice value -20..19)",
    ),
    ("unknown mode", "mode: development", "mode: prod", "mode: unknown mode 'prod' (expected development)"),
    (
        "no enabled symbols",
        "enabled: true}\n      - {symbol: ETHUSDT, streams: [aggTrade, depth@0ms, kline_1m], enabled: true}",
        "enabled: false}\n      - {symbol: ETHUSDT, streams: [aggTrade], enabled: false}",
        "modes.development.symbols: no enabled symbols (enable at least one)",
    ),
    (
        "symbols not list",
        "    symbols:\n",
        "    symbols: BTCUSDT\n    x:\n",
        "modes.development.x: unknown key (expected run_duration, max_workers, symbols)",
    ),
    (
        "streams missing",
        "streams: [aggTrade], ",
        "",
        "modes.development.symbols[2].streams: missing (e.g. [aggTrade, depth@100ms, kline_1m])",
    ),
    (
        "symbol given with stream",
        "SOLUSDT, streams: [aggTrade]",
        "SOLUSDT, streams: [solusdt@aggTrade]",
        "modes.development.symbols[2].streams[0]: unknown stream 'solusdt@aggTrade': give the stream type "
        "only, e.g. 'aggTrade' (the symbol comes from 'symbol')",
    ),
    (
        "output is a file",
        "output_directory: ./out",
        "output_directory: ./config.yaml/sub",
        "storage.output_directory: {tmp}/config.yaml/sub is not writable ({tmp}/config.yaml is not a directory)",
    ),
]


@pytest.mark.parametrize("old,new,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_config_error_is_one_exact_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, expected: str
) -> None:
    assert old in GOOD
    p = write(tmp_path, GOOD.replace(old, new, 1))
    code, out, err = run_cli(capsys, "-c", str(p), "--list-symbols")
    assert code == 2
    assert out == ""
    assert err == f"{p}: {expected.format(tmp=tmp_path.resolve())}\n"


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "nope.yaml"
    assert run_cli(capsys, "-c", str(p), "--status") == (2, "", f"{p}: file not found\n")


def test_yaml_syntax_error_names_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = write(tmp_path, "mode: development\nmodes:\n  development: [\n    run_duration: 3\n")
    code, out, err = run_cli(capsys, "-c", str(p))
    assert code == 2 and out == ""
    assert err.startswith(f"{p}:5:1: YAML syntax error: ") and err.count("\n") == 1


def test_empty_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = write(tmp_path, "")
    assert run_cli(capsys, "-c", str(p)) == (
        2,
        "",
        f"{p}: file is empty (expected a mapping with 'mode' and 'modes')\n",
    )


def test_unwritable_output_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # /proc refuses new entries even for root, so this holds in any sandbox.
    p = write(tmp_path, GOOD.replace("./out", "/proc/binance_streamer_test"))
    code, out, err = run_cli(capsys, "-c", str(p))
    assert code == 2 and out == ""
    assert err.startswith(f"{p}: storage.output_directory: /proc/binance_streamer_test is not writable (")
    assert err.count("\n") == 1


def test_cli_override_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = write(tmp_path, GOOD)
    assert run_cli(capsys, "-c", str(p), "--mode", "prod") == (
        2,
        "",
        "--mode: unknown mode 'prod' (expected development)\n",
    )
    assert run_cli(capsys, "-c", str(p), "--duration", "-1") == (
        2,
        "",
        "--duration: must be >= 0 (0 = forever), got -1\n",
    )


def test_backend_env_var_is_validated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BINANCE_STREAMER_BACKEND", "cython")
    p = write(tmp_path, GOOD)
    assert run_cli(capsys, "-c", str(p), "--list-symbols") == (
        2,
        "",
        "BINANCE_STREAMER_BACKEND: unknown backend 'cython' (expected one of auto, native, python)\n",
    )


def test_no_traceback_from_real_process(tmp_path: Path) -> None:
    """A user mistake in a real process: one line on stderr, exit 2, nothing started."""
    p = write(tmp_path, GOOD.replace("depth@0ms", "depht@0ms", 1))
    r = subprocess.run(
        [sys.executable, "-m", "binance_streamer", "-c", str(p)], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1
    assert r.stderr.startswith(f"{p}: modes.development.symbols[0].streams[1]: unknown stream 'depht@0ms'")
    assert not (tmp_path / "out").exists()


def test_reference_covers_every_key() -> None:
    keys = {k for k, _, _ in config.reference()}
    assert "network.stall_timeout" in keys and "logging.backup_count" in keys
    readme = (REPO / "README.md").read_text()
    missing = [k for k in keys if f"`{k}`" not in readme]
    assert missing == [], f"README configuration reference lacks {missing}"
