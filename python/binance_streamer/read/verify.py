"""``binance-streamer verify DATA_DIR [--symbol S] [--date YYYYMMDD]``: check
recorded files for completeness and integrity.

Per file: the header row, damaged or partial lines, the symbol column, rows in
the right day's file, time order. Per stream, across days: aggTrade and trade
id holes and repeats, the depth ``pu`` chain, closed klines back to back, and
snapshots / top-N samples that are sorted and not crossed. Every hole must be
explained by a gap row (see gapindex.py). With the book check (default), the
order book is replayed through the depth files and compared with every later
snapshot and top-N sample (see bookcheck.py).

Prints a report per file and exits 1 if anything is unexplained, 0 if clean,
2 on bad arguments.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import IO, Callable, Dict, List, NoReturn, Optional, Sequence, Tuple, Union

import numpy as np

from binance_streamer.read import files as rfiles
from binance_streamer.read.checks import checker_for
from binance_streamer.read.files import DataFile
from binance_streamer.read.gapindex import DEFAULT_SLACK_US, GapIndex
from binance_streamer.read.load import DataFileError, FileReader

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2
KEPT_PER_FILE = 1000  # problems kept per file; the rest are only counted
FeedFn = Callable[[np.ndarray, np.ndarray], None]


@dataclass
class FileReport:
    path: Path
    name: str  # "<SYMBOL>/<file>", as printed
    rows: int = 0
    problems: List[Tuple[int, str]] = field(default_factory=list)
    uncounted: int = 0  # problems beyond KEPT_PER_FILE
    explained: List[str] = field(default_factory=list)
    damaged: List[int] = field(default_factory=list)  # lines the reader could not use

    def add(self, line: int, message: str) -> None:
        if len(self.problems) < KEPT_PER_FILE:
            self.problems.append((line, message))
        else:
            self.uncounted += 1

    @property
    def problem_count(self) -> int:
        return len(self.problems) + self.uncounted

    def sorted_problems(self) -> List[Tuple[int, str]]:
        """By line; the checks find them stream by stream, the reader line by line."""
        return sorted(self.problems, key=lambda p: p[0])


@dataclass
class Report:
    files: Dict[Path, FileReport] = field(default_factory=dict)

    @property
    def problem_count(self) -> int:
        return sum(f.problem_count for f in self.files.values())

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def entry(self, path: Path) -> FileReport:
        rep = self.files.get(path)
        if rep is None:
            rep = self.files[path] = FileReport(path, f"{path.parent.name}/{path.name}")
        return rep

    def problems(self) -> List[Tuple[str, int, str]]:
        """(file name, line, message) of every problem, in report order."""
        return [(f.name, line, msg) for f in self.files.values() for line, msg in f.sorted_problems()]


class Progress:
    """A one-line progress bar on stderr, redrawn at most ten times a second."""

    def __init__(self, total_bytes: int, enabled: bool, out: Optional[IO[str]] = None, width: int = 30):
        self.total = max(1, total_bytes)
        self.enabled = enabled
        self.out = out if out is not None else sys.stderr
        self.width = width
        self.done = 0
        self._last = 0.0
        self._drawn = False

    def advance(self, nbytes: int, label: str) -> None:
        self.done += nbytes
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and self.done < self.total:
            return
        self._last = now
        frac = min(1.0, self.done / self.total)
        filled = int(frac * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        self.out.write(f"\rverify [{bar}] {frac * 100:3.0f}% {label[:50]:<50}")
        self.out.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.out.write("\r" + " " * (self.width + 64) + "\r")
            self.out.flush()


class Verifier:
    """Runs every check over a data directory, collecting a Report.

    It is the checks' Sink: holes are explained against the current symbol's
    gap rows before they become problems."""

    def __init__(
        self,
        data_dir: Path,
        symbols: Optional[Sequence[str]] = None,
        date: Optional[str] = None,
        slack_us: int = DEFAULT_SLACK_US,
        book: bool = True,
        progress: bool = False,
        backend: Union[str, ModuleType, None] = None,
    ):
        self.data_dir = Path(data_dir)
        self.symbols = list(symbols) if symbols else rfiles.symbols(self.data_dir)
        self.date = date
        self.slack_us = slack_us
        self.book = book
        self.backend = backend
        self.report = Report()
        self.gaps = GapIndex(slack_us)
        self._progress_on = progress

    # --- the Sink -----------------------------------------------------------------

    def problem(self, file: DataFile, line: int, message: str) -> None:
        self.report.entry(file.path).add(line, message)

    def hole(
        self,
        file: DataFile,
        line_before: int,
        line: int,
        message: str,
        t_before_us: int,
        t_after_us: int,
        last_id: Optional[int] = None,
        next_id: Optional[int] = None,
    ) -> None:
        rep = self.report.entry(file.path)
        k = bisect.bisect_right(rep.damaged, line_before)  # damaged lines come in file order
        if k < len(rep.damaged) and rep.damaged[k] < line:
            return  # the damaged line between the two rows is the problem already reported
        g = self.gaps.explain(file, t_before_us, t_after_us, last_id, next_id)
        if g is None:
            self.problem(file, line, f"{message}; no gap row explains it")
        else:
            self.report.entry(file.path).explained.append(
                f"line {line}: {message}: gap row {g.where} ({g.reason})"
            )

    # --- running ------------------------------------------------------------------

    def run(self) -> Report:
        plan = {s: rfiles.find(self.data_dir, s, start=self.date, end=self.date) for s in self.symbols}
        total = sum(f.path.stat().st_size for fs in plan.values() for f in fs)
        if self.book:
            total += sum(
                f.path.stat().st_size for fs in plan.values() for f in fs if f.kind in ("depth", "snapshot")
            )
        self.progress = Progress(total, self._progress_on)
        try:
            for symbol, found in plan.items():
                self._symbol(symbol, found)
        finally:
            self.progress.close()
        return self.report

    def _symbol(self, symbol: str, found: List[DataFile]) -> None:
        for path in rfiles.unrecognized(self.data_dir, symbol):
            self.report.entry(path).add(0, "not a file name the collector writes for " + symbol)
        for f in found:
            self.report.entry(f.path)
        self.gaps = GapIndex(self.slack_us)
        self._load_gaps(symbol, found)
        streams: Dict[Tuple[str, str], List[DataFile]] = {}
        for f in found:
            streams.setdefault((f.kind, f.interval), []).append(f)
        for files in streams.values():
            checker = checker_for(files[0], self)
            for f in files:
                checker.start_file(f)
                self._read(f, lambda rows, lines, c=checker: c.feed(rows, lines))
                checker.end_file()
            checker.finish()
        if self.book and any(f.kind == "depth" for f in found):
            from binance_streamer.read.bookcheck import check_books

            check_books(self, symbol, found)

    def _load_gaps(self, symbol: str, found: List[DataFile]) -> None:
        """Gap rows of the checked days, and of the days either side when one
        day is checked (a gap row is filed by local time, the data by exchange
        time, so around midnight they can be a file apart)."""
        if self.date is None:
            gap_files = [f for f in found if f.kind == "gaps"]
        else:
            d = rfiles.parse_day(self.date)
            gap_files = rfiles.find(
                self.data_dir, symbol, ["gaps"], d - dt.timedelta(days=1), d + dt.timedelta(days=1)
            )
        for f in gap_files:
            try:
                for chunk in FileReader(f.path, "gaps", symbol, on_bad_line=lambda *_: None):
                    self.gaps.add_rows(chunk.rows, chunk.lines.tolist(), f)
            except DataFileError:
                pass  # reported when the gaps file itself is checked

    @staticmethod
    def _damaged(rep: FileReport, line: int, message: str) -> None:
        rep.add(line, message)
        rep.damaged.append(line)

    def _read(self, f: DataFile, feed: FeedFn) -> None:
        """Stream ``f`` into ``feed``, reporting damaged lines and its row count."""
        rep = self.report.entry(f.path)
        reader = FileReader(
            f.path,
            f.kind,
            f.symbol,
            on_bad_line=lambda line, message, _text: self._damaged(rep, line, message),
        )
        done = 0
        try:
            for chunk in reader:
                feed(chunk.rows, chunk.lines)
                self.progress.advance(reader.bytes_read - done, rep.name)
                done = reader.bytes_read
        except DataFileError as exc:
            rep.add(exc.line, exc.reason)
        self.progress.advance(reader.bytes_read - done, rep.name)
        rep.rows = reader.rows_read


# --- the report ------------------------------------------------------------------------


def print_report(report: Report, out: IO[str], max_problems: int = 20, verbose: bool = False) -> None:
    width = max((len(f.name) for f in report.files.values()), default=0)
    for f in report.files.values():
        explained = f"; {len(f.explained)} hole(s) explained by gap rows" if f.explained else ""
        if f.problem_count:
            status = f"FAIL  {f.problem_count} problem(s){explained}"
        else:
            status = f"ok    {f.rows} rows{explained}"
        out.write(f"{f.name:<{width}}  {status}\n")
        for line, message in f.sorted_problems()[:max_problems]:
            out.write(f"    {'line ' + str(line) + ': ' if line else ''}{message}\n")
        if f.problem_count > max_problems:
            out.write(f"    ... and {f.problem_count - max_problems} more\n")
        if verbose:
            for note in f.explained:
                out.write(f"    explained: {note}\n")
    bad = sum(1 for f in report.files.values() if f.problem_count)
    n_explained = sum(len(f.explained) for f in report.files.values())
    summary = f"{len(report.files)} file(s) checked, {bad} with problems ({report.problem_count} in all)"
    if n_explained:
        summary += f"; {n_explained} hole(s) explained by gap rows"
    out.write(("FAILED: " if bad else "OK: ") + summary + "\n")


# --- the command ---------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="binance-streamer verify",
        description="Check recorded data files for completeness and integrity. Exit status: 0 clean, "
        "1 problems found, 2 bad arguments.",
    )
    p.add_argument("data_dir", metavar="DATA_DIR", help="the collector's output directory")
    p.add_argument("--symbol", action="append", metavar="S", help="check only this symbol (repeatable)")
    p.add_argument("--date", metavar="YYYYMMDD", help="check only this UTC day")
    p.add_argument("--no-book", action="store_true", help="skip the order book replay checks (faster)")
    p.add_argument(
        "--slack",
        type=float,
        default=DEFAULT_SLACK_US / 1e6,
        metavar="SECONDS",
        help="how far (local time) a gap row may be from the hole it explains (default %(default)g)",
    )
    p.add_argument(
        "--progress", action="store_true", help="show a progress bar even when stderr is not a terminal"
    )
    p.add_argument(
        "--max-problems", type=int, default=20, metavar="N", help="problems listed per file (default 20)"
    )
    p.add_argument("-v", "--verbose", action="store_true", help="also list the holes gap rows explain")
    p.add_argument(
        "--backend", choices=("auto", "native", "python"), help="order book backend for the replay"
    )
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``binance-streamer verify``; ``argv`` excludes the word ``verify``."""
    args = build_parser().parse_args(argv)
    prog = "binance-streamer verify"
    data_dir = Path(args.data_dir)
    if not data_dir.is_dir():
        print(f"{prog}: {data_dir}: no such directory", file=sys.stderr)
        return EXIT_USAGE
    if args.date is not None:
        try:
            rfiles.parse_day(args.date)
        except ValueError as exc:
            print(f"{prog}: --date: {exc}", file=sys.stderr)
            return EXIT_USAGE
    if args.slack < 0 or args.max_problems < 0:
        print(f"{prog}: --slack and --max-problems must not be negative", file=sys.stderr)
        return EXIT_USAGE
    symbols = args.symbol
    if symbols:
        missing = [s for s in symbols if not (data_dir / s).is_dir()]
        if missing:
            print(f"{prog}: no directory {data_dir / missing[0]} for symbol {missing[0]}", file=sys.stderr)
            return EXIT_USAGE
    if args.backend is not None or not args.no_book:
        from binance_streamer import native

        try:
            native.load(args.backend)
        except native.BackendError as exc:
            print(f"{prog}: {exc}", file=sys.stderr)
            return EXIT_USAGE
    verifier = Verifier(
        data_dir,
        symbols,
        args.date,
        slack_us=int(args.slack * 1e6),
        book=not args.no_book,
        progress=args.progress or sys.stderr.isatty(),
        backend=args.backend,
    )
    report = verifier.run()
    if not report.files:
        what = f" for {args.date}" if args.date else ""
        print(f"{prog}: no data files{what} under {data_dir}", file=sys.stderr)
        return EXIT_PROBLEMS
    print_report(report, sys.stdout, args.max_problems, args.verbose)
    return EXIT_OK if report.ok else EXIT_PROBLEMS


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
