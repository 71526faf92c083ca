"""JSON text of every message the simulator sends, in the exchange's exact shape.

Key order, key names and JSON types follow the real captures in
``tests/data`` (polyoxide 2026 captures, cryptofeed 2021): prices and
quantities are strings with the contract's decimals, ids and times are
integers, ``m``/``x`` are booleans. Text is built with f-strings rather than
``json.dumps`` because this is the hot path of a load test; symbols are
validated to contain no characters that would need escaping.
"""

from __future__ import annotations

from collections.abc import Iterable

from .instruments import Instrument, decimal_text
from .klines import Bar
from .market import Trade

__all__ = [
    "agg_trade",
    "agg_trade_rest",
    "book_ticker",
    "combined",
    "depth_partial",
    "depth_snapshot",
    "depth_update",
    "kline",
    "kline_rest",
    "mark_price",
]

SYMBOL_TYPE_UM = 1  # "st": 1 = USDⓈ-M, 2 = COIN-M (observed 2026)


def combined(stream: str, payload: str) -> str:
    """The combined-stream wrapper ``{"stream":...,"data":...}``."""
    return f'{{"stream":"{stream}","data":{payload}}}'


def agg_trade(ins: Instrument, t: Trade, trade_ms: int, event_ms: int) -> str:
    q = ins.qty_text(t.qty)
    m = "true" if t.buyer_maker else "false"
    return (
        f'{{"e":"aggTrade","E":{event_ms},"a":{t.agg_id},"s":"{ins.symbol}",'
        f'"p":"{ins.price_text(t.price)}","q":"{q}","nq":"{q}","f":{t.first_id},'
        f'"l":{t.last_id},"T":{trade_ms},"m":{m},"st":{SYMBOL_TYPE_UM}}}'
    )


def agg_trade_rest(ins: Instrument, t: Trade, trade_ms: int) -> dict[str, object]:
    q = ins.qty_text(t.qty)
    return {
        "a": t.agg_id,
        "p": ins.price_text(t.price),
        "q": q,
        "nq": q,
        "f": t.first_id,
        "l": t.last_id,
        "T": trade_ms,
        "m": t.buyer_maker,
    }


def _levels(ins: Instrument, levels: Iterable[tuple[int, int]]) -> str:
    pt, qt = ins.price_text, ins.qty_text
    return ",".join([f'["{pt(p)}","{qt(q)}"]' for p, q in levels])


def depth_update(
    ins: Instrument,
    event_ms: int,
    engine_ms: int,
    first_id: int,
    last_id: int,
    prev_id: int,
    bids: Iterable[tuple[int, int]],
    asks: Iterable[tuple[int, int]],
) -> str:
    """Diff-depth and partial-depth events share this shape (``e`` is depthUpdate)."""
    s = ins.symbol
    return (
        f'{{"e":"depthUpdate","E":{event_ms},"T":{engine_ms},"s":"{s}","ps":"{s}",'
        f'"U":{first_id},"u":{last_id},"pu":{prev_id},'
        f'"b":[{_levels(ins, bids)}],"a":[{_levels(ins, asks)}],"st":{SYMBOL_TYPE_UM}}}'
    )


depth_partial = depth_update


def depth_snapshot(
    ins: Instrument,
    last_update_id: int,
    event_ms: int,
    engine_ms: int,
    bids: Iterable[tuple[int, int]],
    asks: Iterable[tuple[int, int]],
) -> str:
    return (
        f'{{"lastUpdateId":{last_update_id},"E":{event_ms},"T":{engine_ms},'
        f'"bids":[{_levels(ins, bids)}],"asks":[{_levels(ins, asks)}]}}'
    )


def kline(ins: Instrument, interval: str, bar: Bar, event_ms: int, final: bool) -> str:
    s, pt, qt = ins.symbol, ins.price_text, ins.qty_text
    x = "true" if final else "false"
    return (
        f'{{"e":"kline","E":{event_ms},"s":"{s}","k":{{"t":{bar.open_ms},"T":{bar.close_ms},'
        f'"s":"{s}","i":"{interval}","f":{bar.first_id},"L":{bar.last_id},'
        f'"o":"{pt(bar.o)}","c":"{pt(bar.c)}","h":"{pt(bar.h)}","l":"{pt(bar.low)}",'
        f'"v":"{qt(bar.v)}","n":{bar.n},"x":{x},"q":"{ins.quote_text(bar.q)}",'
        f'"V":"{qt(bar.taker_v)}","Q":"{ins.quote_text(bar.taker_q)}","B":"0"}}}}'
    )


def kline_rest(ins: Instrument, bar: Bar) -> list[object]:
    pt, qt = ins.price_text, ins.qty_text
    return [
        bar.open_ms,
        pt(bar.o),
        pt(bar.h),
        pt(bar.low),
        pt(bar.c),
        qt(bar.v),
        bar.close_ms,
        ins.quote_text(bar.q),
        bar.n,
        qt(bar.taker_v),
        ins.quote_text(bar.taker_q),
        "0",
    ]


def book_ticker(
    ins: Instrument, update_id: int, top: tuple[int, int, int, int], engine_ms: int, event_ms: int
) -> str:
    s, pt, qt = ins.symbol, ins.price_text, ins.qty_text
    bp, bq, ap, aq = top
    return (
        f'{{"e":"bookTicker","u":{update_id},"s":"{s}","ps":"{s}","b":"{pt(bp)}",'
        f'"B":"{qt(bq)}","a":"{pt(ap)}","A":"{qt(aq)}","T":{engine_ms},"E":{event_ms},'
        f'"st":{SYMBOL_TYPE_UM}}}'
    )


def mark_price(
    ins: Instrument,
    event_ms: int,
    mark_e8: int,
    index_e8: int,
    settle_e8: int,
    funding_e8: int,
    next_funding_ms: int,
) -> str:
    """Shape from the USDⓈ-M stream documentation (no live capture in tests/data)."""
    return (
        f'{{"e":"markPriceUpdate","E":{event_ms},"s":"{ins.symbol}",'
        f'"p":"{decimal_text(mark_e8, 8)}","i":"{decimal_text(index_e8, 8)}",'
        f'"P":"{decimal_text(settle_e8, 8)}","r":"{decimal_text(funding_e8, 8)}",'
        f'"T":{next_funding_ms}}}'
    )
