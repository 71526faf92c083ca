//! A single-pass JSON scanner for the two shapes the book reads.
//!
//! Building a JSON tree per depth frame would cost more than applying it, so
//! the scanner walks the bytes once: keys the book needs are parsed in place
//! (levels straight into a reusable `Vec`), everything else is skipped while
//! still checking it is valid JSON. It accepts exactly what Python's
//! `json.loads` accepts (minus NaN/Infinity), with the last duplicate key
//! winning, so the pure-Python twin can mirror it with the standard library.
//!
//! Field problems are not raised at once: a later duplicate key may replace
//! the bad value, and a JSON syntax error anywhere must win, as it does in
//! `json.loads`. So each field keeps its own `Result` until the scan ends.
//!
//! The lexer (and the words of its syntax errors) is the one the batcher
//! uses too, [`crate::json`]; this file holds what the book reads with it.

use std::fmt;
use std::ops::Range;

use super::fixed::{self, Decimal, DecimalError, Fixed, FRAC_DIGITS, POW10};
use super::level::Level;
pub use crate::json::JsonError;
use crate::json::{self, Value};

/// Which half of a `[price, quantity]` pair an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Price,
    Quantity,
}

/// A well-formed JSON value that is not what the book expects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldError {
    NotObject,
    NotDepthUpdate,
    Missing(&'static str),
    NotU64(&'static str),
    FirstAfterLast {
        first: u64,
        last: u64,
    },
    NotList(&'static str),
    NotPair {
        field: &'static str,
        index: usize,
    },
    NotString {
        field: &'static str,
        index: usize,
        part: Part,
    },
    BadDecimal {
        field: &'static str,
        index: usize,
        part: Part,
        error: DecimalError,
    },
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let part = |p: &Part| match p {
            Part::Price => "price",
            Part::Quantity => "quantity",
        };
        match self {
            FieldError::NotObject => write!(f, "expected a JSON object"),
            FieldError::NotDepthUpdate => write!(f, "field 'e' must be \"depthUpdate\""),
            FieldError::Missing(name) => write!(f, "missing field '{name}'"),
            FieldError::NotU64(name) => {
                write!(f, "field '{name}' must be an unsigned 64-bit integer")
            }
            FieldError::FirstAfterLast { first, last } => {
                write!(f, "U ({first}) is greater than u ({last})")
            }
            FieldError::NotList(name) => {
                write!(
                    f,
                    "field '{name}' must be a list of [price, quantity] pairs"
                )
            }
            FieldError::NotPair { field, index } => {
                write!(f, "{field}[{index}] must be a [price, quantity] pair")
            }
            FieldError::NotString {
                field,
                index,
                part: p,
            } => {
                write!(f, "{field}[{index}] {} must be a string", part(p))
            }
            FieldError::BadDecimal {
                field,
                index,
                part: p,
                error,
            } => {
                write!(f, "{field}[{index}] {} {error}", part(p))
            }
        }
    }
}

/// Why a frame or snapshot body was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    Json(JsonError),
    Field(FieldError),
}

impl From<JsonError> for ParseError {
    fn from(e: JsonError) -> Self {
        ParseError::Json(e)
    }
}

impl From<FieldError> for ParseError {
    fn from(e: FieldError) -> Self {
        ParseError::Field(e)
    }
}

impl ParseError {
    /// The one-line message both backends raise, after `context: `.
    pub fn message(&self, context: &str) -> String {
        match self {
            ParseError::Json(e) => format!("{context}: invalid JSON: {} at byte {}", e.what, e.pos),
            ParseError::Field(e) => format!("{context}: {e}"),
        }
    }
}

/// The ids of a depthUpdate: `U`, `u`, `pu`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiffIds {
    pub first: u64,
    pub last: u64,
    pub prev: u64,
}

/// A parsed depthUpdate; its levels are `bids` and `asks` ranges of the
/// caller's scratch vector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedDiff {
    pub ids: DiffIds,
    pub bids: Range<usize>,
    pub asks: Range<usize>,
}

/// A parsed REST depth snapshot; levels as in [`ParsedDiff`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedSnapshot {
    pub last_update_id: u64,
    pub bids: Range<usize>,
    pub asks: Range<usize>,
}

type Field<T> = Option<Result<T, FieldError>>;

fn take<T>(field: Field<T>, name: &'static str) -> Result<T, FieldError> {
    field.unwrap_or(Err(FieldError::Missing(name)))
}

#[derive(Default)]
struct DiffFields {
    e_ok: Option<bool>,
    first: Field<u64>,
    last: Field<u64>,
    prev: Field<u64>,
    bids: Field<Range<usize>>,
    asks: Field<Range<usize>>,
}

impl DiffFields {
    /// Reads the value of `key`: parsed if the book needs it, else skipped.
    fn visit(
        &mut self,
        key: &[u8],
        cur: &mut Cursor,
        out: Option<&mut Vec<Level>>,
    ) -> Result<(), JsonError> {
        match key {
            b"e" => self.e_ok = Some(cur.string_equals(b"depthUpdate")?),
            b"U" => self.first = Some(cur.u64_field("U")?),
            b"u" => self.last = Some(cur.u64_field("u")?),
            b"pu" => self.prev = Some(cur.u64_field("pu")?),
            b"b" => self.bids = Some(cur.levels("b", out)?),
            b"a" => self.asks = Some(cur.levels("a", out)?),
            _ => cur.skip_value()?,
        }
        Ok(())
    }

    /// The checks in the order the fallback makes them.
    fn finish(self) -> Result<ParsedDiff, FieldError> {
        if self.e_ok == Some(false) {
            return Err(FieldError::NotDepthUpdate);
        }
        let first = take(self.first, "U")?;
        let last = take(self.last, "u")?;
        let prev = take(self.prev, "pu")?;
        if first > last {
            return Err(FieldError::FirstAfterLast { first, last });
        }
        let bids = take(self.bids, "b")?;
        let asks = take(self.asks, "a")?;
        Ok(ParsedDiff {
            ids: DiffIds { first, last, prev },
            bids,
            asks,
        })
    }
}

/// Parses a depthUpdate frame, bare or in the combined-stream wrapper
/// (`{"stream": ..., "data": {...}}`: a `data` object is the payload).
/// Levels are appended to `out`; with `None` they are only validated.
pub fn parse_diff(
    frame: &[u8],
    mut out: Option<&mut Vec<Level>>,
) -> Result<ParsedDiff, ParseError> {
    let mut cur = object_text(frame)?;
    let mut top = DiffFields::default();
    let mut data: Option<DiffFields> = None;
    cur.object(|cur, key| {
        if key != b"data" {
            return top.visit(key, cur, out.as_deref_mut());
        }
        if cur.peek_token() != Some(b'{') {
            data = None;
            return cur.skip_value();
        }
        let mut fields = DiffFields::default();
        cur.object(|c, k| fields.visit(k, c, out.as_deref_mut()))?;
        data = Some(fields);
        Ok(())
    })?;
    cur.end()?;
    Ok(data.unwrap_or(top).finish()?)
}

/// Parses a REST `GET /fapi/v1/depth` body; levels are appended to `out`.
pub fn parse_snapshot(body: &[u8], out: &mut Vec<Level>) -> Result<ParsedSnapshot, ParseError> {
    let mut cur = object_text(body)?;
    let mut last_update_id: Field<u64> = None;
    let mut bids: Field<Range<usize>> = None;
    let mut asks: Field<Range<usize>> = None;
    cur.object(|cur, key| {
        match key {
            b"lastUpdateId" => last_update_id = Some(cur.u64_field("lastUpdateId")?),
            b"bids" => bids = Some(cur.levels("bids", Some(out))?),
            b"asks" => asks = Some(cur.levels("asks", Some(out))?),
            _ => cur.skip_value()?,
        }
        Ok(())
    })?;
    cur.end()?;
    Ok(ParsedSnapshot {
        last_update_id: take(last_update_id, "lastUpdateId")?,
        bids: take(bids, "bids")?,
        asks: take(asks, "asks")?,
    })
}

/// Nesting a skipped value may have, so hostile input cannot make the
/// scan use unbounded memory. It counts from the skipped value itself.
const MAX_DEPTH: u32 = 10_000;

/// The book's cursor: syntax errors say what and where.
type Cursor<'a> = json::Cursor<'a, JsonError>;

/// A cursor on the first token of a body that must be one JSON object
/// (UTF-8 first, as Python decodes before it parses); a body that is
/// valid JSON but not an object is a field error.
fn object_text(buf: &[u8]) -> Result<Cursor<'_>, ParseError> {
    if let Err(e) = std::str::from_utf8(buf) {
        return Err(JsonError {
            pos: e.valid_up_to(),
            what: "not UTF-8",
        }
        .into());
    }
    let mut cur = Cursor::new(buf);
    if cur.peek_token() != Some(b'{') {
        cur.skip_value()?;
        cur.end()?;
        return Err(FieldError::NotObject.into());
    }
    Ok(cur)
}

/// The book's field readers. Each reads one value whatever it is, so a
/// syntax error anywhere still wins; a wrong but well-formed value is a
/// field error, kept aside.
impl<'a> Cursor<'a> {
    /// Validates and drops the value at the cursor.
    fn skip_value(&mut self) -> Result<(), JsonError> {
        self.value(1, MAX_DEPTH).map(drop)
    }

    /// A string holding a decimal: parsed while it is scanned when it is
    /// plain `digits[.digits]` (every price and quantity the exchange
    /// sends), else scanned as any string and then parsed.
    #[inline]
    fn decimal_string(&mut self) -> Result<Result<Decimal, DecimalError>, JsonError> {
        let start = self.pos();
        let buf = self.bytes();
        let mut i = start + 1;
        let mut int: u64 = 0;
        let mut overflow = false;
        while let Some(&b) = buf.get(i) {
            if !b.is_ascii_digit() {
                break;
            }
            match int
                .checked_mul(10)
                .and_then(|v| v.checked_add((b - b'0') as u64))
            {
                Some(v) => int = v,
                None => overflow = true,
            }
            i += 1;
        }
        let mut frac: u64 = 0;
        let mut places = 0usize;
        let mut plain = i > start + 1; // at least one integer digit
        if plain && buf.get(i) == Some(&b'.') {
            i += 1;
            while let Some(&b) = buf.get(i) {
                if !b.is_ascii_digit() || places == FRAC_DIGITS as usize {
                    break;
                }
                frac = frac * 10 + (b - b'0') as u64;
                places += 1;
                i += 1;
            }
            plain = places > 0;
        }
        if plain && buf.get(i) == Some(&b'"') {
            self.seek(i + 1);
            if overflow {
                return Ok(Err(DecimalError::TooLarge));
            }
            let frac = frac * POW10[FRAC_DIGITS as usize - places];
            return Ok(Ok(Decimal {
                value: Fixed { int, frac },
                places: places as u8,
            }));
        }
        // Anything unusual (escapes, signs, too many places, not a string
        // end): the general string scan decides validity, then the text.
        Ok(fixed::parse(&self.string()?.text()))
    }

    /// A string value equal to `expected`: Ok(true); any other valid value:
    /// Ok(false).
    fn string_equals(&mut self, expected: &[u8]) -> Result<bool, JsonError> {
        Ok(match self.value(1, MAX_DEPTH)? {
            Value::Str(s) => *s.text() == *expected,
            _ => false,
        })
    }

    /// An id: a JSON integer in 0..=u64::MAX (`-0` is 0, as in Python).
    #[inline]
    fn u64_field(&mut self, name: &'static str) -> Result<Result<u64, FieldError>, JsonError> {
        let not_u64 = Ok(Err(FieldError::NotU64(name)));
        let digits = match self.value(1, MAX_DEPTH)? {
            Value::Int(b"-0") => return Ok(Ok(0)),
            Value::Int(text) if text[0] != b'-' => text,
            _ => return not_u64,
        };
        let mut value: u64 = 0;
        for &d in digits {
            match value
                .checked_mul(10)
                .and_then(|v| v.checked_add((d - b'0') as u64))
            {
                Some(v) => value = v,
                None => return not_u64,
            }
        }
        Ok(Ok(value))
    }

    /// A `[[price, qty], ...]` list. Valid levels are appended to `out`;
    /// on the first bad level the rest is only syntax-checked.
    fn levels(
        &mut self,
        field: &'static str,
        mut out: Option<&mut Vec<Level>>,
    ) -> Result<Result<Range<usize>, FieldError>, JsonError> {
        if !self.eat(b'[') {
            self.skip_value()?;
            return Ok(Err(FieldError::NotList(field)));
        }
        let start = out.as_ref().map_or(0, |v| v.len());
        if self.eat(b']') {
            return Ok(Ok(start..start));
        }
        let mut problem: Option<FieldError> = None;
        let mut index = 0;
        loop {
            if problem.is_some() {
                self.skip_value()?;
            } else {
                match self.level(field, index)? {
                    Ok(level) => {
                        if let Some(v) = out.as_deref_mut() {
                            v.push(level);
                        }
                    }
                    Err(e) => problem = Some(e),
                }
            }
            index += 1;
            if !self.next(false)? {
                break;
            }
        }
        let end = out.as_ref().map_or(0, |v| v.len());
        Ok(match problem {
            Some(e) => Err(e),
            None => Ok(start..end),
        })
    }

    /// One `[price, qty]` pair, checked in the order the fallback checks it:
    /// shape, price type, price text, quantity type, quantity text.
    #[inline]
    fn level(
        &mut self,
        field: &'static str,
        index: usize,
    ) -> Result<Result<Level, FieldError>, JsonError> {
        if self.peek_token() != Some(b'[') {
            self.skip_value()?;
            return Ok(Err(FieldError::NotPair { field, index }));
        }
        self.bump();
        // Each of the first two elements: Some(parsed) if it is a string.
        // Kept in two locals, not an array indexed by position: the level
        // is then built in registers (through memory it cost a
        // store-forwarding stall per level).
        let (mut price, mut qty) = (None, None);
        let mut count = 0;
        let mut next = self.peek_token();
        if next == Some(b']') {
            self.bump();
        } else {
            loop {
                if count < 2 && next == Some(b'"') {
                    let d = Some(self.decimal_string()?);
                    if count == 0 {
                        price = d;
                    } else {
                        qty = d;
                    }
                } else {
                    self.skip_value()?;
                }
                count += 1;
                if !self.next(false)? {
                    break;
                }
                next = self.peek_token();
            }
        }
        if count != 2 {
            return Ok(Err(FieldError::NotPair { field, index }));
        }
        let check = |part, parsed: Option<Result<Decimal, DecimalError>>| match parsed {
            None => Err(FieldError::NotString { field, index, part }),
            Some(Err(error)) => Err(FieldError::BadDecimal {
                field,
                index,
                part,
                error,
            }),
            Some(Ok(d)) => Ok(d),
        };
        Ok(check(Part::Price, price).and_then(|p| Ok(Level::new(p, check(Part::Quantity, qty)?))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diff(frame: &str) -> Result<(ParsedDiff, Vec<Level>), ParseError> {
        let mut out = Vec::new();
        parse_diff(frame.as_bytes(), Some(&mut out)).map(|p| (p, out))
    }

    fn field_error(frame: &str) -> String {
        match parse_diff(frame.as_bytes(), None) {
            Err(e @ ParseError::Field(_)) => e.message("depth update"),
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    const BARE: &str = r#"{"e":"depthUpdate","E":1,"T":1,"s":"X","U":5,"u":7,"pu":4,"b":[["1.50","2"],["1.40","0.000"]],"a":[["1.60","3.5"]]}"#;

    #[test]
    fn bare_and_combined_frames_give_the_same_result() {
        let (bare, levels) = diff(BARE).unwrap();
        assert_eq!(
            bare.ids,
            DiffIds {
                first: 5,
                last: 7,
                prev: 4
            }
        );
        assert_eq!(bare.bids, 0..2);
        assert_eq!(bare.asks, 2..3);
        assert_eq!(fixed::to_text(levels[1].qty()), "0.000");
        let combined = format!(r#"{{"stream":"x@depth","data":{BARE}}}"#);
        assert_eq!(diff(&combined).unwrap(), (bare, levels));
    }

    #[test]
    fn key_order_whitespace_and_unknown_fields_do_not_matter() {
        let frame = r#" { "a" : [ ] , "new" : {"x":[1,2.5e3,null,true,false,"\"\u00e9"]}, "pu":1 ,"b":[],"u":3,"U":2 } "#;
        let (parsed, _) = diff(frame).unwrap();
        assert_eq!(
            parsed.ids,
            DiffIds {
                first: 2,
                last: 3,
                prev: 1
            }
        );
    }

    #[test]
    fn last_duplicate_key_wins_even_over_a_bad_value() {
        let frame = r#"{"U":"x","U":2,"u":3,"pu":1,"b":[[1,2]],"b":[],"a":[]}"#;
        assert_eq!(diff(frame).unwrap().0.ids.first, 2);
    }

    #[test]
    fn escaped_keys_and_values_are_decoded() {
        let frame =
            r#"{"\u0055":2,"u":3,"pu":1,"b":[["\u0031.5","2"]],"a":[],"e":"depth\u0055pdate"}"#;
        let (_, levels) = diff(frame).unwrap();
        assert_eq!(fixed::to_text(levels[0].price()), "1.5");
        // A non-ASCII character, escaped or not, is never a digit or a name.
        assert_eq!(
            field_error(r#"{"U":1,"u":2,"pu":1,"b":[["1.\u00e95","2"]],"a":[]}"#),
            "depth update: b[0] price is not decimal text"
        );
        assert_eq!(
            field_error(r#"{"e":"depth\ud83dUpdate","U":1,"u":2,"pu":1,"b":[],"a":[]}"#),
            "depth update: field 'e' must be \"depthUpdate\""
        );
    }

    #[test]
    fn field_errors_name_the_field() {
        assert_eq!(field_error("[1]"), "depth update: expected a JSON object");
        assert_eq!(
            field_error(r#"{"e":"bookTicker","U":1}"#),
            "depth update: field 'e' must be \"depthUpdate\""
        );
        assert_eq!(
            field_error(r#"{"U":1,"u":2,"b":[],"a":[]}"#),
            "depth update: missing field 'pu'"
        );
        for bad in [
            "-1",
            "1.0",
            "1e3",
            "\"1\"",
            "true",
            "null",
            "18446744073709551616",
        ] {
            let frame = format!(r#"{{"U":{bad},"u":2,"pu":1,"b":[],"a":[]}}"#);
            assert_eq!(
                field_error(&frame),
                "depth update: field 'U' must be an unsigned 64-bit integer"
            );
        }
        assert_eq!(
            field_error(r#"{"U":3,"u":2,"pu":1,"b":[],"a":[]}"#),
            "depth update: U (3) is greater than u (2)"
        );
        assert_eq!(
            field_error(r#"{"U":1,"u":2,"pu":1,"b":{},"a":[]}"#),
            "depth update: field 'b' must be a list of [price, quantity] pairs"
        );
        assert_eq!(
            field_error(r#"{"U":1,"u":2,"pu":1,"b":[],"a":[["1","2"],["1"]]}"#),
            "depth update: a[1] must be a [price, quantity] pair"
        );
        assert_eq!(
            field_error(r#"{"U":1,"u":2,"pu":1,"b":[[1]],"a":[]}"#),
            "depth update: b[0] must be a [price, quantity] pair"
        );
        assert_eq!(
            field_error(r#"{"U":1,"u":2,"pu":1,"b":[[1,"2"]],"a":[]}"#),
            "depth update: b[0] price must be a string"
        );
        assert_eq!(
            field_error(r#"{"U":1,"u":2,"pu":1,"b":[["1",2]],"a":[]}"#),
            "depth update: b[0] quantity must be a string"
        );
        assert_eq!(
            field_error(r#"{"U":1,"u":2,"pu":1,"b":[["1","-2"]],"a":[]}"#),
            "depth update: b[0] quantity is not decimal text"
        );
        assert_eq!(
            field_error(r#"{"U":1,"u":2,"pu":1,"b":[["0.1234567890123456789","2"]],"a":[]}"#),
            "depth update: b[0] price has more than 18 decimal places"
        );
    }

    #[test]
    fn level_strings_parse_exactly_like_fixed_parse() {
        // The scanner's in-place fast path must agree with the general one.
        for text in [
            "0",
            "5",
            "5.",
            ".5",
            "007.50",
            "0.000",
            "1.234567890123456789",
            "1.2345678901234567891",
            "18446744073709551615.5",
            "18446744073709551616",
            "18446744073709551616.1234567890123456789",
            "18446744073709551616.x",
            "1a",
            "1.2.3",
            "-1",
            "",
            "1e5",
            " 1",
            "1 ",
            "1.5x",
        ] {
            let frame = format!(r#"{{"U":1,"u":1,"pu":0,"b":[["{text}","1"]],"a":[]}}"#);
            let mut out = Vec::new();
            let got = parse_diff(frame.as_bytes(), Some(&mut out)).map(|_| out[0].price());
            match fixed::parse(text.as_bytes()) {
                Ok(d) => assert_eq!(got, Ok(d), "{text:?}"),
                Err(error) => {
                    let expected = FieldError::BadDecimal {
                        field: "b",
                        index: 0,
                        part: Part::Price,
                        error,
                    };
                    assert_eq!(got, Err(ParseError::Field(expected)), "{text:?}");
                }
            }
        }
    }

    #[test]
    fn minus_zero_is_zero_as_in_python() {
        let (parsed, _) = diff(r#"{"U":-0,"u":0,"pu":0,"b":[],"a":[]}"#).unwrap();
        assert_eq!(parsed.ids, DiffIds::default());
    }

    #[test]
    fn syntax_errors_beat_field_errors() {
        for frame in [
            r#"{"U":"x","u":2,"pu":1,"b":[],"a":[]"#,
            r#"{"U":1,"u":2,"pu":1,"b":[["1","2"],],"a":[]}"#,
            r#"{"U":1,"u":2,"pu":1,"b":[],"a":[],}"#,
            r#"{"U":01,"u":2,"pu":1,"b":[],"a":[]}"#,
            r#"{"U":1,"u":2,"pu":1,"b":[],"a":[],"x":NaN}"#,
            r#"{"U":1,"u":2,"pu":1,"b":[],"a":[],"x":"\q"}"#,
            "{\"U\":1,\"u\":2,\"pu\":1,\"b\":[],\"a\":[],\"x\":\"\x01\"}",
            r#"{"U":1,"u":2,"pu":1,"b":[],"a":[]} x"#,
            r#"{"U":1,"u":2,"pu":1,"b":[[["1"],"2"]],"a":[1.]}"#,
            "",
        ] {
            assert!(
                matches!(parse_diff(frame.as_bytes(), None), Err(ParseError::Json(_))),
                "{frame:?}"
            );
        }
        assert!(matches!(
            parse_diff(b"{\"x\":\"\xff\"}", None),
            Err(ParseError::Json(_))
        ));
    }

    #[test]
    fn deep_nesting_is_skipped_without_recursion() {
        let frame = format!(
            r#"{{"x":{}{},"U":1,"u":2,"pu":1,"b":[],"a":[]}}"#,
            "[".repeat(5000),
            "]".repeat(5000)
        );
        assert!(diff(&frame).is_ok());
        let too_deep = format!(
            r#"{{"x":{}{}}}"#,
            "[".repeat(MAX_DEPTH as usize + 1),
            "]".repeat(MAX_DEPTH as usize + 1)
        );
        assert!(matches!(
            parse_diff(too_deep.as_bytes(), None),
            Err(ParseError::Json(_))
        ));
    }

    #[test]
    fn snapshot_body_parses_and_reports_missing_fields() {
        let mut out = Vec::new();
        let body = br#"{"lastUpdateId":9,"E":1,"T":1,"bids":[["2.0","1"]],"asks":[["2.1","1"],["2.2","4"]]}"#;
        let parsed = parse_snapshot(body, &mut out).unwrap();
        assert_eq!(
            (parsed.last_update_id, parsed.bids, parsed.asks),
            (9, 0..1, 1..3)
        );
        let err =
            parse_snapshot(br#"{"code":-1121,"msg":"Invalid symbol."}"#, &mut out).unwrap_err();
        assert_eq!(
            err.message("depth snapshot"),
            "depth snapshot: missing field 'lastUpdateId'"
        );
    }
}
