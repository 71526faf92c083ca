"""verify's order book checks: replay the book through a symbol's depth files
and report what only a book can show.

- A snapshot or top-N sample that disagrees with the replayed book where both
  know the levels (replay.py explains "know"): some depth row since the last
  agreement, or the snapshot/sample itself, is not what the exchange sent.
  This is how an altered price or quantity in a depth row is caught, and a
  deleted level row (the update survives, one change is lost).
- A crossed live book (best bid at or above best ask) after an update: a
  correct book never crosses, so a level row is wrong.

An altered row is caught at the next snapshot or sample whose compared levels
include it, or as soon as it crosses the book; one changed far from the top
and never compared again cannot be seen (docs/reading.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional, Tuple

from binance_streamer.read.files import DataFile
from binance_streamer.read.replay import BookReplay

_SAME = " (later disagreements are not reported until the replay restarts from a snapshot)"

if TYPE_CHECKING:  # pragma: no cover
    from binance_streamer.read.verify import Verifier


def check_books(v: Verifier, symbol: str, found: List[DataFile]) -> None:
    days = sorted(f.day for f in found if f.kind == "depth")
    replay = BookReplay(
        v.data_dir,
        symbol,
        days[0],
        days[-1],
        backend=v.backend,
        on_bad_line=lambda *_: None,  # damaged lines were reported by the file checks
    )
    extra = sum(f.path.stat().st_size for f in replay.snapshot_files if f.day in days)
    since: Optional[Tuple[DataFile, int]] = None  # the first update after the last agreement
    # After a reported problem the replayed book stays wrong until it restarts
    # from a snapshot: later disagreements are most likely the same one.
    wrong = False
    done = 0
    for n, step in enumerate(replay):
        if step.kind == "diff":
            if since is None:
                since = (step.file, step.line)
            book = step.book
            if book.synced and not wrong:
                bid, ask = book.best_bid(True), book.best_ask(True)
                if bid is not None and ask is not None and bid[0] >= ask[0]:
                    v.problem(
                        step.file,
                        step.line,
                        f"crossed book after update u={step.update_id}: best bid {bid[0]!r} >= best ask {ask[0]!r}"
                        f"{_SAME}",
                    )
                    wrong = True
            if n % 4096 == 0:
                v.progress.advance(replay.bytes_read - done, f"{symbol} book replay")
                done = replay.bytes_read
        elif step.status == "mismatch":
            what = "snapshot" if step.kind == "snapshot" else "top-N sample"
            if not wrong or step.kind == "snapshot":
                origin = f" since {since[0].path.name}:{since[1]}" if since is not None else ""
                v.problem(
                    step.file,
                    step.line,
                    f"the replayed book disagrees with this {what} (update id {step.update_id}): {step.mismatch}; "
                    f"a depth row{origin} or this {what} is not what the exchange sent"
                    + (_SAME if step.kind == "sample" else ""),
                )
            wrong = step.kind == "sample"
            if not wrong:
                since = None
        elif step.kind == "snapshot" and step.status in ("match", "resync"):
            since, wrong = None, False
    v.progress.advance(replay.bytes_read - done + extra, f"{symbol} book replay")
