"""TEST HELPER, not product code: writes data-contract files (columns.txt,
DESIGN.md "Records and files") from exchange messages, standing in for the
collector's writer until tests run on its real output.

Two sources of messages:
- ``cryptofeed_*``: the real Binance USDⓈ-M recording in tests/data/cryptofeed;
- ``SyntheticMarket``: a small seeded market (pu-chained depth, aggTrades,
  closed 1m klines, snapshots, top-N samples) that can span a UTC midnight and
  have outages recorded as gap rows, for what 30 s of real data cannot show.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from binance_streamer import schema

DATA = Path(__file__).parent / "data"
CRYPTOFEED_WS = DATA / "cryptofeed" / "sample_data" / "BINANCE_FUTURES.ws.1.0"
CRYPTOFEED_HTTP = DATA / "cryptofeed" / "sample_data" / "BINANCE_FUTURES.http.0.0"
CRYPTOFEED_DAY = "20210722"
CRYPTOFEED_SYMBOLS = ("AKROUSDT", "CTKUSDT", "KEEPUSDT", "SUSHIUSDT")
MS_PER_DAY = 86_400_000


def _day(ms: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y%m%d")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


class ContractWriter:
    """Collects rows per file and writes them, header first, on ``close``."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.rows: Dict[Tuple[str, str, str, str], List[str]] = defaultdict(list)

    def _add(self, kind: str, symbol: str, day: str, cells: Sequence[Any], interval: str = "") -> None:
        assert len(cells) == len(schema.COLUMNS[kind]), kind
        self.rows[(kind, symbol, day, interval)].append(",".join(_cell(c) for c in cells) + "\n")

    def frame(self, local_us: int, data: Dict[str, Any]) -> None:
        """A websocket event (the ``data`` of a combined-stream frame)."""
        e, sym, day = data["e"], data["s"], _day(data["E"])
        if e == "depthUpdate":
            head = [local_us, data["E"], data["T"], sym, data["U"], data["u"], data["pu"]]
            levels = [("bid", p, q) for p, q in data["b"]] + [("ask", p, q) for p, q in data["a"]]
            for side, p, q in levels or [(None, None, None)]:
                self._add("depth", sym, day, [*head, side, p, q])
        elif e == "aggTrade":
            self._add(
                "aggtrade",
                sym,
                day,
                [
                    local_us,
                    data["E"],
                    sym,
                    data["a"],
                    data["p"],
                    data["q"],
                    data["f"],
                    data["l"],
                    data["T"],
                    data["m"],
                ],
            )
        elif e == "kline":
            k = data["k"]
            if k["x"]:
                cells = [local_us, data["E"], sym, k["i"], k["t"], k["T"], k["f"], k["L"]]
                cells += [k["o"], k["h"], k["l"], k["c"], k["v"], k["n"], k["x"], k["q"], k["V"], k["Q"]]
                self._add("kline", sym, day, cells, interval=k["i"])
        elif e == "bookTicker":
            cells = [
                local_us,
                data["E"],
                data["T"],
                sym,
                data["u"],
                data["b"],
                data["B"],
                data["a"],
                data["A"],
            ]
            self._add("bookticker", sym, day, cells)
        else:
            raise ValueError(f"no file kind for event {e!r}")

    def snapshot(self, local_us: int, symbol: str, body: Dict[str, Any]) -> None:
        day = _day(body["E"])
        head = [local_us, body.get("E"), body.get("T"), symbol, body["lastUpdateId"]]
        levels = [("bid", p, q) for p, q in body["bids"]] + [("ask", p, q) for p, q in body["asks"]]
        for side, p, q in levels or [(None, None, None)]:
            self._add("snapshot", symbol, day, [*head, side, p, q])

    def gap(
        self,
        local_us: int,
        symbol: str,
        stream: str,
        reason: str,
        last_id: Optional[int] = None,
        next_id: Optional[int] = None,
        detail: str = "",
    ) -> None:
        day = _day(local_us // 1000)
        self._add("gaps", symbol, day, [local_us, symbol, stream, reason, last_id, next_id, detail])

    def orderbook(
        self, local_us: int, symbol: str, last_update_id: int, bids: Sequence, asks: Sequence
    ) -> None:
        day = _day(local_us // 1000)
        for side, levels in (("bid", bids), ("ask", asks)):
            for n, (p, q) in enumerate(levels, 1):
                self._add("orderbook", symbol, day, [local_us, symbol, last_update_id, side, n, p, q])

    def close(self) -> List[Path]:
        written = []
        for (kind, symbol, day, interval), rows in sorted(self.rows.items()):
            path = self.root / symbol / schema.file_name(kind, symbol, day, interval)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(schema.header(kind) + "".join(rows).encode())
            written.append(path)
        return written


# --- the real recording ---------------------------------------------------------------


def _local_us(seconds: str) -> int:
    """cryptofeed's receive time ("1626992741.06217") in exact microseconds."""
    whole, _, frac = seconds.strip().partition(".")
    return int(whole) * 1_000_000 + int((frac + "000000")[:6])


def cryptofeed_frames() -> Iterator[Tuple[int, Dict[str, Any]]]:
    """(local_time_us, event) for every websocket frame of the recording."""
    with open(CRYPTOFEED_WS, encoding="utf-8") as f:
        next(f)  # "<url> <-> <connect time>"
        for line in f:
            ts, _, frame = line.partition(": ")
            yield _local_us(ts), json.loads(frame)["data"]


def cryptofeed_snapshots() -> Iterator[Tuple[int, str, Dict[str, Any]]]:
    """(local_time_us, symbol, body) for every REST depth snapshot of the recording."""
    with open(CRYPTOFEED_HTTP, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            url, _, rest = line.partition(" -> ")
            ts, _, body = rest.partition(": ")
            symbol = url.split("symbol=", 1)[1].split("&", 1)[0]
            yield _local_us(ts), symbol, json.loads(body)


def write_cryptofeed(
    root: Path, orderbook_every: int = 0, levels: int = 10, backend: Any = None
) -> List[Path]:
    """The recording in the data contract, as the collector would write it.

    With ``orderbook_every`` > 0 (needs ``backend``), also the OrderBook Manager's
    top-``levels`` samples after every ``orderbook_every``-th applied diff of a
    symbol, computed with ``backend.OrderBook`` from the same messages."""
    w = ContractWriter(root)
    events: List[Tuple[int, int, Any]] = [(t, 1, d) for t, d in cryptofeed_frames()]
    events += [(t, 0, (s, b)) for t, s, b in cryptofeed_snapshots()]
    events.sort(key=lambda e: (e[0], e[1]))
    books: Dict[str, Any] = {}
    applied: Dict[str, int] = defaultdict(int)
    for t, is_frame, payload in events:
        if not is_frame:
            symbol, body = payload
            w.snapshot(t, symbol, body)
            if orderbook_every:
                book = books.setdefault(symbol, backend.OrderBook())
                book.apply_snapshot(body["lastUpdateId"], body["bids"], body["asks"])
            continue
        w.frame(t, payload)
        if orderbook_every and payload["e"] == "depthUpdate":
            sym = payload["s"]
            book = books.setdefault(sym, backend.OrderBook())
            status = book.apply_diff(payload["U"], payload["u"], payload["pu"], payload["b"], payload["a"])[0]
            if status in ("applied", "synced"):
                applied[sym] += 1
                if applied[sym] % orderbook_every == 0:
                    w.orderbook(t + 50, sym, book.last_update_id, book.bids(levels), book.asks(levels))
    return w.close()


# --- a synthetic market ------------------------------------------------------------------


def _price(ticks: int) -> str:
    return f"{ticks // 10}.{ticks % 10}0"


def _qty(milli: int) -> str:
    return f"{milli // 1000}.{milli % 1000:03d}"


@dataclass
class Outage:
    """No message is recorded from ``start_s`` to ``end_s`` (seconds into the run);
    the collector records a reconnect gap for each stream and resyncs depth."""

    start_s: float
    end_s: float


@dataclass
class SyntheticMarket:
    symbol: str = "BTCUSDT"
    start_ms: int = 1_704_153_480_000  # 2024-01-01 23:58:00 UTC: the run crosses midnight
    seconds: int = 240
    seed: int = 7
    depth_ms: int = 100
    trade_ms: int = 250
    snapshot_every_s: int = 60
    orderbook_every_s: int = 5
    orderbook_levels: int = 10
    outages: List[Outage] = field(default_factory=list)

    def write(self, root: Path) -> List[Path]:
        """Generate the run and write its files; returns the paths written."""
        rng = random.Random(self.seed)
        w = ContractWriter(root)
        sym = self.symbol
        bids = {600_000 - i: rng.randint(1, 5000) for i in range(1, 41)}
        asks = {600_000 + i: rng.randint(1, 5000) for i in range(0, 40)}
        uid = 9_000_000_000
        last_u: Optional[int] = None
        last_recorded_u: Optional[int] = None
        agg_id, trade_id = 500_000, 2_000_000
        minute: Optional[Dict[str, Any]] = None
        need_snapshot = True
        down = False
        end_ms = self.start_ms + self.seconds * 1000

        def lat() -> int:
            return rng.randint(2_000, 9_000)  # receive latency, us

        def recorded(ms: int) -> bool:
            s = (ms - self.start_ms) / 1000
            return not any(o.start_s <= s < o.end_s for o in self.outages)

        def snapshot(ms: int, last: int) -> None:
            body = {
                "lastUpdateId": last,
                "E": ms,
                "T": ms - 1,
                "bids": [[_price(p), _qty(q)] for p, q in sorted(bids.items(), reverse=True)],
                "asks": [[_price(p), _qty(q)] for p, q in sorted(asks.items())],
            }
            w.snapshot(ms * 1000 + lat(), sym, body)

        for ms in range(self.start_ms, end_ms, self.depth_ms):
            up = recorded(ms)
            if up and down:
                t = ms * 1000
                w.gap(
                    t,
                    sym,
                    "depth@100ms",
                    "reconnect",
                    last_recorded_u,
                    None,
                    "websocket reconnected after 3.0 s",
                )
                w.gap(
                    t,
                    sym,
                    "aggTrade",
                    "reconnect",
                    None,
                    None,
                    "websocket reconnected, events meanwhile missing",
                )
                w.gap(
                    t,
                    sym,
                    "kline_1m",
                    "reconnect",
                    None,
                    None,
                    "websocket reconnected, events meanwhile missing",
                )
                need_snapshot = True
            down = not up
            # --- depth: change a few levels near the top, never crossing
            changes_b: Dict[int, int] = {}
            changes_a: Dict[int, int] = {}
            for _ in range(rng.randint(0, 4)):
                best_b, best_a = max(bids), min(asks)
                if rng.random() < 0.5:
                    p = best_b - rng.randint(-1, 8)
                    if p >= best_a:
                        continue
                    q = 0 if (p in bids and rng.random() < 0.3 and len(bids) > 5) else rng.randint(1, 5000)
                    changes_b[p] = q
                    bids[p] = q
                    if q == 0:
                        del bids[p]
                else:
                    p = best_a + rng.randint(-1, 8)
                    if p <= best_b:
                        continue
                    q = 0 if (p in asks and rng.random() < 0.3 and len(asks) > 5) else rng.randint(1, 5000)
                    changes_a[p] = q
                    asks[p] = q
                    if q == 0:
                        del asks[p]
            # Ids of other symbols' updates lie between two of ours, so a
            # snapshot's lastUpdateId can fall between two updates.
            first = uid + rng.randint(2, 40)
            uid = first + rng.randint(0, 30)
            diff = {
                "e": "depthUpdate",
                "E": ms + 2,
                "T": ms,
                "s": sym,
                "U": first,
                "u": uid,
                "pu": last_u if last_u is not None else first - 1,
                "b": [[_price(p), _qty(q)] for p, q in changes_b.items()],
                "a": [[_price(p), _qty(q)] for p, q in changes_a.items()],
            }
            last_u = uid
            if up:
                last_recorded_u = uid
                w.frame((ms + 2) * 1000 + lat(), diff)
                if need_snapshot:
                    # REST answers a little later with the book as of this diff.
                    snapshot(ms + 40, uid)
                    need_snapshot = False
            # --- trades, and the 1m kline they build
            if ms % self.trade_ms == 0:
                agg_id += 1
                n = rng.randint(1, 3)
                buyer_maker = rng.random() < 0.5
                p = max(bids) if buyer_maker else min(asks)
                q = rng.randint(1, 900)
                trade = {
                    "e": "aggTrade",
                    "E": ms + 3,
                    "s": sym,
                    "a": agg_id,
                    "p": _price(p),
                    "q": _qty(q),
                    "f": trade_id + 1,
                    "l": trade_id + n,
                    "T": ms + 1,
                    "m": buyer_maker,
                }
                trade_id += n
                if up:
                    w.frame((ms + 3) * 1000 + lat(), trade)
                start = ms - ms % 60_000
                if minute is None or minute["t"] != start:
                    minute = {
                        "t": start,
                        "o": p,
                        "h": p,
                        "l": p,
                        "c": p,
                        "v": 0,
                        "n": 0,
                        "f": trade_id - n + 1,
                    }
                minute.update(h=max(minute["h"], p), l=min(minute["l"], p), c=p)
                minute["v"] += q
                minute["n"] += n
                minute["L"] = trade_id
            # --- a closed kline just after each minute boundary
            if (ms + self.depth_ms) % 60_000 == 0 and minute is not None:
                close_ms = ms + self.depth_ms
                k = minute
                kline = {
                    "e": "kline",
                    "E": close_ms + 5,
                    "s": sym,
                    "k": {
                        "t": k["t"],
                        "T": k["t"] + 59_999,
                        "s": sym,
                        "i": "1m",
                        "f": k["f"],
                        "L": k["L"],
                        "o": _price(k["o"]),
                        "c": _price(k["c"]),
                        "h": _price(k["h"]),
                        "l": _price(k["l"]),
                        "v": _qty(k["v"]),
                        "n": k["n"],
                        "x": True,
                        "q": "0",
                        "V": "0",
                        "Q": "0",
                    },
                }
                if recorded(close_ms):
                    w.frame((close_ms + 5) * 1000 + lat(), kline)
                minute = None
            # --- periodic snapshots and the manager's top-N samples
            s = (ms - self.start_ms) // 1000
            if up and ms % 1000 == 0 and s and s % self.snapshot_every_s == 0:
                snapshot(ms + 30, uid + 1)  # between this update and the next
            if up and ms % 1000 == 0 and s % self.orderbook_every_s == 0 and not need_snapshot:
                top_b = sorted(bids.items(), reverse=True)[: self.orderbook_levels]
                top_a = sorted(asks.items())[: self.orderbook_levels]
                w.orderbook(
                    (ms + 2) * 1000 + 20_000,
                    sym,
                    uid,
                    [(_price(p), _qty(q)) for p, q in top_b],
                    [(_price(p), _qty(q)) for p, q in top_a],
                )
        return w.close()
