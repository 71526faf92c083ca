"""Reading recorded data back: find files, load them into numpy structured
arrays (streaming), replay the order book, and verify integrity.

See docs/reading.md for a walkthrough."""

from binance_streamer.read.files import DataFile, find, parse_day, symbols
from binance_streamer.read.load import (
    MISSING,
    DataFileError,
    dtype,
    iter_file,
    iter_load,
    load,
    read_file,
)
from binance_streamer.read.replay import BookReplay, Step

__all__ = [
    "MISSING",
    "BookReplay",
    "DataFile",
    "DataFileError",
    "dtype",
    "find",
    "iter_file",
    "iter_load",
    "load",
    "parse_day",
    "read_file",
    "Step",
    "symbols",
]
