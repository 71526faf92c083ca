"""Run the benchmarks and report native vs fallback (and peer) speed ratios.

    python benches/run.py --quick    # the short pass CI runs (about 2 minutes)
    python benches/run.py            # the full pass: longer per-part runs, real e2e search

Per part (order book, JSON-to-CSV, ring) it runs that part's pytest-benchmark
file with ``--benchmark-json`` and turns every group into comparisons of the
native contender against the others; end to end it runs the collector against
the simulator (benches/e2e/). The comparisons go to ``bench-results.json`` at the
repository root, one table goes to stdout, and the exit status is 1 if any
native part is slower than its fallback (ratio < 1), 2 if a benchmark could not
run at all, else 0. See benches/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

BENCHES = Path(__file__).resolve().parent
REPO = BENCHES.parent
sys.path.insert(0, str(BENCHES))

#: part -> its pytest-benchmark file (owned by that part's author)
PART_FILES = {"orderbook": "bench_book.py", "csv": "bench_csv.py", "ring": "bench_ring.py"}
PARTS = (*PART_FILES, "e2e")
#: extra_info keys naming the contender of a benchmark, in the order tried
CONTENDER_KEYS = ("contender", "impl", "peer")
FALLBACK_NAMES = ("python", "fallback")
#: extra_info key holding the amount of work one timed call does -> (unit, scale)
WORK_KEYS = (
    ("level_changes", "level changes/s", 1.0),
    ("input_bytes", "MB/s of JSON", 1e-6),
    ("records", "records/s", 1.0),
)
#: The statistic speeds are computed from. The minimum is the run least
#: disturbed by the other processes of a shared machine; native and baseline
#: use the same one, so the ratio is fair.
STAT = "min"
QUICK_PYTEST = ("-k", "not latency", "--benchmark-max-time=0.2", "--benchmark-min-rounds=3")


class BenchError(Exception):
    """A benchmark could not produce figures (not a slow result: a broken run)."""


# --- per-part pytest-benchmark files -------------------------------------------------


def run_part(part: str, quick: bool, tmp: Path) -> List[Dict[str, Any]]:
    """pytest-benchmark's records for one part ([] if its file does not exist)."""
    path = BENCHES / PART_FILES[part]
    if not path.exists():
        return []
    out = tmp / f"{part}.json"
    cmd = [sys.executable, "-m", "pytest", str(path), "-q", "-p", "no:cacheprovider", "--benchmark-enable"]
    cmd += [f"--benchmark-json={out}", *(QUICK_PYTEST if quick else ())]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0 or not out.exists():
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise BenchError(f"{path.name}: pytest exited {proc.returncode}\n{tail}")
    return json.loads(out.read_text())["benchmarks"]


def contender_of(bench: Dict[str, Any]) -> Optional[str]:
    info = bench.get("extra_info", {})
    return next((str(info[k]) for k in CONTENDER_KEYS if k in info), None)


def is_latency(bench: Dict[str, Any]) -> bool:
    """Paced benchmarks (fixed rate, latency percentiles) have no speed to compare."""
    return any(k.startswith("p50") for k in bench.get("extra_info", {}))


def speed(bench: Dict[str, Any]) -> Tuple[float, str]:
    """Work per second of one benchmark, and its unit."""
    info, seconds = bench.get("extra_info", {}), bench["stats"][STAT]
    for key, unit, scale in WORK_KEYS:
        if key in info:
            return float(info[key]) * scale / seconds, unit
    return 1.0 / seconds, "calls/s"


def part_comparisons(part: str, benches: Sequence[Dict[str, Any]]) -> Tuple[List[Dict[str, Any]], List[Any]]:
    """Native vs every other contender of each group; latency records go to details."""
    groups: Dict[str, Dict[str, Dict[str, Any]]] = {}
    details: List[Any] = []
    for b in benches:
        who = contender_of(b)
        if who is None or is_latency(b):
            details.append(
                {"part": part, "group": b.get("group"), "name": b["name"], **b.get("extra_info", {})}
            )
            continue
        groups.setdefault(b.get("group") or b["name"], {})[who] = b
    out = []
    for group, by in groups.items():
        native = by.get("native")
        if native is None:
            continue
        n_speed, unit = speed(native)
        label = group if group.startswith(part) else f"{part} {group}"
        for who, b in by.items():
            if who == "native":
                continue
            b_speed, b_unit = speed(b)
            if b_unit != unit:
                raise BenchError(f"{group}: native counts {unit}, {who} counts {b_unit}")
            kind = "fallback" if who in FALLBACK_NAMES else "peer"
            out.append(
                {
                    "name": f"{label} vs {'fallback' if kind == 'fallback' else who}",
                    "native": _round(n_speed),
                    "baseline": _round(b_speed),
                    "baseline_kind": kind,
                    "unit": unit,
                    "ratio": round(n_speed / b_speed, 3),
                }
            )
    out.sort(key=lambda c: (c["baseline_kind"] != "fallback", c["name"]))
    return out, details


def _round(x: float) -> float:
    return round(x, 3) if x < 1000 else float(round(x))


# --- end to end --------------------------------------------------------------------------


def run_e2e(quick: bool, symbols: Sequence[int]) -> Tuple[List[Dict[str, Any]], List[Any]]:
    from e2e import search

    out: List[Dict[str, Any]] = []
    details: List[Any] = []
    for n in symbols:
        try:
            if quick:
                ladders = search.quick(n, duration=5.0, warmup=2.0, log=search.stderr_log)
            else:
                ladders = search.full(n, duration=10.0, warmup=3.0, log=search.stderr_log)
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            raise BenchError(f"e2e with {n} symbols: {exc}") from exc
        out.extend(search.comparisons(ladders))
        details.extend(r.as_dict() for ladder in ladders.values() for r in ladder.runs)
    return out, details


def profile_e2e(target: int, symbols: int) -> None:
    """One e2e window per backend under py-spy: where the CPU goes (docs/benchmarks.md)."""
    from e2e import harness, pyspy_profile, search

    for backend in search.BACKENDS:
        spec = search.spec_for(backend, symbols, target, duration=10.0, warmup=3.0)
        try:
            r = harness.run_once(spec, profile=True)
        except RuntimeError as exc:
            raise BenchError(str(exc)) from exc
        print(f"\n{search.describe(r).strip()}\n")
        print("\n".join(pyspy_profile.format_breakdown(r.profile, r.window_frames)))
        for role, frames in sorted(r.profile_top.items()):
            if role.startswith("worker-0") or role in ("writer", "orderbook"):
                print(f"\n{role}: innermost frames, share of its Python samples")
                for frame, share in frames:
                    print(f"  {100 * share:5.1f}%  {frame}")


# --- report ------------------------------------------------------------------------------


def human(x: Optional[float]) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{suffix}"
    return f"{x:.3g}"


def failures(comparisons: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Fallback comparisons where native is slower (ratio < 1)."""
    return [
        c
        for c in comparisons
        if c["baseline_kind"] == "fallback" and c["ratio"] is not None and c["ratio"] < 1.0
    ]


def table(comparisons: Sequence[Dict[str, Any]]) -> str:
    lines = [
        "| comparison | native | baseline | unit | native/baseline |",
        "|---|---:|---:|---|---:|",
    ]
    bad = {id(c) for c in failures(comparisons)}
    for c in comparisons:
        ratio = "n/a" if c["ratio"] is None else f"{c['ratio']:.2f}x"
        if id(c) in bad:
            ratio += " **SLOWER**"
        lines.append(
            f"| {c['name']} | {human(c['native'])} | {human(c['baseline'])} | {c['unit']} | {ratio} |"
        )
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="the short pass (CI): fewer rounds, two e2e rates")
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {', '.join(PARTS)}")
    p.add_argument(
        "--symbols",
        default=None,
        help="e2e symbol counts, comma-separated (default: 50 with --quick, else 50,200)",
    )
    p.add_argument("--output", type=Path, default=REPO / "bench-results.json", help="comparisons JSON")
    p.add_argument("--details", type=Path, help="also write every raw figure (e2e runs, latencies) here")
    p.add_argument(
        "--profile",
        type=int,
        metavar="MSGS_PER_S",
        help="instead: profile the collector with py-spy at this e2e rate, both backends (prints tables)",
    )
    a = p.parse_args(argv)
    parts = [x.strip() for x in a.parts.split(",") if x.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        p.error(f"unknown part(s) {', '.join(unknown)} (expected {', '.join(PARTS)})")
    symbols = [int(x) for x in (a.symbols or ("50" if a.quick else "50,200")).split(",")]
    if a.profile:
        try:
            profile_e2e(a.profile, symbols[0])
        except BenchError as exc:
            print(f"ERROR: {exc}")
            return 2
        return 0

    started = time.monotonic()
    comparisons: List[Dict[str, Any]] = []
    details: List[Any] = []
    errors: List[str] = []
    with tempfile.TemporaryDirectory(prefix="bstream-bench-") as tmp:
        for part in parts:
            t0 = time.monotonic()
            print(f"== {part}", file=sys.stderr, flush=True)
            try:
                if part == "e2e":
                    got, more = run_e2e(a.quick, symbols)
                else:
                    records = run_part(part, a.quick, Path(tmp))
                    if not records:
                        print(f"   {PART_FILES[part]} not found: skipped", file=sys.stderr)
                        continue
                    got, more = part_comparisons(part, records)
            except BenchError as exc:
                errors.append(str(exc))
                print(f"   ERROR {exc}", file=sys.stderr)
                continue
            comparisons.extend(got)
            details.extend(more)
            print(f"   {len(got)} comparisons in {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)

    a.output.write_text(json.dumps(comparisons, indent=1) + "\n")
    if a.details:
        a.details.write_text(json.dumps(details, indent=1, default=str) + "\n")
    print(table(comparisons))
    print(f"\n{len(comparisons)} comparisons in {time.monotonic() - started:.0f} s -> {a.output}")
    slow = failures(comparisons)
    for c in slow:
        print(f"FAIL: native is slower than the fallback: {c['name']} ({c['ratio']:.2f}x)")
    for e in errors:
        print(f"ERROR: {e.splitlines()[0]}")
    if slow:
        return 1
    return 2 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
