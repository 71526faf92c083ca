"""``python -m binance_streamer.simulator``: one line of URLs, serve, exit 0 on a signal."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import subprocess
import sys

import pytest
from sim_client import read_frames, rest_get

CMD = [sys.executable, "-m", "binance_streamer.simulator"]
LINE = re.compile(r"ws_base_url=(ws://127\.0\.0\.1:\d+) rest_base_url=(http://127\.0\.0\.1:\d+)")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_start_print_serve_and_exit_cleanly(sig: signal.Signals) -> None:
    proc = subprocess.Popen(
        [*CMD, "--port", "0", "--symbols", "BTCUSDT", "--rate", "50", "--clock-speed", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = LINE.fullmatch(line.strip())
        assert match, line
        ws_base, rest_base = match.groups()
        assert asyncio.run(rest_get(rest_base + "/fapi/v1/ping"))[:1] == (200,)
        got = asyncio.run(read_frames(ws_base + "/market/ws/btcusdt@aggTrade", count=3, duration=5))
        assert len(got.frames) == 3
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out == "" and "Traceback" not in err


def test_help_documents_every_group() -> None:
    done = subprocess.run([*CMD, "--help"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0
    for flag in (
        "--symbols",
        "--rate",
        "--seed",
        "--clock-start",
        "--clock-speed",
        "--drop-every",
        "--drop-after-frames",
        "--stall-every",
        "--ping-interval",
        "--pong-timeout",
        "--gap-every",
        "--malformed-every",
        "--stale-snapshot-every",
        "--snapshot-delay",
        "--rest-error-every",
        "--max-lifetime",
        "--weight-limit",
    ):
        assert flag in done.stdout, flag


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--symbols", "btcusdt"], "upper-case"),
        (["--clock-start", "yesterday"], "ISO time"),
        (["--host", "0.0.0.0"], "loopback only"),
    ],
)
def test_bad_arguments_are_one_clear_line(args: list[str], message: str) -> None:
    done = subprocess.run([*CMD, "--port", "0", *args], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert message in last and "Traceback" not in done.stderr


def test_busy_port_is_one_clear_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([*CMD, "--port", str(port)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"simulator: cannot listen on 127.0.0.1:{port}:")
