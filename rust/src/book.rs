//! The local order book of one symbol, kept in sync by Binance USDⓈ-M rules.
//!
//! Plain Rust (no pyo3): `py::book` wraps it. The rules, from the
//! exchange's "how to manage a local order book" and binding on futures
//! (the spot rule `U == previous u + 1` must not be used: update ids are one
//! counter shared by all symbols):
//!
//! 1. Diffs that arrive before a snapshot are buffered (bounded).
//! 2. When the snapshot (lastUpdateId `L`) lands, buffered diffs with
//!    `u < L` are stale; the first kept diff must bridge it, `U <= L <= u`,
//!    otherwise the snapshot is older than the stream and a newer one is
//!    needed ("unbridged").
//! 3. Every later diff must chain: `pu == previous u`; a break is a gap and
//!    the book is invalid until the next snapshot.
//! 4. A diff with `u <` the book's last update id is stale and ignored.
//! 5. Quantities are absolute; zero removes the level.
//!
//! Every call returns an [`Outcome`] the caller acts on (fetch a snapshot,
//! record a gap...). Input is fully parsed and checked before the book is
//! touched, so malformed input never changes it.

pub mod fixed;
pub mod level;
pub mod scan;
pub mod side;

use std::collections::VecDeque;
use std::mem;

use fixed::{scaled_to_text, FRAC_DIGITS};
use level::Level;
use scan::{DiffIds, FieldError, ParseError};
use side::BookSide;

/// Where the book is in the sync cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// No usable snapshot: diffs are buffered until one is applied.
    Empty,
    /// A snapshot is loaded but no diff has bridged it yet; the levels are
    /// the snapshot's and valid as of its lastUpdateId.
    Loaded,
    /// Snapshot bridged and every diff since chained: the book is live.
    Synced,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Empty => "empty",
            State::Loaded => "loaded",
            State::Synced => "synced",
        }
    }
}

/// The result of applying a snapshot or a diff. Each carries two ids,
/// `(last_id, next_id)`: the id the book (or buffer) was at, and the id of
/// the incoming data it was compared with. For `Gap` and `Unbridged` they
/// bound the unknown interval, as the gaps file records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The diff chained (`pu == prev`) and was applied; the book is at `last`.
    Applied { prev: u64, last: u64 },
    /// The book became live: a diff `U <= snapshot <= u` bridged the
    /// snapshot (after a snapshot: the last replayed diff's `u` is `last`).
    Synced { snapshot: u64, last: u64 },
    /// `u < book` (the book's last update id): ignored.
    Stale { book: u64, last: u64 },
    /// No snapshot yet: the diff was buffered. `prev` is the `u` of the
    /// buffered diff it chains onto, 0 if it starts the buffer (first diff,
    /// or a `pu` break that discarded the older buffered diffs).
    Buffered { prev: u64, last: u64 },
    /// `pu` did not match the book's last `u`: the book was cleared and the
    /// diff (first id `next`) now starts the buffer. Fetch a snapshot.
    Gap { last: u64, next: u64 },
    /// The first diff at or past the snapshot starts after it (`U > L`):
    /// the snapshot is too old. Book cleared, diffs kept; fetch a newer one.
    Unbridged { snapshot: u64, next: u64 },
    /// Snapshot loaded; no buffered diff reaches it yet (the next diff must
    /// bridge it).
    Loaded { snapshot: u64 },
}

impl Outcome {
    pub fn status(&self) -> &'static str {
        match self {
            Outcome::Applied { .. } => "applied",
            Outcome::Synced { .. } => "synced",
            Outcome::Stale { .. } => "stale",
            Outcome::Buffered { .. } => "buffered",
            Outcome::Gap { .. } => "gap",
            Outcome::Unbridged { .. } => "unbridged",
            Outcome::Loaded { .. } => "loaded",
        }
    }

    /// `(last_id, next_id)`; see [`Outcome`].
    pub fn ids(&self) -> (u64, u64) {
        match *self {
            Outcome::Applied { prev, last } => (prev, last),
            Outcome::Synced { snapshot, last } => (snapshot, last),
            Outcome::Stale { book, last } => (book, last),
            Outcome::Buffered { prev, last } => (prev, last),
            Outcome::Gap { last, next } => (last, next),
            Outcome::Unbridged { snapshot, next } => (snapshot, next),
            Outcome::Loaded { snapshot } => (snapshot, 0),
        }
    }
}

/// A diff held until a snapshot arrives.
#[derive(Clone, Debug)]
struct BufferedDiff {
    ids: DiffIds,
    levels: Vec<Level>,
    n_bids: usize,
}

/// Default bound on diffs held before a snapshot: at `@100ms` that is 100 s
/// of stream, far longer than a snapshot request should take.
pub const DEFAULT_MAX_BUFFERED: usize = 1000;

#[derive(Clone, Debug)]
pub struct OrderBook {
    bids: BookSide<true>,
    asks: BookSide<false>,
    state: State,
    last_update_id: u64,
    buffer: VecDeque<BufferedDiff>,
    max_buffered: usize,
    scratch: Vec<Level>,
}

impl Default for OrderBook {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_BUFFERED)
    }
}

impl OrderBook {
    /// `max_buffered`: diffs held before a snapshot; past it the oldest is
    /// dropped (the newest are the ones a fresh snapshot can bridge).
    pub fn new(max_buffered: usize) -> Self {
        OrderBook {
            bids: BookSide::new(),
            asks: BookSide::new(),
            state: State::Empty,
            last_update_id: 0,
            buffer: VecDeque::new(),
            max_buffered,
            scratch: Vec::new(),
        }
    }

    // ---- input -----------------------------------------------------------

    /// Applies a raw depthUpdate frame (bare or combined-stream wrapper).
    pub fn apply_diff_bytes(&mut self, frame: &[u8]) -> Result<Outcome, ParseError> {
        let mut scratch = mem::take(&mut self.scratch);
        scratch.clear();
        let result = scan::parse_diff(frame, Some(&mut scratch))
            .map(|p| self.on_diff(p.ids, &scratch[p.bids], &scratch[p.asks]));
        self.scratch = scratch;
        result
    }

    /// Applies a diff from already parsed values.
    pub fn apply_diff(
        &mut self,
        ids: DiffIds,
        bids: &[Level],
        asks: &[Level],
    ) -> Result<Outcome, FieldError> {
        if ids.first > ids.last {
            return Err(FieldError::FirstAfterLast {
                first: ids.first,
                last: ids.last,
            });
        }
        Ok(self.on_diff(ids, bids, asks))
    }

    /// Applies a raw REST depth snapshot body.
    pub fn apply_snapshot_bytes(&mut self, body: &[u8]) -> Result<Outcome, ParseError> {
        let mut scratch = mem::take(&mut self.scratch);
        scratch.clear();
        let result = scan::parse_snapshot(body, &mut scratch)
            .map(|p| self.apply_snapshot(p.last_update_id, &scratch[p.bids], &scratch[p.asks]));
        self.scratch = scratch;
        result
    }

    /// Replaces the book with a snapshot and replays the buffered diffs.
    pub fn apply_snapshot(
        &mut self,
        last_update_id: u64,
        bids: &[Level],
        asks: &[Level],
    ) -> Outcome {
        self.bids.load(bids);
        self.asks.load(asks);
        self.state = State::Loaded;
        self.last_update_id = last_update_id;
        let buffered = mem::take(&mut self.buffer);
        let mut problem: Option<Outcome> = None;
        for diff in &buffered {
            let (b, a) = diff.levels.split_at(diff.n_bids);
            let outcome = self.on_diff(diff.ids, b, a);
            if problem.is_none()
                && matches!(outcome, Outcome::Unbridged { .. } | Outcome::Gap { .. })
            {
                problem = Some(outcome);
            }
        }
        match (self.state, problem) {
            (State::Synced, _) => Outcome::Synced {
                snapshot: last_update_id,
                last: self.last_update_id,
            },
            (_, Some(outcome)) => outcome,
            _ => Outcome::Loaded {
                snapshot: last_update_id,
            },
        }
    }

    /// Forgets levels and buffered diffs so the caller can force a resync
    /// (after a reconnect, the old connection's diffs cannot chain).
    pub fn invalidate(&mut self) {
        self.clear_book();
        self.buffer.clear();
    }

    fn clear_book(&mut self) {
        self.bids.clear();
        self.asks.clear();
        self.state = State::Empty;
        self.last_update_id = 0;
    }

    /// The sync rules; `bids`/`asks` are already validated.
    fn on_diff(&mut self, ids: DiffIds, bids: &[Level], asks: &[Level]) -> Outcome {
        match self.state {
            State::Empty => self.buffer_diff(ids, bids, asks),
            State::Loaded => {
                let snapshot = self.last_update_id;
                if ids.last < snapshot {
                    Outcome::Stale {
                        book: snapshot,
                        last: ids.last,
                    }
                } else if ids.first <= snapshot {
                    self.apply_levels(bids, asks);
                    self.last_update_id = ids.last;
                    self.state = State::Synced;
                    Outcome::Synced {
                        snapshot,
                        last: ids.last,
                    }
                } else {
                    self.clear_book();
                    self.buffer_diff(ids, bids, asks);
                    Outcome::Unbridged {
                        snapshot,
                        next: ids.first,
                    }
                }
            }
            State::Synced => {
                let last = self.last_update_id;
                if ids.last < last {
                    Outcome::Stale {
                        book: last,
                        last: ids.last,
                    }
                } else if ids.prev != last {
                    self.clear_book();
                    self.buffer_diff(ids, bids, asks);
                    Outcome::Gap {
                        last,
                        next: ids.first,
                    }
                } else {
                    self.apply_levels(bids, asks);
                    self.last_update_id = ids.last;
                    Outcome::Applied {
                        prev: last,
                        last: ids.last,
                    }
                }
            }
        }
    }

    /// Keeps the buffer one unbroken `pu` chain: a diff that does not chain
    /// onto the newest buffered one makes the older ones useless.
    fn buffer_diff(&mut self, ids: DiffIds, bids: &[Level], asks: &[Level]) -> Outcome {
        let prev = match self.buffer.back() {
            Some(back) if back.ids.last == ids.prev => back.ids.last,
            _ => {
                self.buffer.clear();
                0
            }
        };
        if self.max_buffered > 0 {
            if self.buffer.len() == self.max_buffered {
                self.buffer.pop_front();
            }
            let mut levels = Vec::with_capacity(bids.len() + asks.len());
            levels.extend_from_slice(bids);
            levels.extend_from_slice(asks);
            self.buffer.push_back(BufferedDiff {
                ids,
                levels,
                n_bids: bids.len(),
            });
        }
        Outcome::Buffered {
            prev,
            last: ids.last,
        }
    }

    #[inline]
    fn apply_levels(&mut self, bids: &[Level], asks: &[Level]) {
        for level in bids {
            self.bids.apply(level);
        }
        for level in asks {
            self.asks.apply(level);
        }
    }

    // ---- state and queries ----------------------------------------------

    pub fn state(&self) -> State {
        self.state
    }

    pub fn is_synced(&self) -> bool {
        self.state == State::Synced
    }

    /// The id the levels are valid at; None when there is no book.
    pub fn last_update_id(&self) -> Option<u64> {
        (self.state != State::Empty).then_some(self.last_update_id)
    }

    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    pub fn max_buffered(&self) -> usize {
        self.max_buffered
    }

    pub fn bids(&self) -> &BookSide<true> {
        &self.bids
    }

    pub fn asks(&self) -> &BookSide<false> {
        &self.asks
    }

    /// Exact midpoint as decimal text: at least as many places as the two
    /// best prices have, one more when the halving needs it.
    pub fn mid_text(&self) -> Option<String> {
        let (bid, ask) = (self.bids.best()?, self.asks.best()?);
        let sum = bid.price.scaled() + ask.price.scaled();
        let places = bid.price_places.max(ask.price_places) as u32;
        // sum / 2 in units of 1e-19 is sum * 5, below 1.9e38: fits a u128.
        Some(scaled_to_text(
            false,
            sum * 5,
            FRAC_DIGITS as u32 + 1,
            places,
        ))
    }

    /// Best ask minus best bid as exact decimal text (negative when crossed).
    pub fn spread_text(&self) -> Option<String> {
        let (bid, ask) = (self.bids.best()?, self.asks.best()?);
        let (ask, bid, places) = (
            ask.price.scaled(),
            bid.price.scaled(),
            bid.price_places.max(ask.price_places),
        );
        Some(scaled_to_text(
            ask < bid,
            ask.abs_diff(bid),
            FRAC_DIGITS as u32,
            places as u32,
        ))
    }

    /// A cheap fingerprint of the top `n` levels of each side, to compare two
    /// books (native vs fallback, manager vs a fresh rebuild) without
    /// shipping the levels. FNV-1a over 64-bit words: the two side lengths
    /// (capped at `n`), then per level best-first, bids then asks: price
    /// integer part, price fraction (1e-18 units), quantity integer part,
    /// quantity fraction. Value-based: "1.50" and "1.5" hash the same.
    pub fn checksum(&self, n: usize) -> u64 {
        const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        let mix = |h: u64, w: u64| (h ^ w).wrapping_mul(PRIME);
        let mut h = OFFSET;
        h = mix(h, n.min(self.bids.len()) as u64);
        h = mix(h, n.min(self.asks.len()) as u64);
        for level in self.bids.iter().take(n).chain(self.asks.iter().take(n)) {
            h = mix(h, level.price.int);
            h = mix(h, level.price.frac);
            h = mix(h, level.qty.int);
            h = mix(h, level.qty.frac);
        }
        h
    }
}

#[cfg(test)]
mod tests;
