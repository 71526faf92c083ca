//! The JSON lexer under both native parsers: the order book's frame scanner
//! (`book/scan.rs`) and the batcher's member scanner (`csv/scan.rs`).
//!
//! Neither builds a tree: each walks the text once with a [`Cursor`], reads
//! the members it needs in place and validates and skips the rest. This
//! module is the part they share, so both accept exactly the same text:
//! RFC 8259 with no NaN/Infinity, the last of duplicate names winning (the
//! callers' business), nesting bounded by a depth the caller passes. The
//! text must already be valid UTF-8: string contents are checked for
//! escapes and control characters only.
//!
//! Whitespace is skipped before each token is read, never after one, so
//! no byte is looked at twice; errors point at the token that is wrong.
//!
//! The two parsers report errors differently. The book's message names what
//! was wrong and the byte where it was noticed ([`JsonError`]); the batcher
//! only counts the record as invalid ([`Invalid`], zero-sized, so its scan
//! carries no error data). A cursor is generic over that choice
//! ([`SyntaxError`]), and the words and positions are fixed here, once.

use std::borrow::Cow;
use std::marker::PhantomData;

/// How a cursor reports text that is not JSON: `what` was wrong at byte `pos`.
pub trait SyntaxError: Sized {
    fn at(pos: usize, what: &'static str) -> Self;
}

/// Invalid JSON: what was wrong and the byte offset where it was noticed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JsonError {
    pub pos: usize,
    pub what: &'static str,
}

impl SyntaxError for JsonError {
    #[inline]
    fn at(pos: usize, what: &'static str) -> Self {
        JsonError { pos, what }
    }
}

/// The text is not valid JSON (or nests too deep); no detail kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid;

impl SyntaxError for Invalid {
    #[inline(always)]
    fn at(_: usize, _: &'static str) -> Self {
        Invalid
    }
}

/// A JSON string as it appears in the text, without the quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JStr<'a> {
    pub raw: &'a [u8],
    /// The raw text contains backslash escapes (decode with [`decode_str`]).
    pub escaped: bool,
}

impl<'a> JStr<'a> {
    /// The decoded text: borrowed from the input when it has no escapes.
    pub fn text(self) -> Cow<'a, [u8]> {
        if self.escaped {
            let mut out = Vec::with_capacity(self.raw.len());
            decode_str(self.raw, &mut out);
            Cow::Owned(out)
        } else {
            Cow::Borrowed(self.raw)
        }
    }
}

/// One scanned value. Containers are validated and kept as the offset of
/// their opening bracket, to be walked again only when a caller needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    Str(JStr<'a>),
    /// An integer literal, verbatim (`-?(0|[1-9][0-9]*)`).
    Int(&'a [u8]),
    /// A number with a fraction or exponent.
    Float,
    Bool(bool),
    Null,
    Obj(usize),
    Arr(usize),
}

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

/// Which of the open containers are objects, one bit per nesting level:
/// 512 levels inline (every real frame, and the batcher's whole limit),
/// deeper ones on the heap.
#[derive(Default)]
struct Nesting {
    near: [u64; 8],
    far: Vec<u64>,
}

impl Nesting {
    #[inline]
    fn set(&mut self, level: u32, object: bool) {
        let (word, bit) = (level as usize / 64, 1u64 << (level % 64));
        let w = match self.near.get_mut(word) {
            Some(w) => w,
            None => {
                let i = word - self.near.len();
                if self.far.len() <= i {
                    self.far.resize(i + 1, 0);
                }
                &mut self.far[i]
            }
        };
        if object {
            *w |= bit;
        } else {
            *w &= !bit;
        }
    }

    #[inline]
    fn get(&self, level: u32) -> bool {
        let word = level as usize / 64;
        let w = match self.near.get(word) {
            Some(&w) => w,
            None => self.far[word - self.near.len()],
        };
        w >> (level % 64) & 1 == 1
    }
}

/// A cursor over one JSON text, reporting errors as `E`.
pub struct Cursor<'a, E> {
    buf: &'a [u8],
    pos: usize,
    error: PhantomData<fn() -> E>,
}

impl<'a, E: SyntaxError> Cursor<'a, E> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self::at(buf, 0)
    }

    /// A cursor at `pos` (to walk an already validated container again).
    pub fn at(buf: &'a [u8], pos: usize) -> Self {
        Cursor {
            buf,
            pos,
            error: PhantomData,
        }
    }

    /// The whole text.
    #[inline]
    pub fn bytes(&self) -> &'a [u8] {
        self.buf
    }

    #[inline]
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Moves to `pos`, a position this cursor was at (to read a value again
    /// another way) or a scan of [`Cursor::bytes`] ended at.
    #[inline]
    pub fn seek(&mut self, pos: usize) {
        self.pos = pos;
    }

    /// The error `what` at the cursor.
    #[inline]
    pub fn fail<T>(&self, what: &'static str) -> Result<T, E> {
        Err(E::at(self.pos, what))
    }

    #[inline]
    pub fn ws(&mut self) {
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

    /// Consumes the next byte, which the caller has peeked at.
    #[inline]
    pub fn bump(&mut self) {
        self.pos += 1;
    }

    /// Consumes the next non-whitespace byte if it is `b`.
    #[inline]
    pub fn eat(&mut self, b: u8) -> bool {
        let found = self.peek_token() == Some(b);
        self.pos += usize::from(found);
        found
    }

    /// Only whitespace may follow the top-level value.
    pub fn end(&mut self) -> Result<(), E> {
        self.ws();
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            self.fail("extra data after the value")
        }
    }

    /// After an element of an open object (or array): consumes `,` (true:
    /// another element follows) or the closing bracket (false).
    #[inline]
    pub fn next(&mut self, object: bool) -> Result<bool, E> {
        let close = if object { b'}' } else { b']' };
        match self.peek_token() {
            Some(b',') => {
                self.pos += 1;
                Ok(true)
            }
            Some(c) if c == close => {
                self.pos += 1;
                Ok(false)
            }
            _ if object => self.fail("expected ',' or '}'"),
            _ => self.fail("expected ',' or ']'"),
        }
    }

    /// A member name and its colon; the value follows.
    #[inline(always)]
    pub fn key(&mut self) -> Result<JStr<'a>, E> {
        if self.peek_token() != Some(b'"') {
            return self.fail("expected a string key");
        }
        let key = self.string()?;
        if self.peek_token() != Some(b':') {
            return self.fail("expected ':'");
        }
        self.pos += 1;
        Ok(key)
    }

    /// At `{`: calls `member(self, name)` for each member, with the cursor
    /// before its value; `member` must consume the value. Escaped names are
    /// decoded first.
    pub fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        if !self.eat(b'{') {
            return self.fail("expected '{'");
        }
        if self.eat(b'}') {
            return Ok(());
        }
        let mut name = Vec::new();
        loop {
            let key = self.key()?;
            if key.escaped {
                name.clear();
                decode_str(key.raw, &mut name);
                member(self, &name)?;
            } else {
                member(self, key.raw)?;
            }
            if !self.next(true)? {
                return Ok(());
            }
        }
    }

    /// Reads the next value. A container here sits at nesting `depth` and
    /// may nest to `max_depth` (the top-level container has depth 1): it is
    /// validated to its end and returned by position. Inlined so the result
    /// stays in registers (returned through memory, it was re-read at a
    /// different width: a store-forwarding stall per member).
    #[inline(always)]
    pub fn value(&mut self, depth: u32, max_depth: u32) -> Result<Value<'a>, E> {
        let next = self.peek_token();
        match next {
            Some(b'{') => {
                let start = self.pos;
                self.skip_container(depth, max_depth)?;
                Ok(Value::Obj(start))
            }
            Some(b'[') => {
                let start = self.pos;
                self.skip_container(depth, max_depth)?;
                Ok(Value::Arr(start))
            }
            _ => self.scalar(next),
        }
    }

    /// A value that is not a container, starting with `first` (the byte
    /// `peek_token` found: passed on, not read again).
    #[inline(always)] // see `value`
    fn scalar(&mut self, first: Option<u8>) -> Result<Value<'a>, E> {
        match first {
            Some(b'"') => Ok(Value::Str(self.string()?)),
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'n') => self.literal(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => self.fail("unexpected character"),
            None => self.fail("unexpected end of input"),
        }
    }

    #[inline(always)] // see `value`
    fn literal(&mut self, word: &[u8], val: Value<'a>) -> Result<Value<'a>, E> {
        if self
            .buf
            .get(self.pos..self.pos + word.len())
            .is_some_and(|b| same(b, word))
        {
            self.pos += word.len();
            Ok(val)
        } else {
            self.fail("invalid literal")
        }
    }

    /// At a `"`: reads the string, checking escapes and rejecting raw
    /// control characters. Errors point at the offending byte (the
    /// backslash of a bad escape), or the end of the text.
    #[inline(always)] // see `value`
    pub fn string(&mut self) -> Result<JStr<'a>, E> {
        let start = self.pos + 1;
        let mut i = start;
        let mut escaped = false;
        loop {
            i = skip_plain(self.buf, i);
            let what = match self.buf.get(i) {
                Some(b'"') => {
                    self.pos = i + 1;
                    return Ok(JStr {
                        raw: &self.buf[start..i],
                        escaped,
                    });
                }
                Some(b'\\') => match self.buf.get(i + 1) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                        escaped = true;
                        i += 2;
                        continue;
                    }
                    Some(b'u') if self.buf.get(i + 2..i + 6).and_then(hex4).is_some() => {
                        escaped = true;
                        i += 6;
                        continue;
                    }
                    Some(b'u') => "invalid \\u escape",
                    _ => "invalid escape",
                },
                Some(_) => "control character in string",
                None => "unterminated string",
            };
            self.pos = i;
            return self.fail(what);
        }
    }

    /// At `-` or a digit: an integer ([`Value::Int`], its text) or another
    /// number ([`Value::Float`]).
    #[inline(always)] // see `value`
    pub fn number(&mut self) -> Result<Value<'a>, E> {
        let b = self.buf;
        let start = self.pos;
        let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
        let digits = |mut i: usize| {
            while digit(i) {
                i += 1;
            }
            i
        };
        let mut i = start + usize::from(b.get(start) == Some(&b'-'));
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => i = digits(i + 1),
            _ => return self.fail_at(i, "invalid number"),
        }
        let mut int = true;
        if b.get(i) == Some(&b'.') {
            i += 1;
            if !digit(i) {
                return self.fail_at(i, "invalid number");
            }
            i = digits(i);
            int = false;
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !digit(i) {
                return self.fail_at(i, "invalid number");
            }
            i = digits(i);
            int = false;
        }
        self.pos = i;
        Ok(if int {
            Value::Int(&b[start..i])
        } else {
            Value::Float
        })
    }

    #[cold]
    fn fail_at<T>(&mut self, pos: usize, what: &'static str) -> Result<T, E> {
        self.pos = pos;
        self.fail(what)
    }

    /// At `{` or `[` (nesting `depth`): validates the container and
    /// everything in it, without recursion.
    fn skip_container(&mut self, depth: u32, max_depth: u32) -> Result<(), E> {
        let mut objects = Nesting::default();
        // Containers open below the one at `depth`.
        let mut open = 0u32;
        loop {
            // Before a value.
            let next = self.peek_token();
            match next {
                Some(c @ (b'{' | b'[')) => {
                    if depth + open > max_depth {
                        return self.fail("nesting too deep");
                    }
                    self.pos += 1;
                    let object = c == b'{';
                    if !self.eat(if object { b'}' } else { b']' }) {
                        objects.set(open, object);
                        open += 1;
                        if object {
                            self.key()?;
                        }
                        continue;
                    }
                }
                _ => {
                    self.scalar(next)?;
                }
            }
            // After a value: close containers, or move to the next element.
            loop {
                if open == 0 {
                    return Ok(());
                }
                let object = objects.get(open - 1);
                if self.next(object)? {
                    if object {
                        self.key()?;
                    }
                    break;
                }
                open -= 1;
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
/// becomes U+FFFD, as the batcher's fallback encoder does.
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

    const DEPTH: u32 = 512;

    fn scan(s: &str) -> Result<Value<'_>, JsonError> {
        let mut cur = Cursor::new(s.as_bytes());
        let v = cur.value(1, DEPTH)?;
        cur.end()?;
        Ok(v)
    }

    fn valid(s: &str) -> bool {
        let mut cur = Cursor::<Invalid>::new(s.as_bytes());
        let ok = cur.value(1, DEPTH).is_ok() && cur.end().is_ok();
        assert_eq!(ok, scan(s).is_ok(), "both error types accept the same: {s}");
        ok
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
            "{\"a\":{\"b\":[{}]},\"c\":[[],{\"d\":null}]}",
        ] {
            assert!(valid(ok), "{ok}");
        }
        for bad in [
            "",
            "{",
            "{\"a\"}",
            "{\"a\":1,}",
            "[1,]",
            "[,1]",
            "[1 2]",
            "[1}",
            "{\"a\":1]",
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
            "\"abc",
            "{} x",
            "{1:2}",
            "[\"a\":1]",
            "'a'",
        ] {
            assert!(!valid(bad), "{bad}");
        }
    }

    #[test]
    fn errors_name_the_problem_and_its_byte() {
        for (text, what, pos) in [
            ("", "unexpected end of input", 0),
            ("[1,", "unexpected end of input", 3),
            ("[1 2]", "expected ',' or ']'", 3),
            ("{\"a\":1 ]", "expected ',' or '}'", 7),
            ("{1:2}", "expected a string key", 1),
            ("{\"a\" 1}", "expected ':'", 5),
            ("[-x]", "invalid number", 2),
            ("[1.e5]", "invalid number", 3),
            ("[1e+]", "invalid number", 4),
            ("[nul]", "invalid literal", 1),
            ("[#]", "unexpected character", 1),
            ("\"ab\\q\"", "invalid escape", 3),
            ("\"ab\\u12\"", "invalid \\u escape", 3),
            ("\"ab\\", "invalid escape", 3),
            ("\"abcdefghij\x01\"", "control character in string", 11),
            ("\"abcdefghij", "unterminated string", 11),
            ("[] x", "extra data after the value", 3),
        ] {
            assert_eq!(scan(text), Err(JsonError { pos, what }), "{text:?}");
        }
    }

    #[test]
    fn nesting_limit_is_exact() {
        let deep = |n: usize| "[".repeat(n) + &"]".repeat(n);
        assert!(valid(&deep(DEPTH as usize)));
        assert!(!valid(&deep(DEPTH as usize + 1)));
        let objs = "{\"a\":".repeat(DEPTH as usize) + "1" + &"}".repeat(DEPTH as usize);
        assert!(valid(&objs));
        // Past the inline bits, and the depth counts from where the value sits.
        let deeper = deep(5000);
        let mut cur = Cursor::<JsonError>::new(deeper.as_bytes());
        assert_eq!(cur.value(1, 10_000), Ok(Value::Arr(0)));
        let mut cur = Cursor::<JsonError>::new(deeper.as_bytes());
        let too_deep = JsonError {
            pos: 1000,
            what: "nesting too deep",
        };
        assert_eq!(cur.value(9_001, 10_000), Err(too_deep));
        // Objects and arrays alternate past 512 levels without mixing up.
        let mixed = "[{\"a\":".repeat(400) + "1" + &"}]".repeat(400);
        let mut cur = Cursor::<JsonError>::new(mixed.as_bytes());
        assert!(cur.value(1, 10_000).is_ok() && cur.end().is_ok());
    }

    #[test]
    fn values_keep_their_text_and_position() {
        assert_eq!(scan("-120"), Ok(Value::Int(b"-120")));
        assert_eq!(scan("1.5"), Ok(Value::Float));
        assert_eq!(scan(" {\"a\":[]}"), Ok(Value::Obj(1)));
        let s = JStr {
            raw: br"x\n",
            escaped: true,
        };
        assert_eq!(scan(r#""x\n""#), Ok(Value::Str(s)));
        assert_eq!(&*s.text(), b"x\n");
    }

    #[test]
    fn object_decodes_names_and_requires_values_read() {
        let mut names = Vec::new();
        let mut cur = Cursor::<JsonError>::new(br#" {"\u0065":1, "pu" : [2]} "#);
        cur.object(|c, name| {
            names.push(String::from_utf8(name.to_vec()).unwrap());
            c.value(2, DEPTH).map(drop)
        })
        .unwrap();
        assert!(cur.end().is_ok());
        assert_eq!(names, ["e", "pu"]);
        let mut cur = Cursor::<JsonError>::new(b"{\"a\":1,}");
        let err = cur.object(|c, _| c.value(2, DEPTH).map(drop));
        assert_eq!(err, Err(JsonError::at(7, "expected a string key")));
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
