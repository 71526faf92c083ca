"""The one configuration loader: YAML -> typed, validated, frozen dataclasses.

Every problem is reported as a :class:`ConfigError` whose message is ONE line
naming the file, the key path and the bad value, e.g.::

    config.yaml: modes.development.symbols[2].streams[1]: unknown stream 'depht@0ms' (...)

The CLI prints that line and exits 2 before any process starts.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.util
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import yaml

from binance_streamer import streams as stream_names

DEFAULT_WS_BASE_URL = "wss://fstream.binance.com"
DEFAULT_REST_BASE_URL = "https://fapi.binance.com"
SNAPSHOT_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
PRIORITY_NAMES = {"low": 10, "normal": 0, "high": -5, "highest": -10}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
BACKENDS = ("auto", "native", "python")
FILE_FORMATS = ("csv",)
# Binance USDⓈ-M symbols: upper-case letters and digits; delivery contracts add
# "_YYMMDD". Anything else could escape the output directory or break file names.
SYMBOL_RE = re.compile(r"^[A-Z0-9]{2,30}(_[0-9]{6})?$")


class ConfigError(ValueError):
    """A user mistake in the configuration; ``str()`` is the one-line message."""


class _Invalid(Exception):
    """Raised by checkers; the loader prefixes the key path."""


# --- checkers: (value) -> converted value, or raise _Invalid(reason) -----------------


def _type_name(value: Any) -> str:
    return {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "list",
        dict: "mapping",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _int(lo: Optional[int] = None, hi: Optional[int] = None) -> Callable[[Any], int]:
    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise _Invalid(f"expected an integer, got {_type_name(v)} {v!r}")
        if lo is not None and v < lo:
            raise _Invalid(f"must be >= {lo}, got {v}")
        if hi is not None and v > hi:
            raise _Invalid(f"must be <= {hi}, got {v}")
        return v

    return check


def _num(lo: float = 0.0, strict: bool = True) -> Callable[[Any], float]:
    def check(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
            raise _Invalid(f"expected a number, got {_type_name(v)} {v!r}")
        if (strict and v <= lo) or (not strict and v < lo):
            raise _Invalid(f"must be {'>' if strict else '>='} {lo:g}, got {v!r}")
        return float(v)

    return check


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise _Invalid(f"expected true or false, got {_type_name(v)} {v!r}")
    return v


def _str(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise _Invalid(f"expected a non-empty string, got {_type_name(v)} {v!r}")
    return v.strip()


def _choice(options: Tuple[str, ...], fold: bool = True) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        s = _str(v)
        key = s.lower() if fold else s
        for opt in options:
            if key == (opt.lower() if fold else opt):
                return opt
        raise _Invalid(f"unknown value {s!r} (expected one of {', '.join(options)})")

    return check


def _url(schemes: Tuple[str, ...]) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        s = _str(v).rstrip("/")
        scheme, sep, rest = s.partition("://")
        if not sep or scheme not in schemes or not rest or " " in rest:
            raise _Invalid(f"invalid URL {s!r} (expected {' or '.join(s_ + '://host' for s_ in schemes)})")
        return s

    return check


def _priority(v: Any) -> int:
    if isinstance(v, str) and v.strip().lower() in PRIORITY_NAMES:
        return PRIORITY_NAMES[v.strip().lower()]
    if isinstance(v, int) and not isinstance(v, bool) and -20 <= v <= 19:
        return v
    raise _Invalid(f"invalid priority {v!r} (expected {', '.join(PRIORITY_NAMES)} or a nice value -20..19)")


def _snapshot_limit(v: Any) -> int:
    n = _int()(v)
    if n not in SNAPSHOT_LIMITS:
        raise _Invalid(
            f"invalid depth snapshot limit {n} (Binance USDⓈ-M accepts {', '.join(map(str, SNAPSHOT_LIMITS))})"
        )
    return n


def _opt(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda v: None if v is None else check(v)


def _spec(default: Any, check: Callable[[Any], Any], doc: str) -> Any:
    return field(default=default, metadata={"check": check, "doc": doc})


# --- the schema ---------------------------------------------------------------------


@dataclass(frozen=True)
class SymbolConfig:
    symbol: str
    streams: Tuple[str, ...]
    enabled: bool = True


@dataclass(frozen=True)
class ModeConfig:
    run_duration: float
    max_workers: int
    symbols: Tuple[SymbolConfig, ...]

    @property
    def enabled_symbols(self) -> Tuple[SymbolConfig, ...]:
        return tuple(s for s in self.symbols if s.enabled)


@dataclass(frozen=True)
class PerformanceConfig:
    queue_maxsize: int = _spec(100_000, _int(1), "ring capacity per worker, in records (see docs/ring.md)")
    batch_size: int = _spec(1000, _int(1), "records per writer batch; files flush after this many")
    flush_interval: float = _spec(1.0, _num(0.0), "seconds between writer flushes at the latest")
    process_priority: int = _spec(0, _priority, "low | normal | high | highest, or a nice value -20..19")
    backend: str = _spec("auto", _choice(BACKENDS), "auto | native | python")


@dataclass(frozen=True)
class StorageConfig:
    output_directory: str = _spec("./data", _str, "where files go (relative to the config file)")
    file_format: str = _spec("csv", _choice(FILE_FORMATS), "csv (the only format)")
    daily_rotation: bool = _spec(True, _bool, "one file per UTC day of the exchange's event time")
    keep_all_klines: bool = _spec(False, _bool, "write every kline update, not only closed candles")


@dataclass(frozen=True)
class NetworkConfig:
    ws_base_url: str = _spec(DEFAULT_WS_BASE_URL, _url(("wss", "ws")), "websocket base URL")
    rest_base_url: str = _spec(DEFAULT_REST_BASE_URL, _url(("https", "http")), "REST base URL")
    connect_timeout: float = _spec(10.0, _num(0.0), "seconds to open a connection or get a snapshot")
    reconnect_delay: float = _spec(5.0, _num(0.0), "first reconnect delay, seconds (doubles, with jitter)")
    reconnect_max_delay: float = _spec(60.0, _num(0.0), "cap on the reconnect delay, seconds")
    max_retries: int = _spec(0, _int(0), "reconnect attempts before giving up; 0 = forever")
    snapshot_limit: int = _spec(1000, _snapshot_limit, "levels per REST depth snapshot")
    stall_timeout: float = _spec(30.0, _num(0.0), "seconds without a frame before reconnecting")
    connection_lifetime: float = _spec(
        82_800.0, _num(0.0), "seconds before a connection is replaced (Binance drops at 24 h)"
    )


@dataclass(frozen=True)
class OrderbookConfig:
    snapshot_interval: float = _spec(60.0, _num(0.0), "seconds between top-N book rows per symbol")
    depth_levels: int = _spec(20, _int(1, 1000), "levels per side in orderbook_* files")


@dataclass(frozen=True)
class LoggingConfig:
    file: Optional[str] = _spec("binance_streamer.log", _opt(_str), "rotating log file; null = console only")
    level: str = _spec("INFO", _choice(LOG_LEVELS), "DEBUG | INFO | WARNING | ERROR | CRITICAL")
    max_bytes: int = _spec(10 * 1024 * 1024, _int(1), "log file size before rotation")
    backup_count: int = _spec(5, _int(0), "rotated log files kept")


@dataclass(frozen=True)
class MonitoringConfig:
    prometheus_port: Optional[int] = _spec(None, _opt(_int(1, 65535)), "Prometheus /metrics port; null = off")
    status_interval: float = _spec(1.0, _num(0.0), "seconds between status-file updates")


SECTIONS: Dict[str, type] = {
    "performance": PerformanceConfig,
    "storage": StorageConfig,
    "network": NetworkConfig,
    "orderbook": OrderbookConfig,
    "logging": LoggingConfig,
    "monitoring": MonitoringConfig,
}
TOP_KEYS = ("mode", "modes", *SECTIONS)


@dataclass(frozen=True)
class Config:
    path: Path
    mode: str
    modes: Mapping[str, ModeConfig]
    performance: PerformanceConfig
    storage: StorageConfig
    network: NetworkConfig
    orderbook: OrderbookConfig
    logging: LoggingConfig
    monitoring: MonitoringConfig

    @property
    def active(self) -> ModeConfig:
        return self.modes[self.mode]

    @property
    def output_dir(self) -> Path:
        return _relative_to(self.path, self.storage.output_directory)

    @property
    def log_file(self) -> Optional[Path]:
        return None if self.logging.file is None else _relative_to(self.path, self.logging.file)


def _relative_to(config_path: Path, p: str) -> Path:
    path = Path(os.path.expanduser(p))
    return path if path.is_absolute() else (config_path.parent / path).resolve()


@dataclass
class Overrides:
    """Command-line values that replace the file's (None = keep the file's)."""

    mode: Optional[str] = None
    duration: Optional[float] = None
    backend: Optional[str] = None
    output: Optional[str] = None


# --- loading ------------------------------------------------------------------------


def load(path: str | os.PathLike[str], overrides: Optional[Overrides] = None) -> Config:
    """Read, validate and return the configuration, or raise ConfigError (one line)."""
    path = Path(path)
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{where}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: cannot read: {_reason(exc)}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        what = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"{where}{pos}: YAML syntax error: {what}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: YAML syntax error: {_reason(exc)}") from None
    return parse(raw, path, overrides or Overrides())


def parse(raw: Any, path: Path, ov: Overrides) -> Config:
    where = str(path)

    def fail(key: str, msg: str) -> ConfigError:
        return ConfigError(f"{where}: {key}: {msg}" if key else f"{where}: {msg}")

    if raw is None:
        raise fail("", "file is empty (expected a mapping with 'mode' and 'modes')")
    if not isinstance(raw, dict):
        raise fail("", f"expected a mapping at the top level, got {_type_name(raw)}")
    _check_keys(raw, TOP_KEYS, "", fail)

    sections: Dict[str, Any] = {}
    for name, cls in SECTIONS.items():
        sections[name] = _load_section(raw.get(name), name, cls, fail)
    if ov.backend is not None:
        try:
            backend = _choice(BACKENDS)(ov.backend)
        except _Invalid as exc:
            raise ConfigError(f"--backend: {exc}") from None
        sections["performance"] = dataclasses.replace(sections["performance"], backend=backend)
    if ov.output is not None:
        sections["storage"] = dataclasses.replace(sections["storage"], output_directory=ov.output)
    net: NetworkConfig = sections["network"]
    if net.reconnect_max_delay < net.reconnect_delay:
        raise fail(
            "network.reconnect_max_delay",
            f"must be >= network.reconnect_delay ({net.reconnect_delay:g}), got {net.reconnect_max_delay:g}",
        )

    if "modes" not in raw:
        raise fail("modes", "missing (expected a mapping of mode name -> settings)")
    modes_raw = raw["modes"]
    if not isinstance(modes_raw, dict) or not modes_raw:
        raise fail(
            "modes", f"expected a non-empty mapping of mode name -> settings, got {_type_name(modes_raw)}"
        )
    modes = {str(name): _load_mode(m, f"modes.{name}", fail) for name, m in modes_raw.items()}

    mode_raw = raw.get("mode", "development")
    if ov.mode is not None:
        mode, mode_key = ov.mode, "--mode"
    else:
        mode, mode_key = mode_raw, "mode"
    if not isinstance(mode, str) or mode not in modes:
        msg = f"unknown mode {mode!r} (expected {', '.join(modes)})"
        if mode_key == "--mode":
            raise ConfigError(f"--mode: {msg}")
        raise fail("mode", msg)
    active = modes[mode]
    if ov.duration is not None:
        if ov.duration < 0:
            raise ConfigError(f"--duration: must be >= 0 (0 = forever), got {ov.duration:g}")
        active = dataclasses.replace(active, run_duration=float(ov.duration))
        modes[mode] = active
    if not active.enabled_symbols:
        raise fail(f"modes.{mode}.symbols", "no enabled symbols (enable at least one)")

    mon: MonitoringConfig = sections["monitoring"]
    if mon.prometheus_port is not None and importlib.util.find_spec("prometheus_client") is None:
        raise fail(
            "monitoring.prometheus_port",
            "needs the prometheus-client package (pip install 'binance-streamer[prometheus]')",
        )
    cfg = Config(path=path, mode=mode, modes=modes, **sections)
    out_key = "--output" if ov.output is not None else "storage.output_directory"
    problem = _unwritable(cfg.output_dir)
    if problem:
        msg = f"{cfg.output_dir} is not writable ({problem})"
        raise ConfigError(f"--output: {msg}") if ov.output is not None else fail(out_key, msg)
    return cfg


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc).splitlines()[0]


def _check_keys(
    raw: Mapping[Any, Any], allowed: Tuple[str, ...], prefix: str, fail: Callable[[str, str], ConfigError]
) -> None:
    for key in raw:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else f" (expected {', '.join(allowed)})"
            raise fail(f"{prefix}{key}", f"unknown key{hint}")


def _load_section(raw: Any, name: str, cls: type, fail: Callable[[str, str], ConfigError]) -> Any:
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        raise fail(name, f"expected a mapping, got {_type_name(raw)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    _check_keys(raw, tuple(fields), f"{name}.", fail)
    values = {}
    for key, value in raw.items():
        try:
            values[key] = fields[key].metadata["check"](value)
        except _Invalid as exc:
            raise fail(f"{name}.{key}", str(exc)) from None
    return cls(**values)


MODE_KEYS = ("run_duration", "max_workers", "symbols")
SYMBOL_KEYS = ("symbol", "streams", "enabled")


def _load_mode(raw: Any, key: str, fail: Callable[[str, str], ConfigError]) -> ModeConfig:
    if not isinstance(raw, dict):
        raise fail(key, f"expected a mapping with {', '.join(MODE_KEYS)}, got {_type_name(raw)}")
    _check_keys(raw, MODE_KEYS, f"{key}.", fail)
    for k in MODE_KEYS:
        if k not in raw:
            raise fail(f"{key}.{k}", "missing")
    try:
        duration = _num(0.0, strict=False)(raw["run_duration"])
    except _Invalid as exc:
        raise fail(f"{key}.run_duration", f"{exc} (seconds; 0 = forever)") from None
    try:
        workers = _int(1, 256)(raw["max_workers"])
    except _Invalid as exc:
        raise fail(f"{key}.max_workers", str(exc)) from None
    syms = raw["symbols"]
    if not isinstance(syms, list):
        raise fail(
            f"{key}.symbols", f"expected a list of {{symbol, streams, enabled}}, got {_type_name(syms)}"
        )
    out: List[SymbolConfig] = []
    seen: Dict[str, int] = {}
    for i, s in enumerate(syms):
        sc = _load_symbol(s, f"{key}.symbols[{i}]", fail)
        if sc.symbol in seen:
            raise fail(
                f"{key}.symbols[{i}].symbol",
                f"duplicate symbol {sc.symbol!r} (already at symbols[{seen[sc.symbol]}])",
            )
        seen[sc.symbol] = i
        out.append(sc)
    return ModeConfig(run_duration=duration, max_workers=workers, symbols=tuple(out))


def _load_symbol(raw: Any, key: str, fail: Callable[[str, str], ConfigError]) -> SymbolConfig:
    if isinstance(raw, str):
        raise fail(
            key, f"expected a mapping like {{symbol: {raw.upper()}, streams: [...]}}, got string {raw!r}"
        )
    if not isinstance(raw, dict):
        raise fail(key, f"expected a mapping with {', '.join(SYMBOL_KEYS)}, got {_type_name(raw)}")
    _check_keys(raw, SYMBOL_KEYS, f"{key}.", fail)
    if "symbol" not in raw:
        raise fail(f"{key}.symbol", "missing")
    sym = raw["symbol"]
    if not isinstance(sym, str):
        raise fail(f"{key}.symbol", f"expected a string, got {_type_name(sym)} {sym!r}")
    fixed = sym.strip().upper()
    if not SYMBOL_RE.match(fixed):
        why = "empty" if not fixed else f"invalid symbol {sym!r}"
        raise fail(
            f"{key}.symbol", f"{why} (expected Binance's form: A-Z and 0-9, e.g. BTCUSDT or BTCUSDT_261225)"
        )
    if "streams" not in raw:
        raise fail(f"{key}.streams", "missing (e.g. [aggTrade, depth@100ms, kline_1m])")
    streams = raw["streams"]
    if not isinstance(streams, list) or not streams:
        raise fail(
            f"{key}.streams",
            f"expected a non-empty list of stream names, got {_type_name(streams)} {streams!r}",
        )
    names: List[str] = []
    depth_at: Optional[int] = None
    for j, st in enumerate(streams):
        skey = f"{key}.streams[{j}]"
        try:
            name = stream_names.validate(st)
        except ValueError as exc:
            raise fail(skey, str(exc)) from None
        if name in names:
            raise fail(skey, f"duplicate stream {name!r}")
        if stream_names.is_depth(name):
            if depth_at is not None:
                raise fail(
                    skey,
                    f"second depth stream {name!r} (already {names[depth_at]!r}); "
                    "one book per symbol needs exactly one diff-depth speed",
                )
            depth_at = len(names)
        names.append(name)
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise fail(f"{key}.enabled", f"expected true or false, got {_type_name(enabled)} {enabled!r}")
    return SymbolConfig(symbol=fixed, streams=tuple(names), enabled=enabled)


def _unwritable(directory: Path) -> Optional[str]:
    """None if the collector can create and write files in ``directory``, else why not."""
    probe = directory
    while not probe.exists():
        if probe.parent == probe:
            return "no existing parent directory"
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is not a directory"
    if probe != directory:
        # It will be created at start; the nearest existing ancestor must accept it.
        try:
            tempfile.TemporaryDirectory(dir=probe).cleanup()
        except OSError as exc:
            return _reason(exc)
        return None
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        return _reason(exc)
    return None


def reference() -> List[Tuple[str, str, str]]:
    """(key, default, meaning) for every section key: the README's reference table."""
    rows = []
    for name, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            rows.append(
                (f"{name}.{f.name}", "null" if f.default is None else str(f.default), f.metadata["doc"])
            )
    return rows
