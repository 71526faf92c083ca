//! Rules and edge cases of [`OrderBook`], plus a replay of real captures.

use super::*;
use crate::book::fixed::{parse, to_text, Fixed};

fn lvl(price: &str, qty: &str) -> Level {
    Level::new(
        parse(price.as_bytes()).unwrap(),
        parse(qty.as_bytes()).unwrap(),
    )
}

fn levels(pairs: &[(&str, &str)]) -> Vec<Level> {
    pairs.iter().map(|(p, q)| lvl(p, q)).collect()
}

fn ids(first: u64, last: u64, prev: u64) -> DiffIds {
    DiffIds { first, last, prev }
}

fn diff(
    book: &mut OrderBook,
    first: u64,
    last: u64,
    prev: u64,
    bids: &[(&str, &str)],
    asks: &[(&str, &str)],
) -> Outcome {
    book.apply_diff(ids(first, last, prev), &levels(bids), &levels(asks))
        .unwrap()
}

fn snapshot(book: &mut OrderBook, last_update_id: u64) -> Outcome {
    let bids = levels(&[("100.0", "1"), ("99.5", "2"), ("99.0", "3")]);
    let asks = levels(&[("100.5", "1"), ("101.0", "2"), ("101.5", "3")]);
    book.apply_snapshot(last_update_id, &bids, &asks)
}

fn side_text(levels: impl Iterator<Item = Level>) -> Vec<(String, String)> {
    levels
        .map(|l| (to_text(l.price()), to_text(l.qty())))
        .collect()
}

fn bids_text(book: &OrderBook) -> Vec<(String, String)> {
    side_text(book.bids().iter().copied())
}

fn asks_text(book: &OrderBook) -> Vec<(String, String)> {
    side_text(book.asks().iter().copied())
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(p, q)| (p.to_string(), q.to_string()))
        .collect()
}

/// A book synced at 100 with the default snapshot.
fn synced_book() -> OrderBook {
    let mut book = OrderBook::default();
    assert_eq!(snapshot(&mut book, 100), Outcome::Loaded { snapshot: 100 });
    assert_eq!(
        diff(&mut book, 95, 105, 90, &[], &[]),
        Outcome::Synced {
            snapshot: 100,
            last: 105
        }
    );
    book
}

#[test]
fn diffs_before_the_snapshot_are_buffered_as_one_chain() {
    let mut book = OrderBook::default();
    assert_eq!(book.state(), State::Empty);
    assert_eq!(
        diff(&mut book, 10, 20, 5, &[], &[]),
        Outcome::Buffered { prev: 0, last: 20 }
    );
    assert_eq!(
        diff(&mut book, 21, 30, 20, &[], &[]),
        Outcome::Buffered { prev: 20, last: 30 }
    );
    assert_eq!(book.buffered(), 2);
    // A break discards what came before it: it can no longer be chained.
    assert_eq!(
        diff(&mut book, 41, 50, 40, &[], &[]),
        Outcome::Buffered { prev: 0, last: 50 }
    );
    assert_eq!(book.buffered(), 1);
    assert_eq!(book.last_update_id(), None);
    assert!(book.bids().is_empty());
}

#[test]
fn buffer_is_bounded_and_keeps_the_newest() {
    let mut book = OrderBook::new(3);
    let mut prev = 0;
    for k in 1..=5u64 {
        diff(&mut book, k * 10, k * 10 + 5, prev, &[("1", "1")], &[]);
        prev = k * 10 + 5;
    }
    assert_eq!(book.buffered(), 3);
    // The oldest kept diff is 30..35, so a snapshot at 32 bridges.
    assert_eq!(
        snapshot(&mut book, 32),
        Outcome::Synced {
            snapshot: 32,
            last: 55
        }
    );
    // Dropping the oldest means a snapshot at 12 can no longer be bridged.
    let mut book = OrderBook::new(3);
    let mut prev = 0;
    for k in 1..=5u64 {
        diff(&mut book, k * 10, k * 10 + 5, prev, &[], &[]);
        prev = k * 10 + 5;
    }
    assert_eq!(
        snapshot(&mut book, 12),
        Outcome::Unbridged {
            snapshot: 12,
            next: 30
        }
    );
}

#[test]
fn zero_max_buffered_holds_nothing() {
    let mut book = OrderBook::new(0);
    assert_eq!(
        diff(&mut book, 10, 20, 5, &[], &[]),
        Outcome::Buffered { prev: 0, last: 20 }
    );
    assert_eq!(book.buffered(), 0);
    assert_eq!(snapshot(&mut book, 15), Outcome::Loaded { snapshot: 15 });
}

#[test]
fn snapshot_drops_stale_diffs_and_replays_from_the_bridge() {
    let mut book = OrderBook::default();
    diff(&mut book, 80, 90, 70, &[("100.0", "9")], &[]); // stale: u < L
    diff(&mut book, 91, 110, 90, &[("99.5", "0")], &[]); // bridges 100
    diff(&mut book, 111, 120, 110, &[], &[("100.5", "7.25")]);
    assert_eq!(
        snapshot(&mut book, 100),
        Outcome::Synced {
            snapshot: 100,
            last: 120
        }
    );
    assert!(book.is_synced());
    assert_eq!(book.buffered(), 0);
    assert_eq!(book.last_update_id(), Some(120));
    assert_eq!(bids_text(&book), pairs(&[("100.0", "1"), ("99.0", "3")]));
    assert_eq!(
        asks_text(&book)[0],
        ("100.5".to_string(), "7.25".to_string())
    );
}

#[test]
fn bridge_accepts_both_boundaries() {
    // U == L (SUSHIUSDT in the cryptofeed capture).
    let mut book = OrderBook::default();
    diff(&mut book, 100, 130, 90, &[], &[]);
    assert_eq!(
        snapshot(&mut book, 100),
        Outcome::Synced {
            snapshot: 100,
            last: 130
        }
    );
    // u == L is kept, not dropped (the spot rule would drop it).
    let mut book = OrderBook::default();
    diff(&mut book, 60, 100, 50, &[("99.0", "0")], &[]);
    assert_eq!(
        snapshot(&mut book, 100),
        Outcome::Synced {
            snapshot: 100,
            last: 100
        }
    );
    assert_eq!(book.bids().len(), 2);
    // u == L - 1 is stale.
    let mut book = OrderBook::default();
    diff(&mut book, 60, 99, 50, &[], &[]);
    assert_eq!(snapshot(&mut book, 100), Outcome::Loaded { snapshot: 100 });
}

#[test]
fn snapshot_older_than_the_buffer_is_unbridged_and_the_buffer_kept() {
    let mut book = OrderBook::default();
    diff(&mut book, 150, 160, 140, &[], &[]);
    diff(&mut book, 161, 170, 160, &[], &[]);
    assert_eq!(
        snapshot(&mut book, 100),
        Outcome::Unbridged {
            snapshot: 100,
            next: 150
        }
    );
    assert_eq!(book.state(), State::Empty);
    assert!(book.bids().is_empty() && book.asks().is_empty());
    assert_eq!(book.buffered(), 2);
    assert_eq!(
        snapshot(&mut book, 165),
        Outcome::Synced {
            snapshot: 165,
            last: 170
        }
    );
}

#[test]
fn snapshot_newer_than_the_buffer_waits_for_a_bridging_diff() {
    let mut book = OrderBook::default();
    diff(&mut book, 50, 60, 40, &[], &[]);
    assert_eq!(snapshot(&mut book, 100), Outcome::Loaded { snapshot: 100 });
    assert_eq!(book.state(), State::Loaded);
    assert_eq!(book.last_update_id(), Some(100));
    assert!(!book.is_synced());
    assert_eq!(
        diff(&mut book, 61, 99, 60, &[], &[]),
        Outcome::Stale {
            book: 100,
            last: 99
        }
    );
    assert_eq!(
        diff(&mut book, 100, 101, 99, &[], &[]),
        Outcome::Synced {
            snapshot: 100,
            last: 101
        }
    );
    assert!(book.is_synced());
}

#[test]
fn loaded_snapshot_skipped_by_the_stream_is_unbridged() {
    let mut book = OrderBook::default();
    snapshot(&mut book, 100);
    assert_eq!(
        diff(&mut book, 101, 110, 95, &[], &[]),
        Outcome::Unbridged {
            snapshot: 100,
            next: 101
        }
    );
    assert_eq!(book.state(), State::Empty);
    assert_eq!(book.buffered(), 1);
}

#[test]
fn chained_diffs_apply_and_a_pu_break_is_a_gap() {
    let mut book = synced_book();
    assert_eq!(
        diff(&mut book, 106, 110, 105, &[("100.0", "4")], &[]),
        Outcome::Applied {
            prev: 105,
            last: 110
        }
    );
    assert_eq!(book.last_update_id(), Some(110));
    let before = book.checksum(usize::MAX);
    assert_eq!(
        diff(&mut book, 120, 130, 115, &[("98.0", "1")], &[]),
        Outcome::Gap {
            last: 110,
            next: 120
        }
    );
    assert_eq!(book.state(), State::Empty);
    assert!(
        book.bids().is_empty(),
        "a gapped book must not serve stale levels"
    );
    assert_ne!(book.checksum(usize::MAX), before);
    // The diff that broke the chain starts the new buffer, so a snapshot
    // inside its range bridges at once.
    assert_eq!(book.buffered(), 1);
    assert_eq!(
        snapshot(&mut book, 125),
        Outcome::Synced {
            snapshot: 125,
            last: 130
        }
    );
    assert_eq!(bids_text(&book)[..1], pairs(&[("100.0", "1")]));
    assert_eq!(book.bids().len(), 4);
}

#[test]
fn stale_diffs_are_ignored_when_synced() {
    let mut book = synced_book();
    let before = book.checksum(usize::MAX);
    assert_eq!(
        diff(&mut book, 90, 104, 80, &[("100.0", "0")], &[]),
        Outcome::Stale {
            book: 105,
            last: 104
        }
    );
    assert_eq!(book.checksum(usize::MAX), before);
    assert_eq!(book.last_update_id(), Some(105));
    // u == last update id is not stale: a replayed last diff breaks the chain.
    assert_eq!(
        diff(&mut book, 95, 105, 90, &[], &[]),
        Outcome::Gap {
            last: 105,
            next: 95
        }
    );
}

#[test]
fn quantities_are_absolute_and_zero_removes() {
    let mut book = synced_book();
    diff(
        &mut book,
        106,
        107,
        105,
        &[("100.0", "0.5"), ("99.5", "0.000"), ("99.7", "2")],
        &[("101.0", "0")],
    );
    assert_eq!(
        bids_text(&book),
        pairs(&[("100.0", "0.5"), ("99.7", "2"), ("99.0", "3")])
    );
    assert_eq!(asks_text(&book), pairs(&[("100.5", "1"), ("101.5", "3")]));
}

#[test]
fn removing_a_level_that_does_not_exist_changes_nothing() {
    let mut book = synced_book();
    let before = (bids_text(&book), asks_text(&book));
    assert_eq!(
        diff(&mut book, 106, 107, 105, &[("42", "0")], &[("4200", "0.0")]),
        Outcome::Applied {
            prev: 105,
            last: 107
        }
    );
    assert_eq!((bids_text(&book), asks_text(&book)), before);
}

#[test]
fn crossed_book_after_a_bad_diff_is_kept_as_sent_and_visible() {
    let mut book = synced_book();
    diff(&mut book, 106, 107, 105, &[("101.0", "1")], &[]);
    assert_eq!(to_text(book.bids().best().unwrap().price()), "101.0");
    assert_eq!(to_text(book.asks().best().unwrap().price()), "100.5");
    assert_eq!(book.spread_text().as_deref(), Some("-0.5"));
    assert_eq!(book.mid_text().as_deref(), Some("100.75"));
    // A fresh snapshot repairs it.
    book.invalidate();
    snapshot(&mut book, 200);
    assert_eq!(book.spread_text().as_deref(), Some("0.5"));
}

#[test]
fn empty_sides_answer_none() {
    let mut book = OrderBook::default();
    assert_eq!(
        book.apply_snapshot(7, &[], &levels(&[("5", "1")])),
        Outcome::Loaded { snapshot: 7 }
    );
    assert!(book.bids().best().is_none());
    assert_eq!(book.mid_text(), None);
    assert_eq!(book.spread_text(), None);
    assert_eq!(book.asks().len(), 1);
    let one_ask = book.checksum(10);
    book.apply_snapshot(7, &[], &[]);
    assert_ne!(book.checksum(10), one_ask);
    assert_eq!(
        diff(&mut book, 7, 8, 6, &[("4", "1")], &[]),
        Outcome::Synced {
            snapshot: 7,
            last: 8
        }
    );
    assert_eq!(book.mid_text(), None);
}

#[test]
fn huge_id_jumps_chain_by_pu_alone() {
    let mut book = OrderBook::default();
    let big = u64::MAX - 10;
    book.apply_snapshot(1, &levels(&[("1", "1")]), &levels(&[("2", "1")]));
    assert_eq!(
        diff(&mut book, 0, 5, 0, &[], &[]),
        Outcome::Synced {
            snapshot: 1,
            last: 5
        }
    );
    assert_eq!(
        diff(&mut book, 1_000_000_000_000, big, 5, &[], &[]),
        Outcome::Applied { prev: 5, last: big }
    );
    assert_eq!(
        diff(&mut book, u64::MAX, u64::MAX, big, &[], &[]),
        Outcome::Applied {
            prev: big,
            last: u64::MAX
        }
    );
    assert_eq!(book.last_update_id(), Some(u64::MAX));
}

#[test]
fn first_id_after_last_id_is_rejected() {
    let mut book = synced_book();
    let err = book.apply_diff(ids(110, 109, 105), &[], &[]).unwrap_err();
    assert_eq!(
        err,
        FieldError::FirstAfterLast {
            first: 110,
            last: 109
        }
    );
    assert_eq!(book.last_update_id(), Some(105));
}

#[test]
fn malformed_frames_never_touch_the_book() {
    let mut book = synced_book();
    let state = |b: &OrderBook| {
        (
            b.state(),
            b.last_update_id(),
            b.buffered(),
            bids_text(b),
            asks_text(b),
        )
    };
    let before = state(&book);
    for frame in [
        &br#"{"U":106,"u":107,"pu":105,"b":[["100.0","5"],["99","x"]],"a":[]}"#[..],
        br#"{"U":106,"u":107,"pu":105,"b":[["100.0","5"]],"a":[["101","1"]]"#,
        br#"{"U":106,"u":107,"b":[["100.0","5"]],"a":[]}"#,
        br#"{"e":"bookTicker","U":106,"u":107,"pu":105,"b":[],"a":[]}"#,
    ] {
        assert!(book.apply_diff_bytes(frame).is_err());
        assert_eq!(state(&book), before);
    }
    assert!(book
        .apply_snapshot_bytes(br#"{"lastUpdateId":1,"bids":[["1","1"]],"asks":[[1,1]]}"#)
        .is_err());
    assert_eq!(state(&book), before);
}

#[test]
fn invalidate_forgets_levels_and_buffer() {
    let mut book = OrderBook::default();
    diff(&mut book, 10, 20, 5, &[], &[]);
    book.invalidate();
    assert_eq!(book.buffered(), 0);
    let mut book = synced_book();
    book.invalidate();
    assert_eq!(
        (book.state(), book.last_update_id(), book.bids().len()),
        (State::Empty, None, 0)
    );
    assert_eq!(
        diff(&mut book, 106, 107, 105, &[], &[]),
        Outcome::Buffered { prev: 0, last: 107 }
    );
}

#[test]
fn snapshot_while_synced_starts_over() {
    let mut book = synced_book();
    assert_eq!(snapshot(&mut book, 300), Outcome::Loaded { snapshot: 300 });
    assert_eq!(
        diff(&mut book, 106, 107, 105, &[], &[]),
        Outcome::Stale {
            book: 300,
            last: 107
        }
    );
}

#[test]
fn mid_and_spread_are_exact_at_the_largest_prices() {
    let top = "18446744073709551615.999999999999999999";
    let mut book = OrderBook::default();
    book.apply_snapshot(1, &levels(&[(top, "1")]), &levels(&[(top, "1")]));
    assert_eq!(book.mid_text().as_deref(), Some(top));
    assert_eq!(book.spread_text().as_deref(), Some("0.000000000000000000"));
    book.apply_snapshot(
        1,
        &levels(&[(top, "1")]),
        &levels(&[("0.000000000000000001", "1")]),
    );
    assert_eq!(
        book.mid_text().as_deref(),
        Some("9223372036854775808.000000000000000000")
    );
    assert_eq!(
        book.spread_text().as_deref(),
        Some("-18446744073709551615.999999999999999998")
    );
}

#[test]
fn mid_spread_and_checksum_are_exact() {
    let mut book = OrderBook::default();
    book.apply_snapshot(
        1,
        &levels(&[("7.6110", "6")]),
        &levels(&[("7.6120", "297")]),
    );
    assert_eq!(book.mid_text().as_deref(), Some("7.6115"));
    assert_eq!(book.spread_text().as_deref(), Some("0.0010"));
    let a = book.checksum(10);
    // Value-based: the same levels written with other trailing zeros match.
    let mut other = OrderBook::default();
    other.apply_snapshot(
        9,
        &levels(&[("7.611", "6.0")]),
        &levels(&[("7.612", "297")]),
    );
    assert_eq!(other.checksum(10), a);
    other.apply_snapshot(
        9,
        &levels(&[("7.611", "6.5")]),
        &levels(&[("7.612", "297")]),
    );
    assert_ne!(other.checksum(10), a);
    // Top-N only: a change below level n is invisible to checksum(n).
    let mut deep = OrderBook::default();
    deep.apply_snapshot(
        1,
        &levels(&[("7.6110", "6"), ("7.0", "1")]),
        &levels(&[("7.6120", "297")]),
    );
    assert_eq!(deep.checksum(1), book.checksum(1));
    assert_ne!(deep.checksum(2), book.checksum(2));
}

#[test]
fn combined_and_bare_frames_apply_alike() {
    let bare = br#"{"e":"depthUpdate","E":1,"T":1,"s":"X","U":106,"u":107,"pu":105,"b":[["100.0","4"]],"a":[["100.5","0"]]}"#;
    let mut combined = br#"{"stream":"x@depth@100ms","data":"#.to_vec();
    combined.extend_from_slice(bare);
    combined.push(b'}');
    let mut one = synced_book();
    let mut two = synced_book();
    assert_eq!(
        one.apply_diff_bytes(bare).unwrap(),
        Outcome::Applied {
            prev: 105,
            last: 107
        }
    );
    assert_eq!(
        two.apply_diff_bytes(&combined).unwrap(),
        Outcome::Applied {
            prev: 105,
            last: 107
        }
    );
    assert_eq!(
        (bids_text(&one), asks_text(&one)),
        (bids_text(&two), asks_text(&two))
    );
    assert_eq!(asks_text(&one)[0].0, "101.0");
}

// ---- real data ----------------------------------------------------------

fn data_file(rel: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The cryptofeed USDⓈ-M capture: 4 symbols, each a REST snapshot fetched
/// ~1 s after the socket opened plus a `pu`-chained `@depth@100ms` stream.
/// Replayed in receive-time order, every symbol must sync with no gap.
#[test]
fn cryptofeed_capture_syncs_every_symbol_without_a_gap() {
    let ws = data_file("cryptofeed/sample_data/BINANCE_FUTURES.ws.1.0");
    let http = data_file("cryptofeed/sample_data/BINANCE_FUTURES.http.0.0");
    // (receive time, symbol, is_snapshot, body)
    let mut events: Vec<(f64, String, bool, &str)> = Vec::new();
    for line in http.lines().filter(|l| !l.is_empty()) {
        let (url, rest) = line.split_once(" -> ").unwrap();
        let (ts, body) = rest.split_once(": ").unwrap();
        let symbol = url
            .split("symbol=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap()
            .to_lowercase();
        events.push((ts.parse().unwrap(), symbol, true, body));
    }
    for line in ws.lines().skip(1) {
        let (ts, frame) = line.split_once(": ").unwrap();
        let stream = frame.split('"').nth(3).unwrap();
        if let Some((symbol, _)) = stream.split_once("@depth") {
            events.push((ts.parse().unwrap(), symbol.to_string(), false, frame));
        }
    }
    events.sort_by(|a, b| a.0.total_cmp(&b.0));

    let mut books: std::collections::BTreeMap<String, (OrderBook, Vec<&'static str>)> =
        Default::default();
    for (_, symbol, is_snapshot, body) in &events {
        let (book, seen) = books
            .entry(symbol.clone())
            .or_insert_with(|| (OrderBook::default(), Vec::new()));
        let outcome = if *is_snapshot {
            book.apply_snapshot_bytes(body.as_bytes()).unwrap()
        } else {
            book.apply_diff_bytes(body.as_bytes()).unwrap()
        };
        seen.push(outcome.status());
    }
    assert_eq!(books.len(), 4);
    for (symbol, (book, seen)) in &books {
        let count = |s: &str| seen.iter().filter(|&&x| x == s).count();
        assert_eq!(count("gap") + count("unbridged"), 0, "{symbol}: {seen:?}");
        assert_eq!(count("synced"), 1, "{symbol}");
        assert!(book.is_synced(), "{symbol}");
        assert!(count("applied") > 100, "{symbol}: {}", count("applied"));
        let (bid, ask) = (book.bids().best().unwrap(), book.asks().best().unwrap());
        assert!(bid.price < ask.price, "{symbol}: crossed after replay");
    }
}

/// Which boundary each symbol's bridging diff sits on (per SOURCES.md:
/// SUSHIUSDT's first kept diff has U == lastUpdateId, the other three have
/// u == lastUpdateId), found by applying the snapshot before any diff.
#[test]
fn cryptofeed_capture_bridges_on_the_documented_boundaries() {
    let ws = data_file("cryptofeed/sample_data/BINANCE_FUTURES.ws.1.0");
    let http = data_file("cryptofeed/sample_data/BINANCE_FUTURES.http.0.0");
    for line in http.lines().filter(|l| !l.is_empty()) {
        let symbol = line
            .split("symbol=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap()
            .to_lowercase();
        let body = line
            .split_once(" -> ")
            .unwrap()
            .1
            .split_once(": ")
            .unwrap()
            .1;
        let mut book = OrderBook::default();
        let snapshot_id = match book.apply_snapshot_bytes(body.as_bytes()).unwrap() {
            Outcome::Loaded { snapshot } => snapshot,
            other => panic!("{other:?}"),
        };
        let prefix = format!(r#"{{"stream":"{symbol}@depth"#);
        let mut bridge = None;
        for frame in ws
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(": ").map(|x| x.1))
            .filter(|f| f.starts_with(&prefix))
        {
            let parsed = scan::parse_diff(frame.as_bytes(), None).unwrap();
            if let Outcome::Synced { .. } = book.apply_diff_bytes(frame.as_bytes()).unwrap() {
                bridge = Some(parsed.ids);
            }
        }
        let bridge = bridge.unwrap_or_else(|| panic!("{symbol} never synced"));
        if symbol == "sushiusdt" {
            assert_eq!(bridge.first, snapshot_id, "{symbol}");
        } else {
            assert_eq!(bridge.last, snapshot_id, "{symbol}");
        }
        assert!(book.is_synced());
    }
}

// ---- data structure measurement -------------------------------------------

/// The candidates for one side of the book, measured on the same changes.
/// Run with a file of frames (first line the REST snapshot, then the diffs
/// in order), e.g. from tests/data/hftbacktest (see docs/orderbook.md):
/// `BOOK_FRAMES=/tmp/frames cargo test --release -- --ignored --nocapture measure`
mod measure {
    use super::*;
    use std::hint::black_box;
    use std::time::Instant;

    trait Store: Default {
        fn load(&mut self, levels: &[Level]);
        fn apply(&mut self, level: &Level);
        /// Visits the top `n` levels best-first.
        fn top(&self, n: usize, f: impl FnMut(&Level));
    }

    /// The chosen layout: [`BookSide`], a hash map of levels plus a
    /// `BTreeSet` of prices.
    #[derive(Default)]
    struct Chosen<const BIDS: bool>(BookSide<BIDS>);

    impl<const BIDS: bool> Store for Chosen<BIDS> {
        fn load(&mut self, levels: &[Level]) {
            self.0.load(levels);
        }
        fn apply(&mut self, level: &Level) {
            self.0.apply(level);
        }
        fn top(&self, n: usize, f: impl FnMut(&Level)) {
            self.0.iter().take(n).for_each(f);
        }
    }

    /// A plain `BTreeMap` from price to level.
    #[derive(Default)]
    struct Tree<const BIDS: bool>(std::collections::BTreeMap<Fixed, Level>);

    impl<const BIDS: bool> Store for Tree<BIDS> {
        fn load(&mut self, levels: &[Level]) {
            self.0.clear();
            levels.iter().for_each(|l| self.apply(l));
        }
        fn apply(&mut self, level: &Level) {
            if level.qty.is_zero() {
                self.0.remove(&level.price);
            } else {
                self.0.insert(level.price, *level);
            }
        }
        fn top(&self, n: usize, f: impl FnMut(&Level)) {
            if BIDS {
                self.0.values().rev().take(n).for_each(f);
            } else {
                self.0.values().take(n).for_each(f);
            }
        }
    }

    /// Sorted Vec, best price last: a change moves the levels above it.
    #[derive(Default)]
    struct SortedVec<const BIDS: bool, const BEST_LAST: bool>(Vec<Level>);

    impl<const BIDS: bool, const BEST_LAST: bool> SortedVec<BIDS, BEST_LAST> {
        fn find(&self, price: &Fixed) -> Result<usize, usize> {
            // Ascending prices put the best bid last and the best ask first.
            let ascending = BIDS == BEST_LAST;
            self.0.binary_search_by(|l| {
                if ascending {
                    l.price.cmp(price)
                } else {
                    price.cmp(&l.price)
                }
            })
        }
    }

    impl<const BIDS: bool, const BEST_LAST: bool> Store for SortedVec<BIDS, BEST_LAST> {
        fn load(&mut self, levels: &[Level]) {
            self.0.clear();
            levels.iter().for_each(|l| self.apply(l));
        }
        fn apply(&mut self, level: &Level) {
            match (self.find(&level.price), level.qty.is_zero()) {
                (Ok(i), false) => self.0[i] = *level,
                (Ok(i), true) => {
                    self.0.remove(i);
                }
                (Err(i), false) => self.0.insert(i, *level),
                (Err(_), true) => {}
            }
        }
        fn top(&self, n: usize, f: impl FnMut(&Level)) {
            if BEST_LAST {
                self.0.iter().rev().take(n).for_each(f);
            } else {
                self.0.iter().take(n).for_each(f);
            }
        }
    }

    type Diffs = Vec<(Vec<Level>, Vec<Level>)>;

    /// Best of `rounds` timings of replaying `diffs` on a fresh snapshot;
    /// returns nanoseconds per level change.
    fn time<B: Store, A: Store>(
        snapshot: &(Vec<Level>, Vec<Level>),
        diffs: &Diffs,
        read_top: bool,
        rounds: usize,
    ) -> f64 {
        let changes: usize = diffs.iter().map(|(b, a)| b.len() + a.len()).sum();
        let mut best = f64::MAX;
        for _ in 0..rounds {
            let (mut bids, mut asks) = (B::default(), A::default());
            bids.load(&snapshot.0);
            asks.load(&snapshot.1);
            let start = Instant::now();
            let mut sink = 0u64;
            for (b, a) in diffs {
                b.iter().for_each(|l| bids.apply(l));
                a.iter().for_each(|l| asks.apply(l));
                if read_top {
                    bids.top(10, |l| sink ^= l.price.frac ^ l.qty.int);
                    asks.top(10, |l| sink ^= l.price.frac ^ l.qty.int);
                }
            }
            black_box(sink);
            best = best.min(start.elapsed().as_nanos() as f64 / changes as f64);
        }
        best
    }

    #[test]
    #[ignore = "measurement; needs BOOK_FRAMES, run in release"]
    fn measure_side_structures() {
        let Ok(path) = std::env::var("BOOK_FRAMES") else {
            eprintln!("BOOK_FRAMES not set; nothing measured");
            return;
        };
        let text = std::fs::read_to_string(path).unwrap();
        let mut lines = text.lines();
        let mut scratch = Vec::new();
        let snap = scan::parse_snapshot(lines.next().unwrap().as_bytes(), &mut scratch).unwrap();
        let snapshot = (scratch[snap.bids].to_vec(), scratch[snap.asks].to_vec());
        let diffs: Diffs = lines
            .map(|l| {
                let mut out = Vec::new();
                let p = scan::parse_diff(l.as_bytes(), Some(&mut out)).unwrap();
                (out[p.bids].to_vec(), out[p.asks].to_vec())
            })
            .collect();
        let changes: usize = diffs.iter().map(|(b, a)| b.len() + a.len()).sum();
        println!("{} diffs, {changes} level changes", diffs.len());
        for read_top in [false, true] {
            let label = if read_top {
                "apply + top 10 each side"
            } else {
                "apply only"
            };
            let c = time::<Chosen<true>, Chosen<false>>(&snapshot, &diffs, read_top, 20);
            let t = time::<Tree<true>, Tree<false>>(&snapshot, &diffs, read_top, 20);
            let v = time::<SortedVec<true, true>, SortedVec<false, true>>(
                &snapshot, &diffs, read_top, 20,
            );
            let f = time::<SortedVec<true, false>, SortedVec<false, false>>(
                &snapshot, &diffs, read_top, 20,
            );
            println!(
                "{label} (ns/change): hash map + BTreeSet {c:.1}, BTreeMap {t:.1}, \
                 sorted Vec best-last {v:.1}, sorted Vec best-first {f:.1}"
            );
        }
    }
}
