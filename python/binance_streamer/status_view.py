"""Text rendering for ``--list-symbols`` and ``--status``."""

from __future__ import annotations

import shutil
import time
from typing import Any, Dict, List, Sequence

from binance_streamer import native, runtime, streams
from binance_streamer.config import Config


def _table(header: Sequence[str], rows: List[Sequence[Any]]) -> str:
    cells = [list(map(str, header))] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def symbols_table(cfg: Config) -> str:
    mode = cfg.active
    rows = []
    for s in mode.symbols:
        routes = sorted({streams.route(n) for n in s.streams})
        rows.append((s.symbol, ", ".join(s.streams), "yes" if s.enabled else "no", "+".join(routes)))
    title = (
        f"mode {cfg.mode}: {len(mode.enabled_symbols)} of {len(mode.symbols)} symbols enabled, "
        f"max_workers {mode.max_workers}"
    )
    return title + "\n" + _table(("symbol", "streams", "enabled", "routes"), rows)


def _human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"


def _free_disk(cfg: Config) -> str:
    probe = cfg.output_dir
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    try:
        return _human_bytes(shutil.disk_usage(probe).free) + " free"
    except OSError as exc:
        return f"unknown ({exc.strerror})"


def _backend_line(cfg: Config) -> str:
    err = native.native_import_error()
    try:
        wanted = native.resolve(None, cfg.performance.backend)
    except native.BackendError as exc:
        return str(exc)
    if wanted == "python":
        return "python (pure-Python fallback selected)"
    if err is None:
        return f"{wanted} -> native (Rust extension importable)"
    if wanted == "native":
        return f"native requested but NOT importable: {err}"
    return f"auto -> python (native extension not importable: {err})"


def status_report(cfg: Config, now: float | None = None) -> str:
    now = time.time() if now is None else now
    mode = cfg.active
    duration = "until stopped" if mode.run_duration == 0 else f"{mode.run_duration:g} s"
    lines = [
        f"config:     {cfg.path}",
        f"mode:       {cfg.mode} (duration {duration}, max_workers {mode.max_workers})",
        f"symbols:    {len(mode.enabled_symbols)} enabled: "
        + ", ".join(f"{s.symbol} [{' '.join(s.streams)}]" for s in mode.enabled_symbols),
        f"output:     {cfg.output_dir} ({_free_disk(cfg)})",
        f"backend:    {_backend_line(cfg)}",
        f"endpoints:  {cfg.network.ws_base_url} | {cfg.network.rest_base_url}",
    ]
    live = runtime.read_status(runtime.paths_for(cfg.output_dir))
    if live is None:
        lines.append("collector:  none running for this output directory")
    else:
        lines.extend(_live(live, now))
    return "\n".join(lines)


def _live(st: Dict[str, Any], now: float) -> List[str]:
    started = st.get("started_at")
    uptime = f", up {now - started:.0f} s" if isinstance(started, (int, float)) else ""
    updated = st.get("updated_at")
    age = f", status {now - updated:.1f} s old" if isinstance(updated, (int, float)) else ""
    out = [f"collector:  running, pid {st.get('pid')}{uptime}{age}, backend {st.get('backend', '?')}"]
    rows = []
    for sym, info in sorted(st.get("symbols", {}).items()):
        for name, s in sorted(info.get("streams", {}).items()):
            last = s.get("last_age_s")
            rows.append(
                (
                    sym,
                    name,
                    s.get("messages", 0),
                    f"{s.get('rate', 0.0):.1f}/s",
                    "-" if last is None else f"{last:.1f} s",
                    info.get("gaps", 0),
                    info.get("reconnects", 0),
                )
            )
    if rows:
        out.append(_table(("symbol", "stream", "messages", "rate", "last msg", "gaps", "reconnects"), rows))
    rings = st.get("rings", [])
    if rings:
        out.append(
            _table(
                ("ring", "fill", "high water", "dropped"),
                [
                    (
                        r.get("name"),
                        f"{100 * r.get('fill', 0):.1f}%",
                        f"{100 * r.get('high_water', 0):.1f}%",
                        r.get("dropped", 0),
                    )
                    for r in rings
                ],
            )
        )
    writer = st.get("writer")
    if writer:
        out.append(
            f"writer:     lag {writer.get('lag_s', 0):.2f} s, {writer.get('rows', 0)} rows, "
            f"{writer.get('malformed', 0)} malformed, restarts {writer.get('restarts', 0)}"
        )
    bbo = st.get("bbo", {})
    if bbo:
        out.append(
            _table(
                ("symbol", "bid", "ask", "update id"),
                [(k, v.get("bid"), v.get("ask"), v.get("update_id")) for k, v in sorted(bbo.items())],
            )
        )
    return out
