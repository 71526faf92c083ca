//! Where rows go: one growing byte buffer per output file, and the RFC 4180
//! cell writer.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Range;

use super::json::{decode_str, same, JStr};
use super::schema::{day_string, file_name, FileKind};

/// One CSV cell, borrowed from the frame where possible.
#[derive(Debug, Clone, Copy)]
pub enum Cell<'c> {
    /// Bytes that never need quoting (integer literals, checked symbols).
    Raw(&'c [u8]),
    /// A JSON string: decoded, then quoted if it holds `,` `"` CR or LF.
    Text(JStr<'c>),
    Int(i64),
    Bool(bool),
    Lit(&'static str),
    Empty,
}

/// Appends one row: the cells at `order` (encoder index per file column).
pub fn write_row(out: &mut Vec<u8>, cells: &[Cell<'_>], order: &[usize], scratch: &mut Vec<u8>) {
    for (n, &i) in order.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        write_cell(out, cells[i], scratch);
    }
    out.push(b'\n');
}

#[inline]
fn write_cell(out: &mut Vec<u8>, cell: Cell<'_>, scratch: &mut Vec<u8>) {
    match cell {
        Cell::Raw(b) => put(out, b),
        Cell::Text(s) => write_text(out, s, scratch),
        Cell::Int(v) => write_int(out, v),
        Cell::Bool(true) => out.extend_from_slice(b"true"),
        Cell::Bool(false) => out.extend_from_slice(b"false"),
        Cell::Lit(s) => put(out, s.as_bytes()),
        Cell::Empty => {}
    }
}

/// Appends a short piece; a one-byte piece skips the `memcpy` call.
#[inline]
fn put(out: &mut Vec<u8>, b: &[u8]) {
    if let [c] = b {
        out.push(*c);
    } else {
        out.extend_from_slice(b);
    }
}

/// Rows of one record that differ only in their last cells (one row per
/// book level): the shared cells are rendered once, and each row copies
/// that text around its own cells.
#[derive(Default)]
pub struct LevelRows {
    text: Vec<u8>,
    /// (offset in `text`, cell index) where a per-row cell goes.
    cuts: Vec<(usize, usize)>,
}

impl LevelRows {
    /// Renders `shared` (cells `0..shared.len()`); higher cell indices vary per row.
    pub fn prepare(&mut self, shared: &[Cell<'_>], order: &[usize], scratch: &mut Vec<u8>) {
        self.text.clear();
        self.cuts.clear();
        for (n, &i) in order.iter().enumerate() {
            if n > 0 {
                self.text.push(b',');
            }
            match shared.get(i) {
                Some(&cell) => write_cell(&mut self.text, cell, scratch),
                None => self.cuts.push((self.text.len(), i - shared.len())),
            }
        }
        self.text.push(b'\n');
    }

    /// Appends one row; `own[k]` is cell `shared.len() + k`.
    pub fn write(&self, out: &mut Vec<u8>, own: &[Cell<'_>], scratch: &mut Vec<u8>) {
        let mut done = 0;
        for &(at, k) in &self.cuts {
            put(out, &self.text[done..at]);
            write_cell(out, own[k], scratch);
            done = at;
        }
        put(out, &self.text[done..]);
    }
}

fn write_text(out: &mut Vec<u8>, s: JStr<'_>, scratch: &mut Vec<u8>) {
    let text = if s.escaped {
        scratch.clear();
        decode_str(s.raw, scratch);
        &scratch[..]
    } else {
        // Unescaped JSON text holds no quote, CR or LF: only a comma forces quoting.
        if !s.raw.contains(&b',') {
            put(out, s.raw);
            return;
        }
        s.raw
    };
    if text
        .iter()
        .any(|&b| matches!(b, b',' | b'"' | b'\r' | b'\n'))
    {
        out.push(b'"');
        for &b in text {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(text);
    }
}

fn write_int(out: &mut Vec<u8>, v: i64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut u = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if v < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[i..]);
}

/// A multiply-rotate hash: group keys are short byte strings looked up once
/// per record, where SipHash would cost more than the lookup is worth.
#[derive(Default)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(w));
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }

    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }

    fn write_u8(&mut self, v: u8) {
        self.write_u64(u64::from(v));
    }

    fn finish(&self) -> u64 {
        // The multiply leaves the low bits (the table index) poorly mixed: fold the high ones in.
        let h = (self.0 ^ (self.0 >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^ (h >> 33)
    }
}

#[derive(Debug, Clone, Eq, Hash)]
struct GroupKey<'a> {
    kind: FileKind,
    symbol: Cow<'a, [u8]>,
    interval: Cow<'a, [u8]>,
    day: u32,
}

impl PartialEq for GroupKey<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.day == other.day
            && same(&self.symbol, &other.symbol)
            && same(&self.interval, &other.interval)
    }
}

/// One output file: where its rows sit in the batch's arena.
#[derive(Debug)]
pub struct Group {
    pub path: String,
    pub kind: FileKind,
    /// Ranges of the arena holding the file's rows, in order.
    pub chunks: Vec<Range<usize>>,
    /// Total bytes of `chunks`.
    pub len: usize,
}

/// The files of one batch, in the order they first received a row. Rows of
/// every file go into one arena in input order (a file's rows are a list of
/// ranges): one buffer that the caller can keep between batches, instead of
/// a growing buffer per file.
#[derive(Default)]
pub struct Files<'a> {
    pub groups: Vec<Group>,
    index: HashMap<GroupKey<'a>, usize, BuildHasherDefault<FxHasher>>,
    pub arena: Vec<u8>,
    /// Decoding buffer for escaped strings, lent to the row writers.
    pub scratch: Vec<u8>,
}

impl<'a> Files<'a> {
    /// Rows go into `arena` (emptied first; its capacity is reused).
    pub fn with_arena(mut arena: Vec<u8>) -> Self {
        arena.clear();
        Files {
            arena,
            ..Files::default()
        }
    }

    /// The group of file (`kind`, `symbol`, `interval`, `day`), created on
    /// first use. `symbol` and `interval` are already checked.
    pub fn group(
        &mut self,
        kind: FileKind,
        symbol: Cow<'a, [u8]>,
        interval: Cow<'a, [u8]>,
        day: u32,
    ) -> usize {
        let key = GroupKey {
            kind,
            symbol,
            interval,
            day,
        };
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let symbol = text(&key.symbol);
        let day = day_string(day);
        let day = std::str::from_utf8(&day).expect("digits");
        let name = file_name(kind, &symbol, day, &text(&key.interval));
        self.groups.push(Group {
            path: format!("{symbol}/{name}"),
            kind,
            chunks: Vec::new(),
            len: 0,
        });
        self.index.insert(key, self.groups.len() - 1);
        self.groups.len() - 1
    }

    /// Assigns the arena bytes written since `start` to `group`.
    pub fn commit(&mut self, group: usize, start: usize) {
        let end = self.arena.len();
        let g = &mut self.groups[group];
        g.len += end - start;
        match g.chunks.last_mut() {
            Some(last) if last.end == start => last.end = end,
            _ => g.chunks.push(start..end),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[Cell<'_>]) -> String {
        let mut out = Vec::new();
        let order: Vec<usize> = (0..cells.len()).collect();
        write_row(&mut out, cells, &order, &mut Vec::new());
        String::from_utf8(out).unwrap()
    }

    fn js(raw: &str, escaped: bool) -> Cell<'_> {
        Cell::Text(JStr {
            raw: raw.as_bytes(),
            escaped,
        })
    }

    #[test]
    fn cells_follow_rfc4180() {
        assert_eq!(
            row(&[
                Cell::Int(-5),
                Cell::Int(i64::MIN),
                Cell::Raw(b"12"),
                Cell::Bool(true),
                Cell::Empty,
                Cell::Lit("bid")
            ]),
            "-5,-9223372036854775808,12,true,,bid\n"
        );
        assert_eq!(row(&[js("1.5", false), js("a,b", false)]), "1.5,\"a,b\"\n");
        assert_eq!(
            row(&[
                js(r#"say \"hi\""#, true),
                js(r"a\r\nb", true),
                js(r"\u00e9", true)
            ]),
            "\"say \"\"hi\"\"\",\"a\r\nb\",é\n"
        );
    }

    #[test]
    fn columns_follow_the_order() {
        let mut out = Vec::new();
        write_row(
            &mut out,
            &[Cell::Lit("a"), Cell::Lit("b"), Cell::Lit("c")],
            &[2, 0, 1],
            &mut Vec::new(),
        );
        assert_eq!(out, b"c,a,b\n");
    }

    #[test]
    fn level_rows_share_the_rendered_cells() {
        let mut lr = LevelRows::default();
        let mut scratch = Vec::new();
        let shared = [Cell::Lit("a"), Cell::Int(7)];
        // file order: own 1, shared 0, own 0, shared 1
        lr.prepare(&shared, &[3, 0, 2, 1], &mut scratch);
        let mut out = Vec::new();
        lr.write(&mut out, &[Cell::Lit("x"), Cell::Lit("y")], &mut scratch);
        lr.write(&mut out, &[Cell::Empty, Cell::Empty], &mut scratch);
        assert_eq!(out, b"y,a,x,7\n,a,,7\n");
    }

    #[test]
    fn files_are_grouped_in_first_appearance_order() {
        let mut files = Files::with_arena(b"old".to_vec());
        let b = |s: &'static str| Cow::Borrowed(s.as_bytes());
        let add = |files: &mut Files<'_>, g: usize, text: &[u8]| {
            let start = files.arena.len();
            files.arena.extend_from_slice(text);
            files.commit(g, start);
        };
        let depth = files.group(FileKind::Depth, b("ETHUSDT"), b(""), 19_943);
        add(&mut files, depth, b"1");
        add(&mut files, depth, b"2");
        let kline = files.group(FileKind::Kline, b("ETHUSDT"), b("1m"), 19_943);
        add(&mut files, kline, b"3");
        let again = files.group(
            FileKind::Depth,
            Cow::Owned(b"ETHUSDT".to_vec()),
            b(""),
            19_943,
        );
        assert_eq!(again, depth);
        add(&mut files, depth, b"4");
        let snap = files.group(FileKind::Snapshot, b("ETHUSDT"), b(""), 19_944);
        add(&mut files, snap, b"5");
        type Summary<'s> = (&'s str, Vec<(usize, usize)>, usize);
        let got: Vec<Summary<'_>> = files
            .groups
            .iter()
            .map(|g| {
                let chunks = g.chunks.iter().map(|r| (r.start, r.end)).collect();
                (g.path.as_str(), chunks, g.len)
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "ETHUSDT/depth_ETHUSDT_20240808.csv",
                    vec![(0, 2), (3, 4)],
                    3
                ),
                ("ETHUSDT/kline_1m_ETHUSDT_20240808.csv", vec![(2, 3)], 1),
                (
                    "ETHUSDT/ETHUSDT_depth_snapshot_20240809.csv",
                    vec![(4, 5)],
                    1
                ),
            ]
        );
        assert_eq!(files.arena, b"12345");
    }
}
