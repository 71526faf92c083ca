"""JSON-to-CSV batching: native vs fallback vs orjson/msgspec-based Python.

Batches are built from the real captures in tests/data, spread over 50
symbols the way a collector sees them, in two sizes: 4096 records (the
ring's default ``pop_batch`` maximum, a writer that fell behind) and 512 (a
writer keeping up). Each group is one workload and size; each benchmark
records its input size in ``extra_info`` so MB/s = input_bytes / mean time.
Run the real measurement with::

    maturin develop --release
    pytest benches/bench_csv.py --benchmark-enable --benchmark-columns=mean,ops

or ``python benches/bench_csv.py`` for a short MB/s table.
"""

from __future__ import annotations

import gzip
import random
import struct
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import pytest

from binance_streamer import fallback, records, schema

try:
    from binance_streamer import _native
except ImportError:  # the suite still runs (fallback only) without the extension
    _native = None  # type: ignore[assignment]

try:
    import orjson
except ImportError:
    orjson = None  # type: ignore[assignment]

try:
    import msgspec
except ImportError:
    msgspec = None  # type: ignore[assignment]

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
SYMBOLS = [f"SYM{i:02d}USDT" for i in range(50)]
SIZES = (512, 4096)


def _frames() -> Dict[str, List[bytes]]:
    """Real frames by event type, with their symbol replaced by a placeholder."""
    out: Dict[str, List[bytes]] = {}
    ws = DATA / "cryptofeed/sample_data/BINANCE_FUTURES.ws.1.0"
    for line in ws.read_bytes().splitlines()[1:]:
        frame = line.partition(b": ")[2]
        for sym in (b"SUSHIUSDT", b"AKROUSDT", b"KEEPUSDT", b"CTKUSDT"):
            frame = frame.replace(sym, b"@SYM@").replace(sym.lower(), b"@sym@")
        kind = frame.split(b'"e":"', 1)[1].split(b'"', 1)[0].decode()
        out.setdefault(kind, []).append(frame)
    hft = DATA / "hftbacktest/examples/usdm/btcusdt_20240808_head3000.gz"
    for line in gzip.decompress(hft.read_bytes()).splitlines():
        frame = line.partition(b" ")[2].replace(b"BTCUSDT", b"@SYM@").replace(b"btcusdt", b"@sym@")
        if frame.startswith(b'{"lastUpdateId"'):
            out.setdefault("snapshot", []).append(frame)
        else:
            kind = frame.split(b'"e":"', 1)[1].split(b'"', 1)[0].decode()
            out.setdefault("hft_" + kind, []).append(frame)
    return out


def make_batch(mix: Sequence[Tuple[str, float]], size: int, seed: int = 1) -> List[bytes]:
    """``size`` ring records drawn from ``mix`` (frame kind, share), symbols spread over 50."""
    rng = random.Random(seed)
    frames = _frames()
    kinds = [k for k, _ in mix]
    weights = [w for _, w in mix]
    out = []
    t = 1_723_161_255_000_000
    for _ in range(size):
        kind = rng.choices(kinds, weights)[0]
        i = rng.randrange(len(SYMBOLS))
        payload = rng.choice(frames[kind])
        payload = payload.replace(b"@SYM@", SYMBOLS[i].encode()).replace(
            b"@sym@", SYMBOLS[i].lower().encode()
        )
        rec_kind = records.KIND_SNAPSHOT if kind == "snapshot" else records.KIND_FRAME
        t += rng.randrange(50, 500)
        out.append(records.pack(rec_kind, i, t, payload))
    return out


WORKLOADS: Dict[str, Sequence[Tuple[str, float]]] = {
    # Rows per second on the commonest message (target: 1.5 M aggTrade rows/s).
    "aggtrade-only": [("aggTrade", 1.0)],
    # A collector on aggTrade + depth@100ms + kline_1m across 50 symbols.
    "aggtrade-heavy": [("aggTrade", 0.75), ("depthUpdate", 0.15), ("kline", 0.10)],
    # Busy books: depth@0ms frames (median 34 levels), trades, one snapshot in 1000.
    "depth-heavy": [
        ("hft_depthUpdate", 0.80),
        ("hft_trade", 0.10),
        ("aggTrade", 0.05),
        ("kline", 0.049),
        ("snapshot", 0.001),
    ],
}

# -- reference implementations: what a Python developer would write ------------

_HEADER = struct.Struct("<BBHIq")
_DAYS: Dict[int, str] = {}


def _day(ms: int) -> str:
    d = ms // 86_400_000
    if d not in _DAYS:
        _DAYS[d] = time.strftime("%Y%m%d", time.gmtime(d * 86_400))
    return _DAYS[d]


def reference_encoder(loads: Callable[[bytes], Any]) -> Callable[..., Dict[str, bytes]]:
    """aggTrade/depth/kline/trade/snapshot to CSV with ``loads`` as the parser:
    no validation, no quoting, no skip report (a lower bound on the work)."""

    def encode(recs: Sequence[bytes], symbols: Sequence[str]) -> Dict[str, bytes]:
        files: Dict[str, List[str]] = {}
        for rec in recs:
            kind, _, sid, _, lt = _HEADER.unpack_from(rec)
            obj = loads(rec[16:])
            if kind == records.KIND_SNAPSHOT:
                sym = symbols[sid]
                head = f"{lt},{obj['E']},{obj['T']},{sym},{obj['lastUpdateId']}"
                rows = [f"{head},bid,{p},{q}\n" for p, q in obj["bids"]]
                rows += [f"{head},ask,{p},{q}\n" for p, q in obj["asks"]]
                key = f"{sym}/{schema.file_name('snapshot', sym, _day(obj['E']))}"
                files.setdefault(key, []).extend(rows)
                continue
            d = obj.get("data", obj)
            e, sym = d["e"], d["s"]
            if e == "aggTrade":
                row = (
                    f"{lt},{d['E']},{sym},{d['a']},{d['p']},{d['q']},{d['f']},{d['l']},"
                    f"{d['T']},{'true' if d['m'] else 'false'}\n"
                )
                key = f"{sym}/{schema.file_name('aggtrade', sym, _day(d['E']))}"
                files.setdefault(key, []).append(row)
            elif e == "depthUpdate":
                head = f"{lt},{d['E']},{d['T']},{sym},{d['U']},{d['u']},{d['pu']}"
                rows = [f"{head},bid,{p},{q}\n" for p, q in d["b"]]
                rows += [f"{head},ask,{p},{q}\n" for p, q in d["a"]]
                key = f"{sym}/{schema.file_name('depth', sym, _day(d['E']))}"
                files.setdefault(key, []).extend(rows or [f"{head},,,\n"])
            elif e == "trade":
                row = (
                    f"{lt},{d['E']},{d['T']},{sym},{d['t']},{d['p']},{d['q']},"
                    f"{'true' if d['m'] else 'false'},{d.get('X', '')}\n"
                )
                key = f"{sym}/{schema.file_name('trade', sym, _day(d['E']))}"
                files.setdefault(key, []).append(row)
            elif e == "kline":
                k = d["k"]
                if not k["x"]:
                    continue
                row = (
                    f"{lt},{d['E']},{sym},{k['i']},{k['t']},{k['T']},{k['f']},{k['L']},"
                    f"{k['o']},{k['h']},{k['l']},{k['c']},{k['v']},{k['n']},true,"
                    f"{k['q']},{k['V']},{k['Q']}\n"
                )
                name = schema.file_name("kline", sym, _day(d["E"]), k["i"])
                files.setdefault(f"{sym}/{name}", []).append(row)
        return {path: "".join(rows).encode() for path, rows in files.items()}

    return encode


PEERS: Dict[str, Optional[Callable[..., Any]]] = {
    "native": _native.encode_records if _native is not None else None,
    "fallback": fallback.encode_records,
    "orjson-python": reference_encoder(orjson.loads) if orjson is not None else None,
    "msgspec-python": (reference_encoder(msgspec.json.Decoder().decode) if msgspec is not None else None),
}

_BATCHES: Dict[Tuple[str, int], List[bytes]] = {}


def batch(workload: str, size: int = 4096) -> List[bytes]:
    if (workload, size) not in _BATCHES:
        _BATCHES[workload, size] = make_batch(WORKLOADS[workload], size)
    return _BATCHES[workload, size]


def input_bytes(recs: Sequence[bytes]) -> int:
    """Bytes of JSON (record payloads), the unit of the MB/s target."""
    return sum(len(r) - records.HEADER_SIZE for r in recs)


@pytest.mark.parametrize("peer", list(PEERS))
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_csv_batch(benchmark: Any, workload: str, size: int, peer: str) -> None:
    fn = PEERS[peer]
    if fn is None:
        pytest.skip(f"{peer} is not installed")
    recs = batch(workload, size)
    benchmark.group = f"csv {workload} x{size}"
    benchmark.extra_info.update(peer=peer, records=len(recs), input_bytes=input_bytes(recs))
    result = benchmark(fn, recs, SYMBOLS)
    assert result  # every peer produced files


def _best(fn: Callable[..., Any], recs: Sequence[bytes], seconds: float = 1.0) -> float:
    best, end = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        fn(recs, SYMBOLS)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    for workload in WORKLOADS:
        for size in SIZES:
            recs = batch(workload, size)
            mb = input_bytes(recs) / 1e6
            times = {p: _best(fn, recs) for p, fn in PEERS.items() if fn is not None}
            print(f"{workload} x{size}: {mb:.2f} MB of JSON")
            base = times.get("native")
            for peer, t in times.items():
                ratio = f"  native is {t / base:5.1f}x faster" if base and peer != "native" else ""
                print(f"  {peer:15s} {t * 1e3:8.2f} ms  {mb / t:7.1f} MB/s{ratio}")


if __name__ == "__main__":
    main()
