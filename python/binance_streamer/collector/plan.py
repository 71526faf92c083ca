"""Who does what: symbols spread over worker processes, streams grouped into
connections by route, and the names of the shared-memory rings.

Pure functions of the configuration, so every process computes the same plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Tuple

from binance_streamer import streams
from binance_streamer.config import Config

# Binance allows 1024 streams per connection; staying far below keeps a
# reconnect cheap and a single connection's frame rate modest.
MAX_STREAMS_PER_CONNECTION = 200


@dataclass(frozen=True)
class ConnectionPlan:
    route: str  # "public" or "market"
    streams: Tuple[Tuple[str, str], ...]  # (symbol, stream name), e.g. ("BTCUSDT", "depth@0ms")

    def wire_names(self) -> List[str]:
        return [streams.wire_name(sym, name) for sym, name in self.streams]

    def url(self, ws_base_url: str) -> str:
        return f"{ws_base_url}/{self.route}/stream?streams={'/'.join(self.wire_names())}"


@dataclass(frozen=True)
class WorkerPlan:
    index: int
    symbols: Tuple[str, ...]
    connections: Tuple[ConnectionPlan, ...]

    @property
    def role(self) -> str:
        return f"worker-{self.index}"


@dataclass(frozen=True)
class Plan:
    symbols: Tuple[str, ...]  # the symbol table: symbol_id = index
    streams: Dict[str, Tuple[str, ...]]  # symbol -> stream names
    workers: Tuple[WorkerPlan, ...]

    def symbol_id(self, symbol: str) -> int:
        return self.symbols.index(symbol)


def make_plan(cfg: Config) -> Plan:
    enabled = cfg.active.enabled_symbols
    symbols = tuple(s.symbol for s in enabled)
    by_symbol = {s.symbol: s.streams for s in enabled}
    n_workers = max(1, min(cfg.active.max_workers, len(symbols)))
    groups: List[List[str]] = [[] for _ in range(n_workers)]
    for i, sym in enumerate(symbols):  # round-robin keeps busy symbols apart
        groups[i % n_workers].append(sym)
    workers = []
    for w, syms in enumerate(groups):
        conns: List[ConnectionPlan] = []
        for route in ("public", "market"):
            pairs = [(sym, name) for sym in syms for name in by_symbol[sym] if streams.route(name) == route]
            for start in range(0, len(pairs), MAX_STREAMS_PER_CONNECTION):
                conns.append(ConnectionPlan(route, tuple(pairs[start : start + MAX_STREAMS_PER_CONNECTION])))
        workers.append(WorkerPlan(w, tuple(syms), tuple(conns)))
    return Plan(symbols=symbols, streams=by_symbol, workers=tuple(workers))
