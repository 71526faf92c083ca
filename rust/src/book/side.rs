//! One side of the book: levels in a hash map, prices ordered in a B-tree.
//!
//! Chosen by measurement on the real BTCUSDT `@depth@0ms` capture
//! (docs/orderbook.md). Diffs touch levels hundreds of places from the top
//! (median 214) and the book grows past its 1000-level snapshot, so a
//! sorted `Vec` pays for shifting much of the side on every insert and
//! removal, while a B-tree stays logarithmic. Most changes (61%) only set a
//! new quantity on an existing price, and removals of absent prices are
//! common; the hash map answers both without touching the tree, which is
//! only updated when a price appears or disappears.

use std::collections::{btree_set, BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use super::fixed::Fixed;
use super::level::Level;

/// A fast multiplicative hash for price keys. Prices come from the
/// exchange, not from an adversary, so the DoS resistance of the default
/// SipHash buys nothing here and costs a third of the update time.
#[derive(Clone, Copy, Default)]
pub struct PriceHasher(u64);

impl Hasher for PriceHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }

    #[inline]
    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

type PriceMap = HashMap<Fixed, Level, BuildHasherDefault<PriceHasher>>;

/// `BIDS` = true: the best price is the highest; false: the lowest.
#[derive(Clone, Debug, Default)]
pub struct BookSide<const BIDS: bool> {
    /// Every level, by price.
    levels: PriceMap,
    /// The same prices, in order.
    prices: BTreeSet<Fixed>,
}

impl<const BIDS: bool> BookSide<BIDS> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a level to its absolute quantity; quantity zero removes it
    /// (removing a price that is not there is normal and does nothing).
    #[inline]
    pub fn apply(&mut self, level: &Level) {
        if level.qty.is_zero() {
            if self.levels.remove(&level.price).is_some() {
                self.prices.remove(&level.price);
            }
        } else if let Some(existing) = self.levels.get_mut(&level.price) {
            *existing = *level;
        } else {
            self.levels.insert(level.price, *level);
            self.prices.insert(level.price);
        }
    }

    /// Replaces the side with `levels` as if each were applied in order to
    /// an empty side: the last entry for a price wins, and zero removes.
    pub fn load(&mut self, levels: &[Level]) {
        self.levels.clear();
        for level in levels {
            if level.qty.is_zero() {
                self.levels.remove(&level.price);
            } else {
                self.levels.insert(level.price, *level);
            }
        }
        // collect() sorts and builds the tree in bulk.
        self.prices = self.levels.keys().copied().collect();
    }

    pub fn clear(&mut self) {
        self.levels.clear();
        self.prices.clear();
    }

    pub fn len(&self) -> usize {
        self.prices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prices.is_empty()
    }

    pub fn best(&self) -> Option<&Level> {
        let best = if BIDS {
            self.prices.last()
        } else {
            self.prices.first()
        };
        best.map(|price| &self.levels[price])
    }

    /// Levels from the best price outwards.
    pub fn iter(&self) -> BestFirst<'_, BIDS> {
        BestFirst {
            prices: self.prices.iter(),
            levels: &self.levels,
        }
    }
}

/// Iterates a side from its best price outwards.
pub struct BestFirst<'a, const BIDS: bool> {
    prices: btree_set::Iter<'a, Fixed>,
    levels: &'a PriceMap,
}

impl<'a, const BIDS: bool> Iterator for BestFirst<'a, BIDS> {
    type Item = &'a Level;

    #[inline]
    fn next(&mut self) -> Option<&'a Level> {
        let price = if BIDS {
            self.prices.next_back()
        } else {
            self.prices.next()
        }?;
        // Both collections always hold the same prices.
        Some(&self.levels[price])
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.prices.size_hint()
    }
}

impl<const BIDS: bool> ExactSizeIterator for BestFirst<'_, BIDS> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::fixed::{parse, to_text};

    fn lvl(price: &str, qty: &str) -> Level {
        Level::new(
            parse(price.as_bytes()).unwrap(),
            parse(qty.as_bytes()).unwrap(),
        )
    }

    fn texts<const B: bool>(side: &BookSide<B>) -> Vec<(String, String)> {
        side.iter()
            .map(|l| (to_text(l.price()), to_text(l.qty())))
            .collect()
    }

    fn prices<const B: bool>(side: &BookSide<B>) -> Vec<String> {
        texts(side).into_iter().map(|(p, _)| p).collect()
    }

    #[test]
    fn bids_best_is_highest_and_asks_best_is_lowest() {
        let mut bids = BookSide::<true>::new();
        let mut asks = BookSide::<false>::new();
        for p in ["1.0", "3.0", "2.0"] {
            bids.apply(&lvl(p, "1"));
            asks.apply(&lvl(p, "1"));
        }
        assert_eq!(prices(&bids), ["3.0", "2.0", "1.0"]);
        assert_eq!(prices(&asks), ["1.0", "2.0", "3.0"]);
        assert_eq!(to_text(bids.best().unwrap().price()), "3.0");
        assert_eq!(to_text(asks.best().unwrap().price()), "1.0");
        assert_eq!(asks.iter().len(), 3);
    }

    #[test]
    fn quantities_are_absolute_and_zero_removes() {
        let mut bids = BookSide::<true>::new();
        bids.apply(&lvl("1.0", "5"));
        bids.apply(&lvl("1.00", "2.5"));
        assert_eq!(texts(&bids), [("1.00".to_string(), "2.5".to_string())]);
        bids.apply(&lvl("1", "0.000"));
        assert!(bids.is_empty());
    }

    #[test]
    fn removing_a_missing_level_is_a_no_op() {
        let mut asks = BookSide::<false>::new();
        asks.apply(&lvl("2.0", "1"));
        asks.apply(&lvl("2.5", "0"));
        asks.apply(&lvl("1.5", "0"));
        assert_eq!(prices(&asks), ["2.0"]);
    }

    #[test]
    fn load_behaves_like_applying_in_order() {
        let input = [
            lvl("1", "1"),
            lvl("2", "1"),
            lvl("1", "0"),
            lvl("3", "0"),
            lvl("2", "7"),
            lvl("4", "0"),
            lvl("4", "2"),
        ];
        let mut loaded = BookSide::<true>::new();
        loaded.apply(&lvl("9", "9"));
        loaded.load(&input);
        let mut applied = BookSide::<true>::new();
        input.iter().for_each(|l| applied.apply(l));
        assert_eq!(texts(&loaded), texts(&applied));
        assert_eq!(
            texts(&loaded),
            [
                ("4".to_string(), "2".to_string()),
                ("2".to_string(), "7".to_string())
            ]
        );
    }
}
