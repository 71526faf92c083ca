"""Best bid/ask board: the OrderBook Manager publishes each symbol's top of book
in a small shared-memory segment that any local process can read.

    >>> from binance_streamer import bbo
    >>> board = bbo.open_board("./data")          # the collector's output directory
    >>> board.read("BTCUSDT")
    Quote(symbol='BTCUSDT', bid='64000.10', bid_qty='1.234', ask='64000.20', ...)

Layout (little-endian): a 64-byte header (magic, version, slot count, slot size),
then one 160-byte slot per symbol: seq u64, update_id i64, time_us i64, then the
bid price, bid quantity, ask price, ask quantity as 24-byte NUL-padded decimal
text (the exchange's exact text), and the symbol (24 bytes). ``seq`` is a
seqlock: odd while the manager writes a slot; a reader retries until it sees
the same even value before and after copying the slot.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import struct
import time
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence

from binance_streamer import runtime, shm

MAGIC = 0x4F424253  # "SBBO"
VERSION = 1
HEADER = struct.Struct("<IIII")
HEADER_SIZE = 64
SLOT = struct.Struct("<Qqq24s24s24s24s24s")
SLOT_SIZE = 160


class Quote(NamedTuple):
    symbol: str
    bid: Optional[str]
    bid_qty: Optional[str]
    ask: Optional[str]
    ask_qty: Optional[str]
    update_id: int
    time_us: int

    @property
    def mid(self) -> Optional[float]:
        if self.bid is None or self.ask is None:
            return None
        return (float(self.bid) + float(self.ask)) / 2


def segment_name(output_dir: str | os.PathLike[str], pid: Optional[int] = None) -> str:
    """The board's shared-memory name for the collector (``pid``, default this
    process) writing to ``output_dir``. The owner pid in the name lets the next
    run clean up what a killed run left (``cleanup_stale_segments``)."""
    digest = hashlib.sha1(str(Path(output_dir).resolve()).encode()).hexdigest()[:12]
    return shm.segment_name(f"bbo-{digest}", pid)


def _text(b: bytes) -> Optional[str]:
    s = b.rstrip(b"\0").decode()
    return s or None


class Board:
    def __init__(self, mm: mmap.mmap, path: Path, owner: bool):
        self._mm = mm
        self._view = memoryview(mm)
        self.path = path
        self._owner = owner
        magic, version, n, slot = HEADER.unpack_from(mm, 0)
        if magic != MAGIC or version != VERSION or slot != SLOT_SIZE:
            raise ValueError(f"{path}: not a binance_streamer best-bid/ask board")
        self._index: Dict[str, int] = {}
        for i in range(n):
            sym = _text(SLOT.unpack_from(mm, HEADER_SIZE + i * SLOT_SIZE)[7])
            if sym:
                self._index[sym] = i
        self._seq = self._view[HEADER_SIZE:].cast("Q")  # seq words are at slot starts

    @property
    def symbols(self) -> List[str]:
        return list(self._index)

    def publish(
        self,
        symbol: str,
        bid: Optional[str],
        bid_qty: Optional[str],
        ask: Optional[str],
        ask_qty: Optional[str],
        update_id: int,
        time_us: int,
    ) -> None:
        """Writer side (the OrderBook Manager only)."""
        i = self._index[symbol]
        off = HEADER_SIZE + i * SLOT_SIZE
        w = i * (SLOT_SIZE // 8)
        seq = self._seq[w]
        self._seq[w] = seq + 1  # odd: slot being written
        struct.pack_into(
            "<qq24s24s24s24s",
            self._mm,
            off + 8,
            update_id,
            time_us,
            (bid or "").encode(),
            (bid_qty or "").encode(),
            (ask or "").encode(),
            (ask_qty or "").encode(),
        )
        self._seq[w] = seq + 2

    def read(self, symbol: str, retries: int = 1000) -> Optional[Quote]:
        """The latest quote for ``symbol``; None if the manager has not published one yet."""
        i = self._index.get(symbol.upper())
        if i is None:
            raise KeyError(f"{symbol!r} is not on this board (symbols: {', '.join(self._index)})")
        off = HEADER_SIZE + i * SLOT_SIZE
        w = i * (SLOT_SIZE // 8)
        for _ in range(retries):
            before = self._seq[w]
            if before & 1:
                time.sleep(0)
                continue
            fields = SLOT.unpack_from(self._mm, off)
            if self._seq[w] == before:
                if before == 0:
                    return None
                _, uid, t, b, bq, a, aq, _sym = fields
                return Quote(symbol.upper(), _text(b), _text(bq), _text(a), _text(aq), uid, t)
        raise TimeoutError(f"best bid/ask for {symbol} kept changing while being read")

    def close(self) -> None:
        self._seq.release()
        self._view.release()
        self._mm.close()

    def unlink(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


def create_board(output_dir: str | os.PathLike[str], symbols: Sequence[str]) -> Board:
    """Create (or replace) the board for a collector run."""
    path = Path(shm.shm_dir()) / segment_name(output_dir)
    size = HEADER_SIZE + SLOT_SIZE * max(1, len(symbols))
    fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_TRUNC, 0o644)
    try:
        os.ftruncate(fd, size)
        mm = mmap.mmap(fd, size)
    finally:
        os.close(fd)
    HEADER.pack_into(mm, 0, MAGIC, VERSION, len(symbols), SLOT_SIZE)
    for i, sym in enumerate(symbols):
        SLOT.pack_into(mm, HEADER_SIZE + i * SLOT_SIZE, 0, 0, 0, b"", b"", b"", b"", sym.encode())
    return Board(mm, path, owner=True)


def open_board(output_dir: str | os.PathLike[str]) -> Board:
    """Attach to the board of the collector writing to ``output_dir``
    (FileNotFoundError if no collector is running there)."""
    pid = runtime.running_pid(runtime.paths_for(Path(output_dir).resolve()))
    if pid is None:
        raise FileNotFoundError(f"no collector is running with output directory {output_dir}")
    path = Path(shm.shm_dir()) / segment_name(output_dir, pid)
    fd = os.open(path, os.O_RDWR)
    try:
        mm = mmap.mmap(fd, os.fstat(fd).st_size)
    finally:
        os.close(fd)
    return Board(mm, path, owner=False)


def read(symbol: str, output_dir: str | os.PathLike[str] = "./data") -> Optional[Quote]:
    """One-shot read of a symbol's best bid/ask from a running collector."""
    board = open_board(output_dir)
    try:
        return board.read(symbol)
    finally:
        board.close()
