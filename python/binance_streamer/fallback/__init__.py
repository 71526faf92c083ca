"""Pure-Python twins of every native part, with the same names and behaviour as
``binance_streamer._native`` (see ``_native.pyi``)."""

from .book import OrderBook, depth_ids
from .csv_batch import EncodeResult, encode_records
from .ring import Ring, cleanup_stale_segments

__version__ = "0.1.0"

__all__ = ["EncodeResult", "OrderBook", "Ring", "cleanup_stale_segments", "depth_ids", "encode_records"]
