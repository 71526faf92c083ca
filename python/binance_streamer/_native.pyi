"""Typing stubs for the Rust extension ``binance_streamer._native``.

The pure-Python fallback (``binance_streamer.fallback``) exports the same names
with the same signatures.
"""

from typing import Sequence, final

__all__ = [
    "__version__",
    "OrderBook",
    "depth_ids",
    "EncodeResult",
    "encode_records",
    "Ring",
    "cleanup_stale_segments",
]

__version__: str

# --- order book (rust/src/book.rs) -------------------------------------------
# Rules, result tuples and the checksum are described in docs/orderbook.md.
# Result of every apply_* call: (status, last_id, next_id), status one of
# "applied", "synced", "stale", "buffered", "gap", "unbridged", "loaded".

from typing import Literal, Optional, Tuple, Union, overload

_Status = Literal["applied", "synced", "stale", "buffered", "gap", "unbridged", "loaded"]
_Result = Tuple[_Status, int, int]
_Pairs = Sequence[Sequence[str]]

@final
class OrderBook:
    def __new__(cls, max_buffered: int = 1000) -> OrderBook: ...
    def apply_snapshot(self, last_update_id: int, bids: _Pairs, asks: _Pairs) -> _Result: ...
    def apply_snapshot_bytes(self, body: bytes) -> _Result: ...
    def apply_diff(
        self,
        first_update_id: int,
        final_update_id: int,
        prev_final_update_id: int,
        bids: _Pairs,
        asks: _Pairs,
    ) -> _Result: ...
    def apply_diff_bytes(self, frame: bytes) -> _Result: ...
    def invalidate(self) -> None: ...
    @property
    def state(self) -> Literal["empty", "loaded", "synced"]: ...
    @property
    def synced(self) -> bool: ...
    @property
    def last_update_id(self) -> Optional[int]: ...
    @property
    def buffered(self) -> int: ...
    @property
    def max_buffered(self) -> int: ...
    @property
    def bid_count(self) -> int: ...
    @property
    def ask_count(self) -> int: ...
    @overload
    def best_bid(self, as_float: Literal[False] = ...) -> Optional[Tuple[str, str]]: ...
    @overload
    def best_bid(self, as_float: Literal[True]) -> Optional[Tuple[float, float]]: ...
    @overload
    def best_ask(self, as_float: Literal[False] = ...) -> Optional[Tuple[str, str]]: ...
    @overload
    def best_ask(self, as_float: Literal[True]) -> Optional[Tuple[float, float]]: ...
    @overload
    def bids(self, n: Optional[int] = None, as_float: Literal[False] = ...) -> list[Tuple[str, str]]: ...
    @overload
    def bids(self, n: Optional[int], as_float: Literal[True]) -> list[Tuple[float, float]]: ...
    @overload
    def bids(self, *, as_float: Literal[True]) -> list[Tuple[float, float]]: ...
    @overload
    def asks(self, n: Optional[int] = None, as_float: Literal[False] = ...) -> list[Tuple[str, str]]: ...
    @overload
    def asks(self, n: Optional[int], as_float: Literal[True]) -> list[Tuple[float, float]]: ...
    @overload
    def asks(self, *, as_float: Literal[True]) -> list[Tuple[float, float]]: ...
    def mid(self, as_float: bool = False) -> Union[str, float, None]: ...
    def spread(self, as_float: bool = False) -> Union[str, float, None]: ...
    def checksum(self, n: int = 10) -> int: ...

def depth_ids(frame: bytes) -> Tuple[int, int, int]: ...

# --- JSON-to-CSV batching (rust/src/csv.rs) ----------------------------------
# Formats, checks and skip reasons: docs/data-format.md and docs/csv.md.

from typing import Dict, Iterable, List  # noqa: E402

@final
class EncodeResult:
    @property
    def files(self) -> List[Tuple[str, str, bytes]]:
        """``(path, kind, rows)`` per output file, in the order files first got a row.
        ``path`` is ``SYMBOL/<schema.file_name(...)>``; ``rows`` has no header row (a
        new file starts with ``schema.header(kind)``); rows keep the input order."""
    @property
    def rows(self) -> Dict[str, int]:
        """Rows written per file kind."""
    @property
    def skipped(self) -> Dict[str, Tuple[int, bytes, str]]:
        """Records that gave no rows, per kind (``record``, ``frame``, ``control``,
        ``unknown`` or a file kind): ``(count, first record's payload cut to 200 bytes,
        one-line reason)``. Open klines that are filtered out are not counted."""

def encode_records(
    records: Iterable[bytes], symbols: Sequence[str], keep_all_klines: bool = False
) -> EncodeResult:
    """Encode ring records (``records.pack`` layout) into CSV rows grouped per file.
    ``symbols[symbol_id]`` names the symbol of snapshot, gap and order-book records.
    Raises TypeError for a non-bytes record, ValueError for a symbol unfit for paths."""

# --- SPSC shared-memory ring (rust/src/ring.rs) ------------------------------
# Layout, crash semantics and sizing: docs/ring.md.

@final
class Ring:
    """One process's handle on a single-producer single-consumer ring of byte
    records in a named shared-memory segment (``/dev/shm/<name>``)."""

    @classmethod
    def create(cls, name: str, capacity_bytes: int) -> Ring:
        """Create the segment; FileExistsError if the name is taken."""
    @classmethod
    def attach(cls, name: str) -> Ring:
        """Attach to an existing segment; FileNotFoundError if there is none."""
    @property
    def name(self) -> str: ...
    @property
    def capacity(self) -> int:
        """Bytes of record space (frames, prefixes and wrap padding)."""
    @property
    def max_record(self) -> int:
        """Largest record accepted: capacity // 2 - 8."""
    @property
    def closed(self) -> bool: ...
    def close(self) -> None:
        """Unmap (idempotent); the segment stays for other processes."""
    def unlink(self) -> None:
        """Remove the segment's name (idempotent); mappings keep working."""

    # producer
    def try_push(self, record: bytes) -> bool:
        """False (a full event) when the record does not fit now."""
    def push_batch(self, records: Sequence[bytes]) -> int:
        """Push in order until one does not fit; all become visible at once.
        Returns how many were pushed; an invalid record raises and publishes
        nothing."""

    # consumer
    def peek_batch(self, max_records: int = 4096, max_bytes: int = 4194304) -> list[bytes]:
        """Records after the read position, at most max_records and about
        max_bytes of payload (always at least one if any); not yet freed."""
    def commit(self) -> int:
        """Free every record peeked so far; returns how many."""
    def pop_batch(self, max_records: int = 4096, max_bytes: int = 4194304) -> list[bytes]:
        """peek_batch + commit."""
    def wait(self, timeout: float, spin: float = 5e-05) -> bool:
        """True once a record after the read position exists; False after
        timeout seconds. Busy-polls for spin seconds, then sleeps in pauses
        growing to 1 ms."""
    @property
    def read_position(self) -> int:
        """Stream byte position of the next record to peek."""
    @property
    def committed_position(self) -> int:
        """Stream byte position a restarted consumer resumes at."""

    # monitoring, from any attached process
    @property
    def used_bytes(self) -> int: ...
    @property
    def fill_ratio(self) -> float: ...
    def stats(self) -> dict[str, int | float]:
        """capacity, used_bytes, fill_ratio, high_water, pushed, popped,
        full_events, bytes_pushed, bytes_popped, head, tail."""
    def __enter__(self) -> Ring: ...
    def __exit__(self, exc_type: object, exc: object, tb: object) -> bool: ...

def cleanup_stale_segments() -> list[str]:
    """Remove ``bstream-<pid>-*`` segments whose owner died (or whose pid was
    reused); returns the removed names."""
