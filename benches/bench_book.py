"""Order book throughput on real BTCUSDT ``@depth@0ms`` diffs, from raw frame bytes.

The book starts from the capture's 1000-level REST snapshot and takes the 1,996
diffs that follow it (median 34 level changes each, up to ~1,000; the book grows
past 2,700 levels a side). Two workloads, as the orderbook manager uses the book:

- ``orderbook-apply``: apply every diff (parse, sequence check, levels).
- ``orderbook-apply+top10``: the same, then read best bid, best ask and the top 10
  of each side after every diff.

Compared: the native book, its pure-Python fallback, and two peer approaches if
installed (skipped otherwise): a ``sortedcontainers.SortedDict`` book and the
``order-book`` C extension, both keyed by ``Decimal`` (exact, like ours) and fed by
``orjson`` (or ``json``), with the same ``pu`` check done in Python.

Measure: ``pytest benches/bench_book.py --benchmark-enable --benchmark-group-by=group``
(after ``maturin develop --release``). Level changes/s = ``extra_info["level_changes"]``
/ mean time.
"""

from __future__ import annotations

import gzip
import importlib
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, List, NamedTuple, Tuple

import pytest

from binance_streamer import native

CAPTURE = (
    Path(__file__).resolve().parent.parent / "tests/data/hftbacktest/examples/usdm/btcusdt_20240808_depth.gz"
)
GROUPS = {False: "orderbook-apply", True: "orderbook-apply+top10"}
TOP = 10

try:
    from orjson import loads
except ImportError:  # the peers then parse with the standard library
    from json import loads


class Capture(NamedTuple):
    snapshot: bytes
    diffs: List[bytes]
    level_changes: int
    best_bid: Tuple[str, str]


def load_capture() -> Capture:
    with gzip.open(CAPTURE, "rb") as lines:
        bodies = [line.split(b" ", 1)[1].rstrip(b"\n") for line in lines]
    snapshot = next(b for b in bodies if b.startswith(b'{"lastUpdateId"'))
    last_update_id = loads(snapshot)["lastUpdateId"]
    diffs = []
    changes = 0
    for body in bodies:
        if body is snapshot:
            continue
        data = loads(body)["data"]
        if data["u"] >= last_update_id:  # the stale ones would only be skipped
            diffs.append(body)
            changes += len(data["b"]) + len(data["a"])
    book = native.load("python").OrderBook()
    book.apply_snapshot_bytes(snapshot)
    for body in diffs:
        book.apply_diff_bytes(body)
    return Capture(snapshot, diffs, changes, book.best_bid())


@pytest.fixture(scope="module")
def capture() -> Capture:
    return load_capture()


# ---- the contenders: setup(snapshot) -> state; run(state, diffs, read) -> best bid


def book_setup(module_name: str) -> Callable[[bytes], Any]:
    module = native.load(module_name)

    def setup(snapshot: bytes) -> Any:
        book = module.OrderBook()
        book.apply_snapshot_bytes(snapshot)
        return book

    return setup


def book_run(book: Any, diffs: List[bytes], read: bool) -> Tuple[str, str]:
    apply = book.apply_diff_bytes
    if read:
        best_bid, best_ask, bids, asks = book.best_bid, book.best_ask, book.bids, book.asks
        for frame in diffs:
            apply(frame)
            best_bid()
            best_ask()
            bids(TOP)
            asks(TOP)
    else:
        for frame in diffs:
            apply(frame)
    return book.best_bid()


class PeerBook:
    """A Python book on a sorted mapping from a peer library, with the USDⓈ-M
    ``pu`` check, as one would write it without this package."""

    def __init__(self, bids: Any, asks: Any, snapshot: bytes) -> None:
        body = loads(snapshot)
        self.bids, self.asks = bids, asks
        for side, levels in ((bids, body["bids"]), (asks, body["asks"])):
            for price, qty in levels:
                side[Decimal(price)] = Decimal(qty)
        self.last = body["lastUpdateId"]
        self.synced = False

    def apply(self, frame: bytes) -> None:
        data = loads(frame)["data"]
        if self.synced and data["pu"] != self.last:
            raise AssertionError("gap")
        self.synced = True
        for side, levels in ((self.bids, data["b"]), (self.asks, data["a"])):
            for price, qty in levels:
                q = Decimal(qty)
                if q:
                    side[Decimal(price)] = q
                else:
                    side.pop(Decimal(price), None)
        self.last = data["u"]


def sortedcontainers_setup(snapshot: bytes) -> PeerBook:
    sorted_dict = importlib.import_module("sortedcontainers").SortedDict
    return PeerBook(sorted_dict(), sorted_dict(), snapshot)


def sortedcontainers_run(book: PeerBook, diffs: List[bytes], read: bool) -> Tuple[str, str]:
    bids, asks = book.bids, book.asks
    for frame in diffs:
        book.apply(frame)
        if read:
            bids.peekitem(-1)
            asks.peekitem(0)
            bid_items, ask_items = bids.items(), asks.items()
            bid_items[: -TOP - 1 : -1]
            ask_items[:TOP]
    price, qty = bids.peekitem(-1)
    return str(price), str(qty)


class _CSide:
    """``order_book`` sides raise on deleting a missing key; give them ``pop``."""

    def __init__(self, side: Any) -> None:
        self.side = side

    def __setitem__(self, key: Decimal, value: Decimal) -> None:
        self.side[key] = value

    def pop(self, key: Decimal, default: Any = None) -> Any:
        try:
            del self.side[key]
        except KeyError:
            return default
        return None


def order_book_setup(snapshot: bytes) -> PeerBook:
    book = importlib.import_module("order_book").OrderBook(max_depth=0)
    return PeerBook(_CSide(book.bids), _CSide(book.asks), snapshot)


def order_book_run(book: PeerBook, diffs: List[bytes], read: bool) -> Tuple[str, str]:
    bids, asks = book.bids.side, book.asks.side
    for frame in diffs:
        book.apply(frame)
        if read:
            bids.index(0)
            asks.index(0)
            [bids.index(i) for i in range(min(TOP, len(bids)))]
            [asks.index(i) for i in range(min(TOP, len(asks)))]
    price, qty = bids.index(0)
    return str(price), str(qty)


CONTENDERS = {
    "native": (lambda: book_setup("native"), book_run, 10),
    "python": (lambda: book_setup("python"), book_run, 3),
    "sortedcontainers": (lambda: sortedcontainers_setup, sortedcontainers_run, 3),
    "order-book": (lambda: order_book_setup, order_book_run, 3),
}
PEER_MODULES = {"sortedcontainers": "sortedcontainers", "order-book": "order_book"}


@pytest.mark.parametrize("read", [False, True], ids=["apply", "apply+top10"])
@pytest.mark.parametrize("contender", list(CONTENDERS))
def test_orderbook_throughput(benchmark: Any, capture: Capture, contender: str, read: bool) -> None:
    if contender in PEER_MODULES:
        pytest.importorskip(PEER_MODULES[contender])
    make_setup, run, rounds = CONTENDERS[contender]
    setup = make_setup()
    benchmark.group = GROUPS[read]
    benchmark.extra_info.update(
        contender=contender,
        level_changes=capture.level_changes,
        diffs=len(capture.diffs),
        peer_parser=loads.__module__,
    )
    best_bid = benchmark.pedantic(
        run,
        setup=lambda: ((setup(capture.snapshot), capture.diffs, read), {}),
        rounds=rounds,
        iterations=1,
    )
    # Every contender must end on the same book, or the race means nothing.
    assert (Decimal(best_bid[0]), Decimal(best_bid[1])) == (
        Decimal(capture.best_bid[0]),
        Decimal(capture.best_bid[1]),
    )
