//! Record payloads to rows: one encoder per file kind.
//!
//! Each encoder checks every field it needs, in the file's canonical column
//! order, before it writes a row, so a record is written whole or not at
//! all, and the first failing check names the reason. The fallback checks
//! in the same order with the same words (the parity tests hold both to it).

use std::borrow::Cow;
use std::ops::Range;

use super::out::{write_row, Cell, Files, LevelRows};
use super::scan::{KeySet, Pair, Scanner, Slots, Val};
use super::schema::{schema, valid_interval, valid_symbol, FileKind, MAX_TIME_MS};
use crate::json::{decode_str, same, Invalid, JStr, Value};

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
/// The interval part of the file key, for every kind but kline.
const NO_INTERVAL: Cow<'static, [u8]> = Cow::Borrowed(b"");
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

impl<'s, 'a, const N: usize> Fields<'s, 'a, N> {
    /// The members of a whole payload of `kind`, as `keys` names them.
    fn new(slots: &'s Slots<'a, N>, keys: &'static KeySet<N>, kind: &'static str) -> Self {
        Fields {
            slots,
            keys,
            prefix: "",
            kind,
        }
    }

    fn fail(&self, i: usize, what: &str) -> Bad {
        bad(
            self.kind,
            format!("field \"{}{}\" {what}", self.prefix, self.keys.names[i]),
        )
    }

    fn get(&self, i: usize) -> Result<Val<'a>, Bad> {
        self.slots.vals[i].ok_or_else(|| self.fail(i, "missing"))
    }

    /// The member's value, or why not: missing, or not `what`. The value is
    /// matched in place (a copy of the whole slot cost store-forwarding stalls).
    #[inline]
    fn typed<T>(
        &self,
        i: usize,
        what: &str,
        pick: impl Fn(&Val<'a>) -> Option<T>,
    ) -> Result<T, Bad> {
        match &self.slots.vals[i] {
            Some(v) => pick(v).ok_or_else(|| self.fail(i, what)),
            None => Err(self.fail(i, "missing")),
        }
    }

    /// Like [`Fields::typed`], but absent or null gives `None`.
    #[inline]
    fn optional<T>(
        &self,
        i: usize,
        what: &str,
        pick: impl Fn(&Val<'a>) -> Option<T>,
    ) -> Result<Option<T>, Bad> {
        match &self.slots.vals[i] {
            None | Some(Val::Json(Value::Null)) => Ok(None),
            Some(v) => pick(v).map(Some).ok_or_else(|| self.fail(i, what)),
        }
    }

    fn int(&self, i: usize) -> Result<&'a [u8], Bad> {
        self.typed(i, "is not an integer", as_int)
    }

    fn opt_int(&self, i: usize) -> Result<Option<&'a [u8]>, Bad> {
        self.optional(i, "is not an integer", as_int)
    }

    fn string(&self, i: usize) -> Result<JStr<'a>, Bad> {
        self.typed(i, "is not a string", as_str)
    }

    fn opt_string(&self, i: usize) -> Result<Option<JStr<'a>>, Bad> {
        self.optional(i, "is not a string", as_str)
    }

    fn boolean(&self, i: usize) -> Result<bool, Bad> {
        self.typed(i, "is not a boolean", |v| match v {
            Val::Json(Value::Bool(b)) => Some(*b),
            _ => None,
        })
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
            None | Some(Val::Json(Value::Null)) => Ok(None),
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

fn as_int<'a>(v: &Val<'a>) -> Option<&'a [u8]> {
    match v {
        Val::Json(Value::Int(t)) => Some(t),
        _ => None,
    }
}

fn as_str<'a>(v: &Val<'a>) -> Option<JStr<'a>> {
    match v {
        Val::Json(Value::Str(s)) => Some(*s),
        _ => None,
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

/// The file kind of an event payload whose `e` is a string.
fn event_kind(slots: &Slots<'_, 22>) -> Result<FileKind, Bad> {
    let Some(Val::Json(Value::Str(e))) = slots.vals[EV_TYPE] else {
        unreachable!("scan_frame checked e");
    };
    let mut decoded = Vec::new();
    let event: &[u8] = if e.escaped {
        decode_str(e.raw, &mut decoded);
        &decoded
    } else {
        e.raw
    };
    Ok(match event {
        b"aggTrade" => FileKind::AggTrade,
        b"depthUpdate" => FileKind::Depth,
        b"kline" => FileKind::Kline,
        b"trade" => FileKind::Trade,
        b"bookTicker" => FileKind::BookTicker,
        b"markPriceUpdate" => FileKind::MarkPrice,
        _ => return Err(unknown_event(event)),
    })
}

/// Why a payload that does not start with `{` is refused.
fn not_an_object(mut sc: Scanner<'_>, kind: &'static str) -> Bad {
    let json = sc.skip(1).is_ok() && sc.end().is_ok();
    bad(
        kind,
        if json {
            "not a JSON object"
        } else {
            INVALID_JSON
        },
    )
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
        return Err(not_an_object(sc, kind));
    }
    sc.object_into(1, keys, slots, pairs)
        .and_then(|()| sc.end())
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
    /// record's pairs): the `shared` cells, then side, (level number when
    /// `numbered`), price, quantity. No levels at all still gives one row
    /// with those cells empty, so the update id reaches the file.
    fn emit_levels(
        &mut self,
        kind: FileKind,
        symbol: Cow<'a, [u8]>,
        day: u32,
        shared: &[Cell<'_>],
        numbered: bool,
        [bids, asks]: [Range<usize>; 2],
    ) {
        let group = self.files.group(kind, symbol, NO_INTERVAL, day);
        let start = self.files.arena.len();
        let (out, scratch) = (&mut self.files.arena, &mut self.files.scratch);
        let order = schema().order(kind);
        // The side is rendered with the shared cells: rows differ only by level.
        let mut head = [Cell::Empty; 8];
        let n = shared.len();
        head[..n].copy_from_slice(shared);
        let mut rows = 0;
        for (side, levels) in [("bid", bids), ("ask", asks)] {
            if levels.is_empty() {
                continue;
            }
            head[n] = Cell::Lit(side);
            self.level_rows.prepare(&head[..=n], order, scratch);
            for (level, &(price, qty)) in (1..).zip(&self.pairs[levels]) {
                let own = [Cell::Int(level), Cell::Text(price), Cell::Text(qty)];
                let own = if numbered { &own[..] } else { &own[1..] };
                self.level_rows.write(out, own, scratch);
                rows += 1;
            }
        }
        if rows == 0 {
            self.level_rows.prepare(shared, order, scratch);
            self.level_rows.write(out, &[Cell::Empty; 4], scratch);
            rows = 1;
        }
        self.files.commit(group, start);
        self.count(kind, rows);
    }

    /// A websocket text frame, bare or in the combined-stream wrapper.
    pub fn frame(&mut self, rec: &Record<'a>) -> Result<(), Bad> {
        let mut top = Slots::new();
        let mut inner = Slots::new();
        let slots = self.scan_frame(rec.payload, &mut top, &mut inner)?;
        let kind = event_kind(slots)?;
        let f = Fields::new(slots, &EVENT, kind.name());
        let lt = Cell::Int(rec.local_time_us);
        match kind {
            FileKind::AggTrade => self.agg_trade(&f, lt),
            FileKind::Depth => self.depth(&f, lt),
            FileKind::Kline => self.kline(&f, lt, rec.payload),
            FileKind::Trade => self.trade(&f, lt),
            FileKind::BookTicker => self.book_ticker(&f, lt),
            FileKind::MarkPrice => self.mark_price(&f, lt),
            FileKind::Snapshot | FileKind::OrderBook | FileKind::Gaps => {
                unreachable!("event_kind gives stream kinds only")
            }
        }
    }

    /// Scans a frame: the members of the event payload (`data` of the
    /// combined-stream wrapper, else the frame itself) end up in the
    /// returned slots, its book levels in `self.pairs`.
    fn scan_frame<'s>(
        &mut self,
        buf: &'a [u8],
        top: &'s mut Slots<'a, 22>,
        inner: &'s mut Slots<'a, 22>,
    ) -> Result<&'s Slots<'a, 22>, Bad> {
        let mut sc = Scanner::new(buf);
        if sc.peek_token() != Some(b'{') {
            return Err(not_an_object(sc, "frame"));
        }
        let mut data: Option<bool> = None;
        let mut control = false;
        self.pairs.clear();
        let pairs = &mut self.pairs;
        sc.object(|sc, name| {
            if same(name, b"data") {
                data = Some(sc.peek_token() == Some(b'{'));
                if data == Some(true) {
                    sc.object_into(2, &EVENT, inner, pairs)?;
                } else {
                    sc.skip(2)?;
                }
            } else if let Some(i) = EVENT.find(name) {
                top.vals[i] = Some(sc.member(2, pairs)?);
            } else {
                sc.skip(2)?;
                control |= same(name, b"result") || same(name, b"error") || same(name, b"id");
            }
            Ok(())
        })
        .and_then(|()| sc.end())
        .map_err(|Invalid| bad("frame", INVALID_JSON))?;
        let slots = match data {
            Some(true) => inner,
            Some(false) => return Err(bad("frame", "\"data\" is not an object")),
            None => top,
        };
        match slots.vals[EV_TYPE] {
            Some(Val::Json(Value::Str(_))) => Ok(slots),
            Some(_) => Err(bad("frame", "event type \"e\" is not a string")),
            None if control => Err(bad("control", "control frame (result/error reply)")),
            None => Err(bad("frame", "no event type \"e\"")),
        }
    }

    fn agg_trade(&mut self, f: &Fields<'_, 'a, 22>, lt: Cell<'_>) -> Result<(), Bad> {
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
        self.emit(FileKind::AggTrade, sym.clone(), NO_INTERVAL, day, &row);
        Ok(())
    }

    fn depth(&mut self, f: &Fields<'_, 'a, 22>, lt: Cell<'_>) -> Result<(), Bad> {
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
        self.emit_levels(FileKind::Depth, sym.clone(), day, &shared, false, levels);
        Ok(())
    }

    /// `buf` is the frame: the candle object `k` is walked again from there.
    fn kline(&mut self, f: &Fields<'_, 'a, 22>, lt: Cell<'_>, buf: &'a [u8]) -> Result<(), Bad> {
        let (time, day) = f.time(EV_TIME)?;
        let sym = f.symbol(EV_S)?;
        let Val::Json(Value::Obj(start)) = f.get(EV_K)? else {
            return Err(f.fail(EV_K, "is not an object"));
        };
        let mut slots = Slots::new();
        Scanner::at(buf, start)
            .object_into(1, &KLINE, &mut slots, &mut Vec::new())
            .map_err(|Invalid| bad("kline", INVALID_JSON))?;
        let k = Fields {
            prefix: "k.",
            ..Fields::new(&slots, &KLINE, "kline")
        };
        let interval = k.name(0, valid_interval, "is not a valid interval")?;
        let mut row = [Cell::Empty; 18];
        row[..4].copy_from_slice(&[lt, Cell::Raw(time), Cell::Raw(&sym), Cell::Raw(&interval)]);
        // Cells 4.. take KLINE's members 1.. in order (t T f L o h l c v n x q V Q).
        for (cell, i) in row[4..].iter_mut().zip(1..) {
            *cell = match KLINE.names[i] {
                "o" | "h" | "l" | "c" | "v" | "q" | "V" | "Q" => Cell::Text(k.string(i)?),
                "x" => Cell::Bool(k.boolean(i)?),
                _ => Cell::Raw(k.int(i)?),
            };
        }
        let closed = matches!(row[14], Cell::Bool(true));
        if closed || self.keep_all_klines {
            self.emit(FileKind::Kline, sym.clone(), interval.clone(), day, &row);
        }
        Ok(())
    }

    fn trade(&mut self, f: &Fields<'_, 'a, 22>, lt: Cell<'_>) -> Result<(), Bad> {
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
        ];
        self.emit(FileKind::Trade, sym.clone(), NO_INTERVAL, day, &row);
        Ok(())
    }

    fn book_ticker(&mut self, f: &Fields<'_, 'a, 22>, lt: Cell<'_>) -> Result<(), Bad> {
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
        ];
        self.emit(FileKind::BookTicker, sym.clone(), NO_INTERVAL, day, &row);
        Ok(())
    }

    fn mark_price(&mut self, f: &Fields<'_, 'a, 22>, lt: Cell<'_>) -> Result<(), Bad> {
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
        ];
        self.emit(FileKind::MarkPrice, sym.clone(), NO_INTERVAL, day, &row);
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
        let f = Fields::new(&slots, &SNAPSHOT, kind.name());
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
        let f = Fields::new(&slots, &GAP, kind.name());
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
        self.emit(kind, sym, NO_INTERVAL, day, &row);
        Ok(())
    }

    /// Top-N book levels the order-book manager sampled for `symbol`.
    pub fn orderbook(&mut self, rec: &Record<'a>, symbol: &'a str) -> Result<(), Bad> {
        let kind = FileKind::OrderBook;
        let mut slots = Slots::<3>::new();
        self.pairs.clear();
        parse_object(rec.payload, &BOOK, &mut slots, &mut self.pairs, kind.name())?;
        let f = Fields::new(&slots, &BOOK, kind.name());
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
