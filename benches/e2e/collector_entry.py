"""``python -m binance_streamer`` with measurement probes, for the benchmark only.

The collector's children are started with multiprocessing's "spawn" method,
which re-runs this file's top level (as ``__mp_main__``) in every child before
the child's target is unpickled. So whatever this file patches at import time
is patched in the writer, the orderbook manager and the workers too, and the
collector's own code stays untouched.

The one probe, enabled by ``BSTREAM_BENCH_LATENCY=<directory>``: after each
batch the writer has appended and flushed to its files (``Writer._write``
returned True, so the rows are in the files and visible to any reader), the
wall time and the ``local_time_us`` of every ``STRIDE``-th frame record of the
batch are kept. At exit the writer saves them as ``latency-<pid>.bin``, native
int64 pairs (local_time_us, written_us). The probe costs about 60 ns per record
written, some 3 % of the native writer's time per record.
"""

from __future__ import annotations

import os
import sys
import time
from array import array
from pathlib import Path
from typing import Any, List

LATENCY_ENV = "BSTREAM_BENCH_LATENCY"
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


if os.environ.get(LATENCY_ENV):
    install_latency_probe(Path(os.environ[LATENCY_ENV]))

if __name__ == "__main__":
    from binance_streamer.cli import main

    sys.exit(main())
