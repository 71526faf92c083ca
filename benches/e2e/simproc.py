"""The simulator in its own process, scripted over stdin/stdout.

The benchmark keeps the simulator out of the collector's CPU figures by giving it
a process of its own, and still needs the simulator's truth (frames written per
connection) and a fault (stop sending) at the end of a window. This module is
that process: it starts a :class:`Simulator`, prints one JSON line with its URLs,
then answers one JSON line per command read from stdin:

- ``counts``: per connection, frames sent, discarded and still queued, close
  reasons; the engine's worst tick backlog
- ``stall``: stop sending on every socket from now on (frames generated later
  are discarded by the simulator, so ``frames_sent`` is final)
- ``quit``: stop the simulator and exit

Run: ``python benches/e2e/simproc.py --symbols 50 --rate 100``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Dict, List, Optional

from binance_streamer.simulator import Simulator

STALL_SECONDS = 3600.0


def symbol_names(count: int) -> List[str]:
    """Symbols the simulator shapes by a stable hash (none of the real ones), in order."""
    return [f"S{i:03d}USDT" for i in range(count)]


def _backlog(server: Any) -> Dict[int, int]:
    """Frames generated for each open connection but not yet written to its socket."""
    return {c.conn_id: len(c.outbox) for c in server.hub.conns.values()}


def counts(sim: Simulator) -> Dict[str, Any]:
    conns = sim.truth.connections()
    queued = sim.call(_backlog)
    return {
        "connections": [
            {
                "route": c.route,
                "streams": len(c.streams),
                "sent": c.frames_sent,
                "discarded": c.frames_discarded,
                "queued": queued.get(c.conn_id, 0),
                "closed": c.closed_wall is not None,
                "close_reason": c.close_reason,
            }
            for c in conns
        ],
        "max_lag_ticks": sim.max_lag_ticks,
        "snapshots": sum(len(sim.truth.snapshots(s)) for s in sim.config.symbols),
    }


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--symbols", type=int, required=True, help="how many symbols")
    p.add_argument("--rate", type=float, required=True, help="market ticks per second per symbol")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args(argv)
    sim = Simulator(
        symbols=symbol_names(a.symbols),
        rate=a.rate,
        seed=a.seed,
        # REST weight is not what is measured: every worker may snapshot at once.
        weight_limit=1_000_000,
        # A slow collector backs frames up here; a benchmark shows it as latency
        # and as a delivered rate below the offered one, not as a dropped socket.
        max_outbox=10_000_000,
        truth_limit=10_000,
    ).start()
    out = sys.stdout
    out.write(json.dumps({"ws": sim.ws_base_url, "rest": sim.rest_base_url, "pid": os.getpid()}) + "\n")
    out.flush()
    try:
        for line in sys.stdin:
            cmd = line.strip()
            if cmd == "counts":
                reply: Dict[str, Any] = counts(sim)
            elif cmd == "stall":
                sim.faults.stall(STALL_SECONDS)
                reply = counts(sim)
            elif cmd == "quit":
                break
            else:
                reply = {"error": f"unknown command {cmd!r}"}
            out.write(json.dumps(reply) + "\n")
            out.flush()
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
