//! A validating JSON scanner that reads each frame once, in place.
//!
//! The batcher only needs a dozen fields per frame, so instead of building a
//! tree it walks the text: interesting members are recorded as borrowed
//! [`Val`]s, everything else is validated and skipped. Acceptance is exactly
//! what the fallback's `json` module accepts with its hooks (RFC 8259 syntax,
//! no NaN/Infinity, nesting at most [`MAX_DEPTH`]), so both backends reject
//! the same frames. The payload must already be valid UTF-8.

/// Deepest nesting accepted (the top-level container has depth 1). Real
/// frames nest 4 deep; the bound keeps the fallback clear of Python's
/// recursion limit, so both backends agree on what is too deep.
pub const MAX_DEPTH: u32 = 512;

/// The text is not valid JSON (or nests deeper than [`MAX_DEPTH`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid;

/// A JSON string as it appears in the text, without the quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JStr<'a> {
    pub raw: &'a [u8],
    /// The raw text contains backslash escapes (decode with [`decode_str`]).
    pub escaped: bool,
}

/// One scanned value. Containers are validated and kept as the offset of
/// their opening bracket, to be walked again only when a field is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Val<'a> {
    Str(JStr<'a>),
    /// An integer literal, verbatim (`-?(0|[1-9][0-9]*)`).
    Int(&'a [u8]),
    /// A number with a fraction or exponent.
    Float,
    Bool(bool),
    Null,
    Obj(usize),
    /// An array that is not a list of `[price, quantity]` string pairs.
    Arr(usize),
    /// A list of `[price, quantity]` string pairs, read as it was scanned:
    /// these pairs of the `pairs` list given to [`Scanner::object_into`].
    Levels(usize, usize),
}

/// One book level as scanned: price and quantity.
pub type Pair<'a> = (JStr<'a>, JStr<'a>);

/// Bytes that end the fast path inside a string: quote, backslash, controls.
const STR_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// The index of the first byte at or after `i` that ends plain string text
/// (quote, backslash or control character), or `buf.len()`. Eight bytes
/// at a time: in each mask the lowest flagged byte is exact (borrows only
/// run upwards), which is the only one used.
#[inline]
fn skip_plain(buf: &[u8], mut i: usize) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = buf.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        let quote = w ^ (LO * u64::from(b'"'));
        let slash = w ^ (LO * u64::from(b'\\'));
        let found = (quote.wrapping_sub(LO) & !quote
            | slash.wrapping_sub(LO) & !slash
            | w.wrapping_sub(LO * 0x20) & !w)
            & HI;
        if found != 0 {
            return i + (found.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < buf.len() && !STR_STOP[buf[i] as usize] {
        i += 1;
    }
    i
}

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

/// One bit per nesting depth: set when the container open at that depth is an object.
#[derive(Default)]
struct OpenContainers([u64; MAX_DEPTH as usize / 64 + 1]);

impl OpenContainers {
    #[inline]
    fn get(&self, d: u32) -> bool {
        self.0[d as usize / 64] >> (d % 64) & 1 == 1
    }

    #[inline]
    fn set(&mut self, d: u32, object: bool) {
        let bit = 1u64 << (d % 64);
        if object {
            self.0[d as usize / 64] |= bit;
        } else {
            self.0[d as usize / 64] &= !bit;
        }
    }
}

/// A cursor over one JSON text.
pub struct Scanner<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Scanner { buf, pos: 0 }
    }

    /// A cursor at `pos` of an already validated text (to walk a container again).
    pub fn at(buf: &'a [u8], pos: usize) -> Self {
        Scanner { buf, pos }
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(&b) = self.buf.get(self.pos) {
            if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// The next non-whitespace byte, without consuming it.
    #[inline]
    pub fn peek_token(&mut self) -> Option<u8> {
        self.ws();
        self.peek()
    }

    #[inline]
    fn expect(&mut self, b: u8) -> Result<(), Invalid> {
        self.ws();
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Invalid)
        }
    }

    /// Only whitespace remains.
    pub fn finish(&mut self) -> Result<(), Invalid> {
        self.ws();
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(Invalid)
        }
    }

    /// Reads the next value. A container here would sit at nesting `depth`;
    /// it is validated to its end and returned by position.
    pub fn value(&mut self, depth: u32) -> Result<Val<'a>, Invalid> {
        self.ws();
        match self.peek() {
            Some(b'{') => {
                let start = self.pos;
                self.skip_container(depth)?;
                Ok(Val::Obj(start))
            }
            Some(b'[') => {
                let start = self.pos;
                self.skip_container(depth)?;
                Ok(Val::Arr(start))
            }
            _ => self.scalar(),
        }
    }

    fn scalar(&mut self) -> Result<Val<'a>, Invalid> {
        match self.peek() {
            Some(b'"') => Ok(Val::Str(self.string()?)),
            Some(b't') => self.literal(b"true", Val::Bool(true)),
            Some(b'f') => self.literal(b"false", Val::Bool(false)),
            Some(b'n') => self.literal(b"null", Val::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(Invalid),
        }
    }

    fn literal(&mut self, lit: &[u8], val: Val<'a>) -> Result<Val<'a>, Invalid> {
        if self
            .buf
            .get(self.pos..self.pos + lit.len())
            .is_some_and(|b| same(b, lit))
        {
            self.pos += lit.len();
            Ok(val)
        } else {
            Err(Invalid)
        }
    }

    /// At a `"`: reads the string, checking escapes and rejecting raw control characters.
    fn string(&mut self) -> Result<JStr<'a>, Invalid> {
        let start = self.pos + 1;
        let mut i = start;
        let mut escaped = false;
        loop {
            i = skip_plain(self.buf, i);
            match *self.buf.get(i).ok_or(Invalid)? {
                b'"' => {
                    self.pos = i + 1;
                    return Ok(JStr {
                        raw: &self.buf[start..i],
                        escaped,
                    });
                }
                b'\\' => {
                    escaped = true;
                    match self.buf.get(i + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                        Some(b'u') => {
                            hex4(self.buf.get(i + 2..i + 6).ok_or(Invalid)?).ok_or(Invalid)?;
                            i += 6;
                        }
                        _ => return Err(Invalid),
                    }
                }
                _ => return Err(Invalid),
            }
        }
    }

    fn number(&mut self) -> Result<Val<'a>, Invalid> {
        let b = self.buf;
        let start = self.pos;
        let mut i = start;
        let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                i += 1;
                while digit(i) {
                    i += 1;
                }
            }
            _ => return Err(Invalid),
        }
        let mut int = true;
        if b.get(i) == Some(&b'.') {
            i += 1;
            if !digit(i) {
                return Err(Invalid);
            }
            while digit(i) {
                i += 1;
            }
            int = false;
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !digit(i) {
                return Err(Invalid);
            }
            while digit(i) {
                i += 1;
            }
            int = false;
        }
        self.pos = i;
        Ok(if int {
            Val::Int(&b[start..i])
        } else {
            Val::Float
        })
    }

    /// At `{` or `[`: validates the container and everything in it, without
    /// recursion (a bit per open level says object or array).
    fn skip_container(&mut self, depth: u32) -> Result<(), Invalid> {
        let mut objects = OpenContainers::default();
        let mut d = depth;
        if d > MAX_DEPTH {
            return Err(Invalid);
        }
        objects.set(d, self.buf[self.pos] == b'{');
        self.pos += 1;
        let mut just_opened = true;
        loop {
            self.ws();
            let mut c = self.peek().ok_or(Invalid)?;
            let obj = objects.get(d);
            let close = if obj { b'}' } else { b']' };
            if c == close {
                self.pos += 1;
                if d == depth {
                    return Ok(());
                }
                d -= 1;
                just_opened = false;
                continue;
            }
            if !just_opened {
                if c != b',' {
                    return Err(Invalid);
                }
                self.pos += 1;
                self.ws();
                c = self.peek().ok_or(Invalid)?;
            }
            if obj {
                if c != b'"' {
                    return Err(Invalid);
                }
                self.string()?;
                self.expect(b':')?;
                self.ws();
                c = self.peek().ok_or(Invalid)?;
            }
            if c == b'{' || c == b'[' {
                d += 1;
                if d > MAX_DEPTH {
                    return Err(Invalid);
                }
                objects.set(d, c == b'{');
                self.pos += 1;
                just_opened = true;
            } else {
                self.scalar()?;
                just_opened = false;
            }
        }
    }

    /// At `{` (an object at nesting `depth`): calls `member(self, name)` for
    /// each member with the cursor before its value; `member` must read the
    /// value (with [`Scanner::value`] or a nested walk at `depth + 1`).
    pub fn object(
        &mut self,
        depth: u32,
        mut member: impl FnMut(&mut Self, &[u8]) -> Result<(), Invalid>,
    ) -> Result<(), Invalid> {
        if depth > MAX_DEPTH || self.peek_token() != Some(b'{') {
            return Err(Invalid);
        }
        self.pos += 1;
        if self.peek_token() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        let mut name = Vec::new();
        loop {
            if self.peek_token() != Some(b'"') {
                return Err(Invalid);
            }
            let key = self.string()?;
            self.expect(b':')?;
            if key.escaped {
                name.clear();
                decode_str(key.raw, &mut name);
                member(self, &name)?;
            } else {
                member(self, key.raw)?;
            }
            match self.peek_token() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(Invalid),
            }
        }
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
        self.object(depth, |sc, name| {
            match keys.find(name) {
                Some(i) => slots.vals[i] = Some(sc.member(depth + 1, pairs)?),
                None => {
                    sc.value(depth + 1)?;
                }
            }
            Ok(())
        })
    }

    /// Reads the value of a named member at nesting `depth`, reading a list
    /// of `[price, quantity]` pairs into `pairs` ([`Val::Levels`]).
    pub fn member(&mut self, depth: u32, pairs: &mut Vec<Pair<'a>>) -> Result<Val<'a>, Invalid> {
        if self.peek_token() == Some(b'[') && depth < MAX_DEPTH {
            let (start, mark) = (self.pos, pairs.len());
            if self.levels(pairs) {
                return Ok(Val::Levels(mark, pairs.len()));
            }
            // Not level-shaped (or not JSON): validate it the general way.
            pairs.truncate(mark);
            self.pos = start;
        }
        self.value(depth)
    }

    /// At `[`: reads `[[price, qty], ...]` (strings only) into `out`, or
    /// returns false (cursor anywhere) if the array has any other shape or
    /// is not valid JSON.
    fn levels(&mut self, out: &mut Vec<Pair<'a>>) -> bool {
        let punct = |sc: &mut Self, b: u8| {
            let found = sc.peek_token() == Some(b);
            sc.pos += usize::from(found);
            found
        };
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

/// Byte-slice equality as an inline loop: the names compared here are a few
/// bytes long, where a call to `memcmp` costs more than the comparison.
#[inline]
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

fn hex4(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b {
        let d = (c as char).to_digit(16)?;
        v = v * 16 + d;
    }
    Some(v)
}

/// Appends the UTF-8 text of a validated JSON string body. Escaped
/// surrogate pairs combine; a lone surrogate (which UTF-8 cannot hold)
/// becomes U+FFFD, as the fallback's encoder does.
pub fn decode_str(raw: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < raw.len() {
        let Some(off) = raw[i..].iter().position(|&b| b == b'\\') else {
            out.extend_from_slice(&raw[i..]);
            return;
        };
        out.extend_from_slice(&raw[i..i + off]);
        i += off;
        let simple = match raw[i + 1] {
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            b'/' => Some(b'/'),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            _ => None,
        };
        if let Some(c) = simple {
            out.push(c);
            i += 2;
            continue;
        }
        let hi = hex4(&raw[i + 2..i + 6]).unwrap_or(0xfffd);
        i += 6;
        let mut cp = hi;
        if (0xd800..0xdc00).contains(&hi) && raw.get(i..i + 2) == Some(b"\\u") {
            if let Some(lo) = raw.get(i + 2..i + 6).and_then(hex4) {
                if (0xdc00..0xe000).contains(&lo) {
                    cp = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
                    i += 6;
                }
            }
        }
        let ch = char::from_u32(cp).unwrap_or('\u{fffd}');
        let mut tmp = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(s: &str) -> bool {
        let mut sc = Scanner::new(s.as_bytes());
        sc.value(1).is_ok() && sc.finish().is_ok()
    }

    #[test]
    fn accepts_rfc8259_and_rejects_the_rest() {
        for ok in [
            "{}",
            "[]",
            " {\"a\" : [1, -0, 2.5e-3, true, false, null, \"x\\u00e9\\n\"]} ",
            "\"\\ud800\"",
            "-0",
            "1E+2",
            "[[[[]]]]",
        ] {
            assert!(valid(ok), "{ok}");
        }
        for bad in [
            "",
            "{",
            "{\"a\"}",
            "{\"a\":1,}",
            "[1,]",
            "[1 2]",
            "01",
            "1.",
            "1e",
            "-",
            ".5",
            "NaN",
            "Infinity",
            "-Infinity",
            "tru",
            "\"a\tb\"",
            "\"\\x\"",
            "\"\\u12g4\"",
            "{} x",
            "{1:2}",
            "[\"a\":1]",
            "'a'",
        ] {
            assert!(!valid(bad), "{bad}");
        }
    }

    #[test]
    fn nesting_limit_is_exact() {
        let deep = |n: usize| "[".repeat(n) + &"]".repeat(n);
        assert!(valid(&deep(MAX_DEPTH as usize)));
        assert!(!valid(&deep(MAX_DEPTH as usize + 1)));
        let objs = "{\"a\":".repeat(MAX_DEPTH as usize) + "1" + &"}".repeat(MAX_DEPTH as usize);
        assert!(valid(&objs));
    }

    #[test]
    fn numbers_keep_their_text() {
        let mut sc = Scanner::new(b"-120");
        assert_eq!(sc.value(1), Ok(Val::Int(b"-120")));
        let mut sc = Scanner::new(b"1.5");
        assert_eq!(sc.value(1), Ok(Val::Float));
    }

    #[test]
    fn decodes_escapes_and_surrogates() {
        let dec = |s: &str| {
            let mut out = Vec::new();
            decode_str(s.as_bytes(), &mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(dec(r#"a\"b\\c\/d\b\f\n\r\t"#), "a\"b\\c/d\u{8}\u{c}\n\r\t");
        assert_eq!(dec(r"\u00e9\u4e2d"), "é中");
        assert_eq!(dec(r"\ud83d\ude00!"), "😀!");
        assert_eq!(dec(r"\ud83d"), "\u{fffd}");
        assert_eq!(dec(r"\ude00\ud83d"), "\u{fffd}\u{fffd}");
        assert_eq!(dec(r"\ud83dA\u0041"), "\u{fffd}AA");
        assert_eq!(dec(r"\ud83d\u0041"), "\u{fffd}A");
    }

    #[test]
    fn object_into_keeps_last_duplicate_and_decodes_names() {
        const KEYS: KeySet<2> = KeySet::new(["e", "pu"]);
        let mut slots = Slots::new();
        let text = br#"{"e":"x","\u0065":"y","pu":1,"other":{"e":2}}"#;
        let mut sc = Scanner::new(text);
        sc.object_into(1, &KEYS, &mut slots, &mut Vec::new())
            .unwrap();
        assert!(sc.finish().is_ok());
        assert_eq!(
            slots.vals[0],
            Some(Val::Str(JStr {
                raw: b"y",
                escaped: false
            }))
        );
        assert_eq!(slots.vals[1], Some(Val::Int(b"1")));
    }

    #[test]
    fn levels_are_read_while_scanning_and_only_string_pairs_qualify() {
        const KEYS: KeySet<2> = KeySet::new(["b", "a"]);
        type Scanned<'t> = (bool, [Option<Val<'t>>; 2], Vec<(String, String)>);
        fn scan(text: &str) -> Scanned<'_> {
            let mut slots = Slots::new();
            let mut pairs = Vec::new();
            let mut sc = Scanner::new(text.as_bytes());
            let ok =
                sc.object_into(1, &KEYS, &mut slots, &mut pairs).is_ok() && sc.finish().is_ok();
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
            assert_eq!(vals[0], Some(Val::Arr(5)), "{other}");
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

    #[test]
    fn plain_runs_stop_at_the_first_special_byte() {
        let text = b"abcdefghijklmnop\"rest";
        assert_eq!(skip_plain(text, 0), 16);
        assert_eq!(skip_plain(b"abcdefgh\\", 0), 8);
        assert_eq!(skip_plain(b"abc\x01defghijk", 0), 3);
        assert_eq!(
            skip_plain("é中文 plain text here".as_bytes(), 0),
            "é中文 plain text here".len()
        );
        assert_eq!(skip_plain(b"x\x7f\x80\"", 0), 3);
    }
}
