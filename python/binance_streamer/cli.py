"""Command line (placeholder until the configuration issue lands)."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    from binance_streamer import __version__

    print(f"binance-streamer {__version__}")
    return 0
