"""Cheap looks into raw frames, without parsing JSON in Python.

A combined-stream frame starts ``{"stream":"<name>","data":{...}}``; the worker
only needs the stream name to route the frame, and a few ids for continuity.
"""

from __future__ import annotations

import re
from typing import Optional

_PREFIX = b'{"stream":"'
_AGG_ID = re.compile(rb'"a":(\d+)')
_EVENT_TIME = re.compile(rb'"E":(\d+)')
_FINAL_ID = re.compile(rb'"u":(\d+)')
_TRADE_ID = re.compile(rb'"t":(\d+)')


def stream_of(frame: bytes) -> Optional[bytes]:
    """The stream name of a combined-stream frame (``b"btcusdt@aggTrade"``), or None."""
    if not frame.startswith(_PREFIX):
        return None
    end = frame.find(b'"', len(_PREFIX))
    return frame[len(_PREFIX) : end] if end > 0 else None


def agg_trade_id(frame: bytes) -> Optional[int]:
    m = _AGG_ID.search(frame)
    return int(m.group(1)) if m else None


def dedupe_key(stream_type: str, frame: bytes) -> Optional[int]:
    """A per-stream increasing id used to drop the duplicates two overlapping
    connections deliver during a rollover."""
    if stream_type == "aggTrade":
        m = _AGG_ID.search(frame)
    elif stream_type.startswith("depth") or stream_type == "bookTicker":
        m = _FINAL_ID.search(frame)
    elif stream_type == "trade":
        m = _TRADE_ID.search(frame)
    else:  # kline, markPrice: one push per event time
        m = _EVENT_TIME.search(frame)
    return int(m.group(1)) if m else None
