"""``python -m binance_streamer`` with measurement probes, for the benchmark only.

The collector's children are started with multiprocessing's "spawn" method,
which re-runs this file's top level (as ``__mp_main__``) in every child before
the child's target is unpickled. So whatever this file patches at import time
is patched in the writer, the orderbook manager and the workers too, and the
collector's own code stays untouched.

Probes (each enabled by an environment variable naming an output directory):

- ``BSTREAM_BENCH_LATENCY``: after each batch the writer has appended and
  flushed to its files (``Writer._write`` returned True: the rows are in the
  files, visible to any reader), the current wall time and the
  ``local_time_us`` of every ``STRIDE``-th frame record of the batch are kept;
  at the end the writer saves them as ``latency-<pid>.bin``: native int64
  pairs (local_time_us, written_us).
- ``BSTREAM_BENCH_PROFILE``: every process runs under cProfile and saves
  ``<role>-<pid>.prof`` at exit (a fallback when py-spy cannot attach).
"""

from __future__ import annotations

import atexit
import os
import sys
import time
from array import array
from pathlib import Path
from typing import Any, List

LATENCY_ENV = "BSTREAM_BENCH_LATENCY"
PROFILE_ENV = "BSTREAM_BENCH_PROFILE"
STRIDE = 4  # one frame in 4 is enough for p99 and keeps the probe's cost low


def install_latency_probe(out_dir: Path) -> None:
    from binance_streamer import records
    from binance_streamer.collector.writer import Writer

    samples = array("q")
    write, run = Writer._write, Writer.run
    frame = records.KIND_FRAME

    def timed_write(self: Any, recs: List[bytes]) -> bool:
        ok = write(self, recs)
        if ok:
            now = time.time_ns() // 1000
            for rec in recs[::STRIDE]:
                if rec[0] == frame:
                    samples.append(int.from_bytes(rec[8:16], "little", signed=True))
                    samples.append(now)
        return ok

    def run_and_save(self: Any, stop: Any) -> None:
        try:
            run(self, stop)
        finally:
            path = out_dir / f"latency-{os.getpid()}.bin"
            path.write_bytes(samples.tobytes())

    Writer._write = timed_write  # type: ignore[method-assign]
    Writer.run = run_and_save  # type: ignore[method-assign]


def install_profiler(out_dir: Path) -> None:
    import cProfile

    profile = cProfile.Profile()

    def save() -> None:
        profile.disable()
        role = "main" if __name__ == "__main__" else "child"
        profile.dump_stats(str(out_dir / f"{role}-{os.getpid()}.prof"))

    atexit.register(save)
    profile.enable()


if os.environ.get(LATENCY_ENV):
    install_latency_probe(Path(os.environ[LATENCY_ENV]))
if os.environ.get(PROFILE_ENV):
    install_profiler(Path(os.environ[PROFILE_ENV]))

if __name__ == "__main__":
    from binance_streamer.cli import main

    sys.exit(main())
