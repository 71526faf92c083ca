//! The batcher's view of a payload: the members an encoder needs, by name.
//!
//! The batcher needs a dozen fields per frame, so instead of building a
//! tree it walks the text once with the shared lexer ([`crate::json`]):
//! members named by a [`KeySet`] are recorded as borrowed [`Val`]s in
//! [`Slots`], everything else is validated and skipped. Acceptance is
//! exactly what the fallback's `json` module accepts with its hooks (RFC 8259
//! syntax, no NaN/Infinity, nesting at most [`MAX_DEPTH`]), so both backends
//! reject the same frames. The payload must already be valid UTF-8.

use crate::json::{same, Cursor, Invalid, JStr, Value};

/// Deepest nesting accepted (the top-level container has depth 1). Real
/// frames nest 4 deep; the bound keeps the fallback clear of Python's
/// recursion limit, so both backends agree on what is too deep.
pub const MAX_DEPTH: u32 = 512;

/// The batcher's cursor: invalid JSON is only counted, so no error detail.
pub type Scanner<'a> = Cursor<'a, Invalid>;

/// One scanned member value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Val<'a> {
    /// Any value but a list of string pairs (an array here is not one).
    Json(Value<'a>),
    /// A list of `[price, quantity]` string pairs, read as it was scanned:
    /// these pairs of the `pairs` list given to [`Scanner::object_into`].
    Levels(usize, usize),
}

/// One book level as scanned: price and quantity.
pub type Pair<'a> = (JStr<'a>, JStr<'a>);

/// A fixed set of member names, resolved to slot indices. One-byte names
/// (most of Binance's) resolve through a table, longer ones by comparison.
pub struct KeySet<const N: usize> {
    pub names: [&'static str; N],
    single: [u8; 128],
}

impl<const N: usize> KeySet<N> {
    pub const fn new(names: [&'static str; N]) -> Self {
        assert!(N < 255);
        let mut single = [u8::MAX; 128];
        let mut i = 0;
        while i < N {
            let b = names[i].as_bytes();
            if b.len() == 1 && b[0] < 128 {
                single[b[0] as usize] = i as u8;
            }
            i += 1;
        }
        KeySet { names, single }
    }

    #[inline]
    pub fn find(&self, key: &[u8]) -> Option<usize> {
        if key.len() == 1 {
            let b = key[0];
            if b < 128 && self.single[b as usize] != u8::MAX {
                return Some(self.single[b as usize] as usize);
            }
            return None;
        }
        self.names
            .iter()
            .position(|n| n.len() > 1 && same(n.as_bytes(), key))
    }
}

/// The members of one object that a [`KeySet`] names; a repeated member
/// keeps its last value, as Python's `json` does.
pub struct Slots<'a, const N: usize> {
    pub vals: [Option<Val<'a>>; N],
}

impl<'a, const N: usize> Slots<'a, N> {
    pub fn new() -> Self {
        Slots { vals: [None; N] }
    }

    pub fn clear(&mut self) {
        self.vals = [None; N];
    }
}

impl<const N: usize> Default for Slots<'_, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> Scanner<'a> {
    /// Validates and drops the value at the cursor (a container there would
    /// sit at nesting `depth`).
    #[inline]
    pub fn skip(&mut self, depth: u32) -> Result<(), Invalid> {
        self.value(depth, MAX_DEPTH).map(drop)
    }

    /// Fills `slots` from the object at the cursor: named members are kept,
    /// the rest validated and skipped. An array under a named member that
    /// is a list of `[price, quantity]` string pairs is read on the way into
    /// `pairs` ([`Val::Levels`]), so book levels are scanned once.
    pub fn object_into<const N: usize>(
        &mut self,
        depth: u32,
        keys: &KeySet<N>,
        slots: &mut Slots<'a, N>,
        pairs: &mut Vec<Pair<'a>>,
    ) -> Result<(), Invalid> {
        slots.clear();
        self.object(|sc, name| match keys.find(name) {
            Some(i) => {
                slots.vals[i] = Some(sc.member(depth + 1, pairs)?);
                Ok(())
            }
            None => sc.skip(depth + 1),
        })
    }

    /// Reads the value of a named member at nesting `depth`, reading a list
    /// of `[price, quantity]` pairs into `pairs` ([`Val::Levels`]).
    #[inline(always)]
    pub fn member(&mut self, depth: u32, pairs: &mut Vec<Pair<'a>>) -> Result<Val<'a>, Invalid> {
        if self.peek_token() == Some(b'[') && depth < MAX_DEPTH {
            let (start, mark) = (self.pos(), pairs.len());
            if self.level_pairs(pairs) {
                return Ok(Val::Levels(mark, pairs.len()));
            }
            // Not level-shaped (or not JSON): validate it the general way.
            pairs.truncate(mark);
            self.seek(start);
        }
        Ok(Val::Json(self.value(depth, MAX_DEPTH)?))
    }

    /// At `[`: reads `[[price, qty], ...]` (strings only) into `out`, or
    /// returns false (cursor anywhere) if the array has any other shape or
    /// is not valid JSON.
    fn level_pairs(&mut self, out: &mut Vec<Pair<'a>>) -> bool {
        let punct = Self::eat;
        let string = |sc: &mut Self| match sc.peek_token() {
            Some(b'"') => sc.string().ok(),
            _ => None,
        };
        if !punct(self, b'[') {
            return false;
        }
        if punct(self, b']') {
            return true;
        }
        loop {
            if !punct(self, b'[') {
                return false;
            }
            let Some(price) = string(self) else {
                return false;
            };
            if !punct(self, b',') {
                return false;
            }
            let Some(qty) = string(self) else {
                return false;
            };
            if !punct(self, b']') {
                return false;
            }
            out.push((price, qty));
            if punct(self, b']') {
                return true;
            }
            if !punct(self, b',') {
                return false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_into_keeps_last_duplicate_and_decodes_names() {
        const KEYS: KeySet<2> = KeySet::new(["e", "pu"]);
        let mut slots = Slots::new();
        let text = br#"{"e":"x","\u0065":"y","pu":1,"other":{"e":2}}"#;
        let mut sc = Scanner::new(text);
        sc.object_into(1, &KEYS, &mut slots, &mut Vec::new())
            .unwrap();
        assert!(sc.end().is_ok());
        assert_eq!(
            slots.vals[0],
            Some(Val::Json(Value::Str(JStr {
                raw: b"y",
                escaped: false
            })))
        );
        assert_eq!(slots.vals[1], Some(Val::Json(Value::Int(b"1"))));
    }

    #[test]
    fn levels_are_read_while_scanning_and_only_string_pairs_qualify() {
        const KEYS: KeySet<2> = KeySet::new(["b", "a"]);
        type Scanned<'t> = (bool, [Option<Val<'t>>; 2], Vec<(String, String)>);
        fn scan(text: &str) -> Scanned<'_> {
            let mut slots = Slots::new();
            let mut pairs = Vec::new();
            let mut sc = Scanner::new(text.as_bytes());
            let ok = sc.object_into(1, &KEYS, &mut slots, &mut pairs).is_ok() && sc.end().is_ok();
            let text = |s: JStr<'_>| String::from_utf8_lossy(s.raw).into_owned();
            let raw = pairs.iter().map(|&(p, q)| (text(p), text(q))).collect();
            (ok, slots.vals, raw)
        }
        let (ok, vals, pairs) =
            scan(r#"{"b": [ ["1.0", "2"] , ["3","4"]], "a": [], "x": [["5","6"]]}"#);
        assert!(ok);
        assert_eq!(vals, [Some(Val::Levels(0, 2)), Some(Val::Levels(2, 2))]);
        let want = [("1.0", "2"), ("3", "4")].map(|(p, q)| (p.to_string(), q.to_string()));
        assert_eq!(pairs, want);
        for other in [
            r#"[["1"]]"#,
            r#"[["1","2","3"]]"#,
            r#"[["1",2]]"#,
            "[5]",
            r#"[["1","2"],{}]"#,
        ] {
            let text = format!(r#"{{"b":{other}}}"#);
            let (ok, vals, pairs) = scan(&text);
            assert!(ok, "{other}");
            assert_eq!(vals[0], Some(Val::Json(Value::Arr(5))), "{other}");
            assert!(pairs.is_empty());
        }
        for broken in [
            r#"{"b":[["1","2"],]}"#,
            r#"{"b":[["1","2"]"#,
            r#"{"b":[["1\x","2"]]}"#,
        ] {
            assert!(!scan(broken).0, "{broken}");
        }
    }
}
