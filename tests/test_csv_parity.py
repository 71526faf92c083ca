"""The native batcher and the pure-Python fallback must agree byte for byte:
on the real recorded exchange data, on generated frames of every kind, and
on every kind of broken input."""

from __future__ import annotations

import gzip
import json
import random
import re
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, List, Sequence, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from binance_streamer import records

DATA = Path(__file__).parent / "data"
SYMBOLS = ["SUSHIUSDT", "AKROUSDT", "KEEPUSDT", "CTKUSDT", "BTCUSDT"]


def _us(seconds: str) -> int:
    """'1626992741.06217' -> microseconds, without a float round-trip."""
    whole, _, frac = seconds.partition(".")
    return int(whole) * 1_000_000 + int((frac + "000000")[:6])


def cryptofeed_records() -> List[bytes]:
    """Every frame and REST snapshot of the cryptofeed USDⓈ-M capture."""
    out = []
    ws = DATA / "cryptofeed/sample_data/BINANCE_FUTURES.ws.1.0"
    for line in ws.read_bytes().splitlines()[1:]:
        ts, _, frame = line.partition(b": ")
        out.append(records.pack(records.KIND_FRAME, 0, _us(ts.decode()), frame))
    http = DATA / "cryptofeed/sample_data/BINANCE_FUTURES.http.0.0"
    for line in http.read_bytes().splitlines():
        if not line.strip():
            continue
        head, _, body = line.partition(b": ")
        url, _, ts = head.decode().partition(" -> ")
        symbol = re.search(r"symbol=([A-Z0-9]+)", url).group(1)
        out.append(records.pack(records.KIND_SNAPSHOT, SYMBOLS.index(symbol), _us(ts), body))
    return out


def hftbacktest_records() -> List[bytes]:
    """The first 3000 lines of the hftbacktest BTCUSDT capture (depth@0ms, trade,
    bookTicker, one REST snapshot)."""
    path = DATA / "hftbacktest/examples/usdm/btcusdt_20240808_head3000.gz"
    out = []
    for line in gzip.decompress(path.read_bytes()).splitlines():
        ns, _, raw = line.partition(b" ")
        kind = records.KIND_SNAPSHOT if raw.startswith(b'{"lastUpdateId"') else records.KIND_FRAME
        out.append(records.pack(kind, SYMBOLS.index("BTCUSDT"), int(ns) // 1000, raw))
    return out


def polyoxide_records() -> List[bytes]:
    """Single pretty-printed 2026 captures (aggTrade, kline, depth20, bookTicker, REST depth)."""
    out = []
    for i, path in enumerate(sorted((DATA / "polyoxide/ws").glob("*.json"))):
        out.append(records.pack(records.KIND_FRAME, 0, 1_791_382_992_000_000 + i, path.read_bytes()))
    depth = (DATA / "polyoxide/rest/depth.json").read_bytes()
    out.append(records.pack(records.KIND_SNAPSHOT, SYMBOLS.index("BTCUSDT"), 1_791_382_991_300_000, depth))
    return out


def outcome(mod: ModuleType, recs: Sequence[bytes], keep_all: bool = False) -> Tuple[Any, ...]:
    res = mod.encode_records(recs, SYMBOLS, keep_all)
    return res.files, res.rows, res.skipped


def assert_same(native_mod: ModuleType, python_mod: ModuleType, recs: Sequence[bytes]) -> None:
    for keep_all in (False, True):
        assert outcome(native_mod, recs, keep_all) == outcome(python_mod, recs, keep_all)


REAL = {
    "cryptofeed": cryptofeed_records,
    "hftbacktest": hftbacktest_records,
    "polyoxide": polyoxide_records,
}


@pytest.mark.parametrize("source", list(REAL))
def test_real_captures_give_identical_files(
    native_mod: ModuleType, python_mod: ModuleType, source: str
) -> None:
    recs = REAL[source]()
    native = native_mod.encode_records(recs, SYMBOLS)
    assert native.skipped == {}  # every real message is understood
    assert sum(native.rows.values()) >= len(recs) // 2
    assert_same(native_mod, python_mod, recs)


def test_real_captures_in_random_batches(native_mod: ModuleType, python_mod: ModuleType) -> None:
    """Batch boundaries only split files: concatenating each file's pieces over
    batches gives the one-batch result, on both backends."""
    recs = cryptofeed_records() + polyoxide_records()
    whole = {p: d for p, _, d in native_mod.encode_records(recs, SYMBOLS).files}
    rng = random.Random(5)
    for mod in (native_mod, python_mod):
        joined: Dict[str, bytes] = {}
        i = 0
        while i < len(recs):
            n = rng.randint(1, 300)
            for path, _, data in mod.encode_records(recs[i : i + n], SYMBOLS).files:
                joined[path] = joined.get(path, b"") + data
            i += n
        assert joined == whole


# -- generated input -------------------------------------------------------------


class Num(str):
    """A number literal to write into generated JSON verbatim."""


def dump(value: Any, rnd: random.Random) -> str:
    """JSON text with random spacing and random \\u escapes; dicts may be given as
    lists of pairs (``Pairs``) to repeat a key."""
    sp = rnd.choice(["", "", "", " ", "\n  "])
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, Num):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return quote(value, rnd)
    if isinstance(value, Pairs):
        items = [f"{quote(k, rnd)}{sp}:{sp}{dump(v, rnd)}" for k, v in value]
        return "{" + sp + f",{sp}".join(items) + sp + "}"
    if isinstance(value, dict):
        return dump(Pairs(value.items()), rnd)
    return "[" + sp + f",{sp}".join(dump(v, rnd) for v in value) + sp + "]"


class Pairs(list):
    """An object as a list of (key, value), so keys may repeat."""


def quote(s: str, rnd: random.Random) -> str:
    out = []
    for ch in s:
        c = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif c < 0x20 or 0xD800 <= c < 0xE000 or rnd.random() < 0.1:
            if c > 0xFFFF:
                c -= 0x10000
                out.append(f"\\u{0xD800 + (c >> 10):04x}\\u{0xDC00 + (c & 0x3FF):04X}")
            else:
                out.append(f"\\u{c:04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def rare(draw: st.DrawFn, one_in: int) -> bool:
    """True about once in ``one_in`` draws (Hypothesis favours 0, so test another value)."""
    return draw(st.integers(0, one_in - 1)) == one_in // 2


@st.composite
def mostly(draw: st.DrawFn, good: Any, bad: Any, one_in: int = 8) -> Any:
    return draw(bad if rare(draw, one_in) else good)


# Text with the characters that matter: CSV specials, escapes, non-ASCII, lone surrogates.
tricky_text = st.text(
    alphabet=st.sampled_from(list('aZ09._-,"\\\r\n\t\x00 é中😀') + ["\ud800", "\udc00"]),
    max_size=8,
)
decimals = mostly(st.from_regex(r"-?[0-9]{1,6}(\.[0-9]{1,8})?", fullmatch=True), tricky_text, 3)
ids = mostly(
    st.integers(0, 2**63),
    st.one_of(st.integers(-3, 3), st.just(Num("-0")), st.just(Num("1" * 30))),
)
times = mostly(
    st.integers(1_700_000_000_000, 1_800_000_000_000),
    st.one_of(
        st.sampled_from([0, 86_399_999, 86_400_000, 253_402_300_799_999, 253_402_300_800_000, -1]),
        st.just(Num("-0")),
    ),
    4,
)
symbols = mostly(
    st.sampled_from(["BTCUSDT", "ETHUSDT", "BTCUSDT_261225", "币安人生USDT", "a-b_C"]),
    st.one_of(st.sampled_from(["", "a/b", "..", "A,B", "X" * 65, "B\ud800", "É" * 33]), tricky_text),
)
intervals = mostly(st.sampled_from(["1m", "4h", "1M"]), st.sampled_from(["", "1m/", "x" * 9]))
any_json = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.just(Num("1.5e3")),
        st.just(Num("-0.0")),
        tricky_text,
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky_text, inner, max_size=3),
    max_leaves=6,
)
level_lists = mostly(
    st.lists(st.tuples(decimals, decimals).map(list), max_size=4),
    st.one_of(st.lists(any_json, max_size=3), any_json),
)

FIELDS: Dict[str, Dict[str, Any]] = {
    "aggTrade": {"E": times, "a": ids, "s": symbols, "p": decimals, "q": decimals, "f": ids,
                 "l": ids, "T": ids, "m": st.booleans(), "nq": decimals, "st": ids},
    "depthUpdate": {"E": times, "T": ids, "s": symbols, "U": ids, "u": ids, "pu": ids,
                    "b": level_lists, "a": level_lists},
    "kline": {"E": times, "s": symbols},
    "trade": {"E": times, "T": ids, "s": symbols, "t": ids, "p": decimals, "q": decimals,
              "X": st.one_of(decimals, st.none()), "m": st.booleans()},
    "bookTicker": {"u": ids, "E": times, "T": ids, "s": symbols, "b": decimals,
                   "B": decimals, "a": decimals, "A": decimals},
    "markPriceUpdate": {"E": times, "s": symbols, "p": decimals, "i": decimals,
                        "P": decimals, "r": decimals, "T": ids},
}  # fmt: skip
KLINE_FIELDS: Dict[str, Any] = {
    "t": ids, "T": ids, "s": symbols, "i": intervals, "f": ids, "L": ids, "o": decimals,
    "c": decimals, "h": decimals, "l": decimals, "v": decimals, "n": ids, "x": st.booleans(),
    "q": decimals, "V": decimals, "Q": decimals, "B": decimals,
}  # fmt: skip
RECORD_FIELDS: Dict[int, Dict[str, Any]] = {
    records.KIND_SNAPSHOT: {"lastUpdateId": ids, "E": st.one_of(times, st.none()),
                            "T": st.one_of(ids, st.none()), "bids": level_lists,
                            "asks": level_lists},
    records.KIND_GAP: {"stream": tricky_text, "reason": tricky_text,
                       "last_id": st.one_of(ids, st.none()), "next_id": st.one_of(ids, st.none()),
                       "detail": st.one_of(tricky_text, st.none())},
    records.KIND_ORDERBOOK: {"last_update_id": ids, "bids": level_lists, "asks": level_lists},
}  # fmt: skip


@st.composite
def fill(draw: st.DrawFn, spec: Dict[str, Any]) -> Pairs:
    """An object with mostly well-typed fields; some missing, retyped, repeated or added."""
    out = Pairs()
    for key, strategy in spec.items():
        if rare(draw, 40):
            continue  # missing
        out.append((key, draw(any_json if rare(draw, 40) else strategy)))
        if rare(draw, 40):
            out.append((key, draw(strategy)))  # repeated key: the last one counts
    if rare(draw, 4):
        out.append((draw(tricky_text), draw(any_json)))
    return Pairs(draw(st.permutations(out)))


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    event = draw(st.sampled_from(list(FIELDS)))
    if rare(draw, 10):
        event = draw(st.sampled_from(["forceOrder", None]))
    if event is None:
        payload: Any = draw(st.sampled_from([{"result": None, "id": 1}, {"x": 1}, [1]]))
    else:
        payload = draw(fill(FIELDS.get(event, FIELDS["aggTrade"])))
        if event == "kline":
            payload.append(("k", draw(fill(KLINE_FIELDS))))
        payload.insert(draw(st.integers(0, len(payload))), ("e", event))
    if draw(st.booleans()):
        payload = {"stream": "x@y", "data": payload}
    return dump(payload, draw(st.randoms(use_true_random=False))).encode()


@st.composite
def ring_records(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from([1, 1, 1, 1, 1, 2, 3, 4]))
    if rare(draw, 30):
        kind = draw(st.sampled_from([0, 5, 255]))
    if kind in RECORD_FIELDS:
        raw = dump(draw(fill(RECORD_FIELDS[kind])), draw(st.randoms(use_true_random=False))).encode()
    elif kind == 1:
        raw = draw(frames())
    else:
        raw = draw(st.binary(max_size=20))
    if rare(draw, 20):  # damage it
        cut = draw(st.integers(0, len(raw)))
        raw = raw[:cut] + draw(st.binary(max_size=3)) + raw[cut + 1 :]
    symbol_id = draw(mostly(st.integers(0, len(SYMBOLS) - 1), st.just(len(SYMBOLS)), 20))
    lt = draw(mostly(st.integers(0, 2**52), st.sampled_from([-1, 2**62, 86_400_000_000]), 20))
    rec = records.pack(kind, symbol_id, lt, raw)
    return rec[: draw(st.integers(0, 15))] if rare(draw, 60) else rec


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ring_records(), max_size=12))
def test_generated_records_give_identical_results(
    native_mod: ModuleType, python_mod: ModuleType, recs: List[bytes]
) -> None:
    assert_same(native_mod, python_mod, recs)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64), st.sampled_from([1, 2, 3, 4]))
def test_random_bytes_give_identical_results(
    native_mod: ModuleType, python_mod: ModuleType, raw: bytes, kind: int
) -> None:
    assert_same(native_mod, python_mod, [records.pack(kind, 0, 1, raw)])


@pytest.mark.parametrize("depth", [1, 4, 511, 512, 513, 600, 990, 1200, 5000])
@pytest.mark.parametrize("bracket", ["[]", "{}"])
def test_nesting_limit_is_the_same(
    native_mod: ModuleType, python_mod: ModuleType, depth: int, bracket: str
) -> None:
    """An unknown member nesting `depth` levels deep counting the payload
    object: accepted up to 512, refused as invalid JSON beyond, by both backends."""
    open_ = bracket[0]
    inner = (
        ('{"a":' * (depth - 1) + "1" + "}" * (depth - 1))
        if open_ == "{"
        else ("[" * (depth - 1) + "]" * (depth - 1))
    )
    agg = json.dumps({"e": "aggTrade", "E": 1, "a": 1, "s": "X", "p": "1", "q": "1", "f": 1,
                      "l": 1, "T": 1, "m": True})  # fmt: skip
    text = agg[:-1] + ',"deep":' + (inner if depth > 1 else "0") + "}"
    recs = [records.pack(1, 0, 0, text.encode())]
    native = native_mod.encode_records(recs, SYMBOLS)
    assert bool(native.files) == (depth <= 512)
    assert_same(native_mod, python_mod, recs)


def test_huge_integers_are_the_same(native_mod: ModuleType, python_mod: ModuleType) -> None:
    big = "9" * 5000  # beyond Python's default int-from-str digit limit
    agg = '{"e":"aggTrade","E":1,"a":%s,"s":"X","p":"1","q":"1","f":1,"l":1,"T":1,"m":true}'
    recs = [
        records.pack(1, 0, 0, (agg % big).encode()),
        records.pack(1, 0, 0, (agg % "1").replace('"E":1', '"E":' + big).encode()),
    ]
    assert_same(native_mod, python_mod, recs)
    assert native_mod.encode_records(recs, SYMBOLS).rows == {"aggtrade": 1}
