"""Pure-Python twins of every native part, with the same names and behaviour as
``binance_streamer._native`` (see ``_native.pyi``)."""

from .book import OrderBook, depth_ids  # noqa: F401
from .csv_batch import EncodeResult, encode_records  # noqa: F401

__version__ = "0.1.0"

from .ring import Ring, cleanup_stale_segments  # noqa: E402,F401
