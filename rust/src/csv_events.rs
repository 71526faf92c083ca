//! Record payloads to rows: one encoder per file kind.
//!
//! Each encoder checks every field it needs, in the file's canonical column
//! order, before it writes a row, so a record is written whole or not at
//! all, and the first failing check names the reason. The fallback checks
//! in the same order with the same words (the parity tests hold both to it).

use std::borrow::Cow;
use std::ops::Range;

use super::json::{decode_str, same, Invalid, JStr, KeySet, Pair, Scanner, Slots, Val};
use super::out::{write_row, Cell, Files, LevelRows};
use super::schema::{schema, valid_interval, valid_symbol, FileKind, MAX_TIME_MS};

/// Why a record was skipped, and under which kind it is counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bad {
    pub kind: &'static str,
    pub reason: String,
}

fn bad(kind: &'static str, reason: impl Into<String>) -> Bad {
    Bad {
        kind,
        reason: reason.into(),
    }
}

const INVALID_JSON: &str = "invalid JSON";
const MS_PER_DAY: u64 = 86_400_000;

/// One ring record with its header decoded.
pub struct Record<'a> {
    pub local_time_us: i64,
    pub payload: &'a [u8],
}

/// Members of an event payload (all event types share one table).
const EVENT: KeySet<22> = KeySet::new([
    "e", "E", "T", "s", "a", "p", "q", "f", "l", "m", "U", "u", "pu", "b", "k", "t", "X", "B", "A",
    "i", "P", "r",
]);
const EV_TYPE: usize = 0;
const EV_TIME: usize = 1;
const EV_T: usize = 2;
const EV_S: usize = 3;
const EV_A: usize = 4;
const EV_P: usize = 5;
const EV_Q: usize = 6;
const EV_F: usize = 7;
const EV_L: usize = 8;
const EV_M: usize = 9;
const EV_UU: usize = 10;
const EV_U: usize = 11;
const EV_PU: usize = 12;
const EV_B: usize = 13;
const EV_K: usize = 14;
const EV_TL: usize = 15;
const EV_X: usize = 16;
const EV_BB: usize = 17;
const EV_AA: usize = 18;
const EV_I: usize = 19;
const EV_PP: usize = 20;
const EV_R: usize = 21;

const KLINE: KeySet<15> = KeySet::new([
    "i", "t", "T", "f", "L", "o", "h", "l", "c", "v", "n", "x", "q", "V", "Q",
]);

const SNAPSHOT: KeySet<5> = KeySet::new(["E", "T", "lastUpdateId", "bids", "asks"]);
const GAP: KeySet<5> = KeySet::new(["stream", "reason", "last_id", "next_id", "detail"]);
const BOOK: KeySet<3> = KeySet::new(["last_update_id", "bids", "asks"]);

/// Typed access to the members of one object, with the failure reasons.
struct Fields<'s, 'a, const N: usize> {
    slots: &'s Slots<'a, N>,
    keys: &'static KeySet<N>,
    /// Prefix of member names in reasons (`"k."` inside a kline).
    prefix: &'static str,
    kind: &'static str,
}

impl<'a, const N: usize> Fields<'_, 'a, N> {
    fn fail(&self, i: usize, what: &str) -> Bad {
        bad(
            self.kind,
            format!("field \"{}{}\" {what}", self.prefix, self.keys.names[i]),
        )
    }

    fn get(&self, i: usize) -> Result<Val<'a>, Bad> {
        self.slots.vals[i].ok_or_else(|| self.fail(i, "missing"))
    }

    fn int(&self, i: usize) -> Result<&'a [u8], Bad> {
        match self.get(i)? {
            Val::Int(t) => Ok(t),
            _ => Err(self.fail(i, "is not an integer")),
        }
    }

    /// An integer, or `None` when absent or null.
    fn opt_int(&self, i: usize) -> Result<Option<&'a [u8]>, Bad> {
        match self.slots.vals[i] {
            None | Some(Val::Null) => Ok(None),
            Some(Val::Int(t)) => Ok(Some(t)),
            Some(_) => Err(self.fail(i, "is not an integer")),
        }
    }

    fn string(&self, i: usize) -> Result<JStr<'a>, Bad> {
        match self.get(i)? {
            Val::Str(s) => Ok(s),
            _ => Err(self.fail(i, "is not a string")),
        }
    }

    /// A string, or `None` when absent or null.
    fn opt_string(&self, i: usize) -> Result<Option<JStr<'a>>, Bad> {
        match self.slots.vals[i] {
            None | Some(Val::Null) => Ok(None),
            Some(Val::Str(s)) => Ok(Some(s)),
            Some(_) => Err(self.fail(i, "is not a string")),
        }
    }

    fn boolean(&self, i: usize) -> Result<bool, Bad> {
        match self.get(i)? {
            Val::Bool(b) => Ok(b),
            _ => Err(self.fail(i, "is not a boolean")),
        }
    }

    /// An exchange time in ms and its UTC day number.
    fn time(&self, i: usize) -> Result<(&'a [u8], u32), Bad> {
        let text = self.int(i)?;
        match time_ms(text) {
            Some(ms) => Ok((text, (ms / MS_PER_DAY) as u32)),
            None => Err(self.fail(i, "is out of range")),
        }
    }

    /// Like [`Fields::time`], but absent or null gives `None`.
    fn opt_time(&self, i: usize) -> Result<Option<(&'a [u8], u32)>, Bad> {
        match self.slots.vals[i] {
            None | Some(Val::Null) => Ok(None),
            _ => self.time(i).map(Some),
        }
    }

    fn name(&self, i: usize, check: fn(&[u8]) -> bool, what: &str) -> Result<Cow<'a, [u8]>, Bad> {
        let s = self.string(i)?;
        let name = if s.escaped {
            let mut v = Vec::new();
            decode_str(s.raw, &mut v);
            Cow::Owned(v)
        } else {
            Cow::Borrowed(s.raw)
        };
        if check(&name) {
            Ok(name)
        } else {
            Err(self.fail(i, what))
        }
    }

    fn symbol(&self, i: usize) -> Result<Cow<'a, [u8]>, Bad> {
        self.name(i, valid_symbol, "is not a valid symbol")
    }

    /// `[[price, qty], ...]`: where its pairs sit in the record's pair list.
    fn levels(&self, i: usize) -> Result<Range<usize>, Bad> {
        match self.get(i)? {
            Val::Levels(start, end) => Ok(start..end),
            _ => Err(self.fail(i, "is not a list of [price, quantity] pairs")),
        }
    }
}

/// The value of a verbatim integer literal if it is a time in range.
fn time_ms(text: &[u8]) -> Option<u64> {
    let (neg, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if digits.len() > 16 {
        return None;
    }
    let v = digits
        .iter()
        .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
    (v < MAX_TIME_MS && (!neg || v == 0)).then_some(v)
}

/// The UTC day of a local receive time, for records without an exchange time.
fn local_day(local_time_us: i64, kind: &'static str) -> Result<u32, Bad> {
    if (0..(MAX_TIME_MS * 1000) as i64).contains(&local_time_us) {
        Ok((local_time_us as u64 / (MS_PER_DAY * 1000)) as u32)
    } else {
        Err(bad(kind, "local_time_us out of range"))
    }
}

/// Parses a payload that must be one JSON object into `slots`.
fn parse_object<'a, const N: usize>(
    payload: &'a [u8],
    keys: &KeySet<N>,
    slots: &mut Slots<'a, N>,
    pairs: &mut Vec<Pair<'a>>,
    kind: &'static str,
) -> Result<(), Bad> {
    let mut sc = Scanner::new(payload);
    if sc.peek_token() != Some(b'{') {
        let valid = sc.value(1).is_ok() && sc.finish().is_ok();
        return Err(bad(
            kind,
            if valid {
                "not a JSON object"
            } else {
                INVALID_JSON
            },
        ));
    }
    sc.object_into(1, keys, slots, pairs)
        .and_then(|()| sc.finish())
        .map_err(|Invalid| bad(kind, INVALID_JSON))
}

/// Per-batch encoder state: the files and reusable buffers.
pub struct Encoder<'a> {
    pub files: Files<'a>,
    /// Rows written per kind (index = `FileKind as usize`) and the order kinds first got one.
    pub rows: [u64; 9],
    pub row_kinds: Vec<FileKind>,
    pub keep_all_klines: bool,
    /// Book levels of the current record, as scanned.
    pairs: Vec<Pair<'a>>,
    level_rows: LevelRows,
}

impl<'a> Encoder<'a> {
    /// An encoder writing rows into `arena` (see [`Files::with_arena`]).
    pub fn new(keep_all_klines: bool, arena: Vec<u8>) -> Self {
        Encoder {
            files: Files::with_arena(arena),
            rows: [0; 9],
            row_kinds: Vec::new(),
            keep_all_klines,
            pairs: Vec::new(),
            level_rows: LevelRows::default(),
        }
    }

    fn count(&mut self, kind: FileKind, n: u64) {
        if self.rows[kind as usize] == 0 {
            self.row_kinds.push(kind);
        }
        self.rows[kind as usize] += n;
    }

    /// Writes one row of `kind` to its file.
    fn emit(
        &mut self,
        kind: FileKind,
        symbol: Cow<'a, [u8]>,
        interval: Cow<'a, [u8]>,
        day: u32,
        cells: &[Cell<'_>],
    ) {
        let group = self.files.group(kind, symbol, interval, day);
        let start = self.files.arena.len();
        let order = schema().order(kind);
        write_row(&mut self.files.arena, cells, order, &mut self.files.scratch);
        self.files.commit(group, start);
        self.count(kind, 1);
    }

    /// Writes one row per level of `bids` then `asks` (ranges of the
    /// record's pairs): the
    /// `shared` cells, then side, (level number when `numbered`), price,
    /// quantity. No levels at all still gives one row with those cells
    /// empty, so the update id reaches the file.
    fn emit_levels(
        &mut self,
        kind: FileKind,
        symbol: Cow<'a, [u8]>,
        day: u32,
        shared: &[Cell<'_>],
        numbered: bool,
        [bids, asks]: [Range<usize>; 2],
    ) {
        let group = self.files.group(kind, symbol, Cow::Borrowed(b""), day);
        let start = self.files.arena.len();
        let (out, scratch) = (&mut self.files.arena, &mut self.files.scratch);
        self.level_rows
            .prepare(shared, schema().order(kind), scratch);
        let mut rows = 0;
        for (side, levels) in [("bid", bids), ("ask", asks)] {
            for (level, &(price, qty)) in (1..).zip(&self.pairs[levels]) {
                let own = [
                    Cell::Lit(side),
                    Cell::Int(level),
                    Cell::Text(price),
                    Cell::Text(qty),
                ];
                let own = if numbered {
                    &own[..]
                } else {
                    &[own[0], own[2], own[3]]
                };
                self.level_rows.write(out, own, scratch);
                rows += 1;
            }
        }
        if rows == 0 {
            self.level_rows.write(out, &[Cell::Empty; 4], scratch);
            rows = 1;
        }
        self.files.commit(group, start);
        self.count(kind, rows);
    }

    /// A websocket text frame, bare or in the combined-stream wrapper.
    pub fn frame(&mut self, rec: &Record<'a>) -> Result<(), Bad> {
        let buf = rec.payload;
        let mut sc = Scanner::new(buf);
        if sc.peek_token() != Some(b'{') {
            let valid = sc.value(1).is_ok() && sc.finish().is_ok();
            return Err(bad(
                "frame",
                if valid {
                    "not a JSON object"
                } else {
                    INVALID_JSON
                },
            ));
        }
        let mut top = Slots::<22>::new();
        let mut inner = Slots::<22>::new();
        let mut data: Option<bool> = None;
        let mut control = false;
        self.pairs.clear();
        let pairs = &mut self.pairs;
        sc.object(1, |sc, name| {
            if same(name, b"data") {
                if sc.peek_token() == Some(b'{') {
                    sc.object_into(2, &EVENT, &mut inner, pairs)?;
                    data = Some(true);
                } else {
                    sc.value(2)?;
                    data = Some(false);
                }
                return Ok(());
            }
            if let Some(i) = EVENT.find(name) {
                top.vals[i] = Some(sc.member(2, pairs)?);
            } else {
                sc.value(2)?;
                control |= same(name, b"result") || same(name, b"error") || same(name, b"id");
            }
            Ok(())
        })
        .and_then(|()| sc.finish())
        .map_err(|Invalid| bad("frame", INVALID_JSON))?;
        let slots = match data {
            Some(true) => &inner,
            Some(false) => return Err(bad("frame", "\"data\" is not an object")),
            None => &top,
        };
        let e = match slots.vals[EV_TYPE] {
            Some(Val::Str(s)) => s,
            Some(_) => return Err(bad("frame", "event type \"e\" is not a string")),
            None if control => return Err(bad("control", "control frame (result/error reply)")),
            None => return Err(bad("frame", "no event type \"e\"")),
        };
        let mut name = Vec::new();
        let event: &[u8] = if e.escaped {
            decode_str(e.raw, &mut name);
            &name
        } else {
            e.raw
        };
        let kind = match event {
            b"aggTrade" => FileKind::AggTrade,
            b"depthUpdate" => FileKind::Depth,
            b"kline" => FileKind::Kline,
            b"trade" => FileKind::Trade,
            b"bookTicker" => FileKind::BookTicker,
            b"markPriceUpdate" => FileKind::MarkPrice,
            _ => return Err(unknown_event(event)),
        };
        let f = Fields {
            slots,
            keys: &EVENT,
            prefix: "",
            kind: kind.name(),
        };
        let lt = Cell::Int(rec.local_time_us);
        let none = Cow::Borrowed(&b""[..]);
        match kind {
            FileKind::AggTrade => {
                let (time, day) = f.time(EV_TIME)?;
                let sym = f.symbol(EV_S)?;
                let row = [
                    lt,
                    Cell::Raw(time),
                    Cell::Raw(&sym),
                    Cell::Raw(f.int(EV_A)?),
                    Cell::Text(f.string(EV_P)?),
                    Cell::Text(f.string(EV_Q)?),
                    Cell::Raw(f.int(EV_F)?),
                    Cell::Raw(f.int(EV_L)?),
                    Cell::Raw(f.int(EV_T)?),
                    Cell::Bool(f.boolean(EV_M)?),
                ];
                self.emit(kind, sym.clone(), none, day, &row);
            }
            FileKind::Depth => {
                let (time, day) = f.time(EV_TIME)?;
                let t = f.int(EV_T)?;
                let sym = f.symbol(EV_S)?;
                let first = f.int(EV_UU)?;
                let last = f.int(EV_U)?;
                let prev = f.int(EV_PU)?;
                let levels = [f.levels(EV_B)?, f.levels(EV_A)?];
                let shared = [
                    lt,
                    Cell::Raw(time),
                    Cell::Raw(t),
                    Cell::Raw(&sym),
                    Cell::Raw(first),
                    Cell::Raw(last),
                    Cell::Raw(prev),
                ];
                self.emit_levels(kind, sym.clone(), day, &shared, false, levels);
            }
            FileKind::Kline => {
                let (time, day) = f.time(EV_TIME)?;
                let sym = f.symbol(EV_S)?;
                let start = match f.get(EV_K)? {
                    Val::Obj(start) => start,
                    _ => return Err(f.fail(EV_K, "is not an object")),
                };
                let mut kslots = Slots::<15>::new();
                Scanner::at(buf, start)
                    .object_into(1, &KLINE, &mut kslots, &mut Vec::new())
                    .map_err(|Invalid| bad("kline", INVALID_JSON))?;
                let k = Fields {
                    slots: &kslots,
                    keys: &KLINE,
                    prefix: "k.",
                    kind: "kline",
                };
                let interval = k.name(0, valid_interval, "is not a valid interval")?;
                let mut row = [Cell::Empty; 18];
                row[0] = lt;
                row[1] = Cell::Raw(time);
                row[2] = Cell::Raw(&sym);
                row[3] = Cell::Raw(&interval);
                // k.t, k.T, k.f, k.L: integers; o h l c v: strings; n: integer;
                // x: boolean; q V Q: strings. Cells 4.. follow KLINE[1..].
                for (cell, i) in row[4..].iter_mut().zip(1..) {
                    *cell = match KLINE.names[i] {
                        "o" | "h" | "l" | "c" | "v" | "q" | "V" | "Q" => Cell::Text(k.string(i)?),
                        "x" => Cell::Bool(k.boolean(i)?),
                        _ => Cell::Raw(k.int(i)?),
                    };
                }
                let closed = matches!(row[14], Cell::Bool(true));
                if closed || self.keep_all_klines {
                    self.emit(kind, sym.clone(), interval.clone(), day, &row);
                }
            }
            FileKind::Trade => {
                let (time, day) = f.time(EV_TIME)?;
                let t = f.int(EV_T)?;
                let sym = f.symbol(EV_S)?;
                let row = [
                    lt,
                    Cell::Raw(time),
                    Cell::Raw(t),
                    Cell::Raw(&sym),
                    Cell::Raw(f.int(EV_TL)?),
                    Cell::Text(f.string(EV_P)?),
                    Cell::Text(f.string(EV_Q)?),
                    Cell::Bool(f.boolean(EV_M)?),
                    f.opt_string(EV_X)?.map_or(Cell::Empty, Cell::Text),
                    Cell::Empty,
                ];
                self.emit(kind, sym.clone(), none, day, &row[..9]);
            }
            FileKind::BookTicker => {
                let (time, day) = f.time(EV_TIME)?;
                let t = f.int(EV_T)?;
                let sym = f.symbol(EV_S)?;
                let row = [
                    lt,
                    Cell::Raw(time),
                    Cell::Raw(t),
                    Cell::Raw(&sym),
                    Cell::Raw(f.int(EV_U)?),
                    Cell::Text(f.string(EV_B)?),
                    Cell::Text(f.string(EV_BB)?),
                    Cell::Text(f.string(EV_A)?),
                    Cell::Text(f.string(EV_AA)?),
                    Cell::Empty,
                ];
                self.emit(kind, sym.clone(), none, day, &row[..9]);
            }
            FileKind::MarkPrice => {
                let (time, day) = f.time(EV_TIME)?;
                let sym = f.symbol(EV_S)?;
                let row = [
                    lt,
                    Cell::Raw(time),
                    Cell::Raw(&sym),
                    Cell::Text(f.string(EV_P)?),
                    Cell::Text(f.string(EV_I)?),
                    Cell::Text(f.string(EV_PP)?),
                    Cell::Text(f.string(EV_R)?),
                    Cell::Raw(f.int(EV_T)?),
                    Cell::Empty,
                    Cell::Empty,
                ];
                self.emit(kind, sym.clone(), none, day, &row[..8]);
            }
            FileKind::Snapshot | FileKind::OrderBook | FileKind::Gaps => {
                unreachable!("not an event type")
            }
        }
        Ok(())
    }

    /// A REST `/fapi/v1/depth` body fetched for `symbol`.
    pub fn snapshot(&mut self, rec: &Record<'a>, symbol: &'a str) -> Result<(), Bad> {
        let kind = FileKind::Snapshot;
        let mut slots = Slots::<5>::new();
        self.pairs.clear();
        parse_object(
            rec.payload,
            &SNAPSHOT,
            &mut slots,
            &mut self.pairs,
            kind.name(),
        )?;
        let f = Fields {
            slots: &slots,
            keys: &SNAPSHOT,
            prefix: "",
            kind: kind.name(),
        };
        let time = f.opt_time(0)?;
        let day = match time {
            Some((_, day)) => day,
            None => local_day(rec.local_time_us, kind.name())?,
        };
        let t = f.opt_int(1)?;
        let last = f.int(2)?;
        let levels = [f.levels(3)?, f.levels(4)?];
        let shared = [
            Cell::Int(rec.local_time_us),
            time.map_or(Cell::Empty, |(t, _)| Cell::Raw(t)),
            t.map_or(Cell::Empty, Cell::Raw),
            Cell::Raw(symbol.as_bytes()),
            Cell::Raw(last),
        ];
        self.emit_levels(
            kind,
            Cow::Borrowed(symbol.as_bytes()),
            day,
            &shared,
            false,
            levels,
        );
        Ok(())
    }

    /// A gap the worker recorded for `symbol`.
    pub fn gap(&mut self, rec: &Record<'a>, symbol: &'a str) -> Result<(), Bad> {
        let kind = FileKind::Gaps;
        let mut slots = Slots::<5>::new();
        parse_object(rec.payload, &GAP, &mut slots, &mut Vec::new(), kind.name())?;
        let f = Fields {
            slots: &slots,
            keys: &GAP,
            prefix: "",
            kind: kind.name(),
        };
        let day = local_day(rec.local_time_us, kind.name())?;
        let mut row = [Cell::Empty; 7];
        row[0] = Cell::Int(rec.local_time_us);
        row[1] = Cell::Raw(symbol.as_bytes());
        row[2] = Cell::Text(f.string(0)?);
        row[3] = Cell::Text(f.string(1)?);
        row[4] = f.opt_int(2)?.map_or(Cell::Empty, Cell::Raw);
        row[5] = f.opt_int(3)?.map_or(Cell::Empty, Cell::Raw);
        row[6] = f.opt_string(4)?.map_or(Cell::Empty, Cell::Text);
        let sym = Cow::Borrowed(symbol.as_bytes());
        self.emit(kind, sym, Cow::Borrowed(b""), day, &row);
        Ok(())
    }

    /// Top-N book levels the order-book manager sampled for `symbol`.
    pub fn orderbook(&mut self, rec: &Record<'a>, symbol: &'a str) -> Result<(), Bad> {
        let kind = FileKind::OrderBook;
        let mut slots = Slots::<3>::new();
        self.pairs.clear();
        parse_object(rec.payload, &BOOK, &mut slots, &mut self.pairs, kind.name())?;
        let f = Fields {
            slots: &slots,
            keys: &BOOK,
            prefix: "",
            kind: kind.name(),
        };
        let day = local_day(rec.local_time_us, kind.name())?;
        let last = f.int(0)?;
        let levels = [f.levels(1)?, f.levels(2)?];
        let shared = [
            Cell::Int(rec.local_time_us),
            Cell::Raw(symbol.as_bytes()),
            Cell::Raw(last),
        ];
        self.emit_levels(
            kind,
            Cow::Borrowed(symbol.as_bytes()),
            day,
            &shared,
            true,
            levels,
        );
        Ok(())
    }
}

/// Names the event type in the reason when it is short and printable.
fn unknown_event(event: &[u8]) -> Bad {
    let plain = !event.is_empty()
        && event.len() <= 40
        && event
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'@' | b'.' | b'-'));
    let reason = if plain {
        format!("unknown event type \"{}\"", String::from_utf8_lossy(event))
    } else {
        "unknown event type".to_string()
    };
    bad("unknown", reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_range() {
        assert_eq!(time_ms(b"0"), Some(0));
        assert_eq!(time_ms(b"-0"), Some(0));
        assert_eq!(time_ms(b"-1"), None);
        assert_eq!(time_ms(b"1760000000123"), Some(1_760_000_000_123));
        assert_eq!(time_ms(b"253402300799999"), Some(253_402_300_799_999));
        assert_eq!(time_ms(b"253402300800000"), None);
        assert_eq!(time_ms(b"99999999999999999999"), None);
    }

    #[test]
    fn local_days() {
        assert_eq!(local_day(86_400_000_000, "gaps"), Ok(1));
        assert_eq!(local_day(86_399_999_999, "gaps"), Ok(0));
        assert!(local_day(-1, "gaps").is_err());
    }

    #[test]
    fn unknown_events_are_named_only_when_plain() {
        assert_eq!(
            unknown_event(b"forceOrder").reason,
            "unknown event type \"forceOrder\""
        );
        assert_eq!(unknown_event(b"a b").reason, "unknown event type");
        assert_eq!(unknown_event(&[b'x'; 41]).reason, "unknown event type");
    }
}
