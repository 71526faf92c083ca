"""Command line: ``python -m binance_streamer`` / ``binance-streamer``."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from binance_streamer import __version__, config, native

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="binance-streamer",
        description="Record Binance USDⓈ-M Futures market data (aggTrade, depth diffs, klines, "
        "depth snapshots) into daily CSV files.",
        epilog="Check recorded files: binance-streamer verify DATA_DIR [--symbol S] [--date YYYYMMDD]. "
        "Configuration reference: README.md. Offline demo: python -m binance_streamer.simulator",
    )
    p.add_argument(
        "-c",
        "--config",
        default="config.yaml",
        metavar="PATH",
        help="configuration file (default: config.yaml)",
    )
    p.add_argument("--mode", metavar="NAME", help="run this entry of `modes` instead of `mode`")
    p.add_argument(
        "--duration",
        type=float,
        metavar="SECONDS",
        help="stop after SECONDS (overrides run_duration; 0 = run until stopped)",
    )
    p.add_argument(
        "--backend",
        choices=native.CHOICES,
        help="native (Rust), python (fallback) or auto (overrides performance.backend "
        f"and ${native.ENV_VAR})",
    )
    p.add_argument("--output", metavar="DIR", help="output directory (overrides storage.output_directory)")
    p.add_argument(
        "--status",
        action="store_true",
        help="show the configuration summary and the live state of a running collector",
    )
    p.add_argument(
        "--list-symbols", action="store_true", help="list the symbols and streams of the selected mode"
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("--version", action="version", version=f"binance-streamer {__version__}")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["verify"]:
        from binance_streamer.read import verify

        return verify.main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        cfg = config.load(
            args.config,
            config.Overrides(
                mode=args.mode, duration=args.duration, backend=args.backend, output=args.output
            ),
        )
        # The environment variable counts too; a bad value is a config error.
        native.resolve(None, cfg.performance.backend) if args.backend is None else None
    except (config.ConfigError, native.BackendError) as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE

    from binance_streamer import status_view

    if args.list_symbols:
        print(status_view.symbols_table(cfg))
        return EXIT_OK
    if args.status:
        print(status_view.status_report(cfg))
        return EXIT_OK

    from binance_streamer.collector import run

    return run(cfg, verbose=args.verbose)
