//! Where rows go: one growing byte buffer per output file, and the RFC 4180
//! cell writer.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::json::{decode_str, JStr};
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
        match cells[i] {
            Cell::Raw(b) => out.extend_from_slice(b),
            Cell::Text(s) => write_text(out, s, scratch),
            Cell::Int(v) => write_int(out, v),
            Cell::Bool(true) => out.extend_from_slice(b"true"),
            Cell::Bool(false) => out.extend_from_slice(b"false"),
            Cell::Lit(s) => out.extend_from_slice(s.as_bytes()),
            Cell::Empty => {}
        }
    }
    out.push(b'\n');
}

fn write_text(out: &mut Vec<u8>, s: JStr<'_>, scratch: &mut Vec<u8>) {
    let text = if s.escaped {
        scratch.clear();
        decode_str(s.raw, scratch);
        &scratch[..]
    } else {
        // Unescaped JSON text holds no quote, CR or LF: only a comma forces quoting.
        if !s.raw.contains(&b',') {
            out.extend_from_slice(s.raw);
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
        self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct GroupKey<'a> {
    kind: FileKind,
    symbol: Cow<'a, [u8]>,
    interval: Cow<'a, [u8]>,
    day: u32,
}

/// One output file's rows so far.
#[derive(Debug)]
pub struct Group {
    pub path: String,
    pub kind: FileKind,
    pub data: Vec<u8>,
}

/// The files of one batch, in the order they first received a row.
#[derive(Default)]
pub struct Files<'a> {
    pub groups: Vec<Group>,
    index: HashMap<GroupKey<'a>, usize, BuildHasherDefault<FxHasher>>,
    /// Decoding buffer for escaped strings, lent to [`write_row`].
    pub scratch: Vec<u8>,
}

impl<'a> Files<'a> {
    /// The buffer of file (`kind`, `symbol`, `interval`, `day`) and the
    /// scratch buffer. `symbol` and `interval` are already checked.
    pub fn open(
        &mut self,
        kind: FileKind,
        symbol: Cow<'a, [u8]>,
        interval: Cow<'a, [u8]>,
        day: u32,
    ) -> (&mut Vec<u8>, &mut Vec<u8>) {
        let key = GroupKey {
            kind,
            symbol,
            interval,
            day,
        };
        let i = match self.index.get(&key) {
            Some(&i) => i,
            None => {
                let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                let symbol = text(&key.symbol);
                let day = day_string(day);
                let day = std::str::from_utf8(&day).expect("digits");
                let name = file_name(kind, &symbol, day, &text(&key.interval));
                self.groups.push(Group {
                    path: format!("{symbol}/{name}"),
                    kind,
                    data: Vec::new(),
                });
                self.index.insert(key, self.groups.len() - 1);
                self.groups.len() - 1
            }
        };
        (&mut self.groups[i].data, &mut self.scratch)
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
    fn files_are_grouped_in_first_appearance_order() {
        let mut files = Files::default();
        let b = |s: &'static str| Cow::Borrowed(s.as_bytes());
        files
            .open(FileKind::Depth, b("ETHUSDT"), b(""), 19_943)
            .0
            .push(b'1');
        files
            .open(FileKind::Kline, b("ETHUSDT"), b("1m"), 19_943)
            .0
            .push(b'2');
        files
            .open(
                FileKind::Depth,
                Cow::Owned(b"ETHUSDT".to_vec()),
                b(""),
                19_943,
            )
            .0
            .push(b'3');
        files
            .open(FileKind::Snapshot, b("ETHUSDT"), b(""), 19_944)
            .0
            .push(b'4');
        let got: Vec<(&str, &[u8])> = files
            .groups
            .iter()
            .map(|g| (g.path.as_str(), &g.data[..]))
            .collect();
        assert_eq!(
            got,
            vec![
                ("ETHUSDT/depth_ETHUSDT_20240808.csv", &b"13"[..]),
                ("ETHUSDT/kline_1m_ETHUSDT_20240808.csv", b"2"),
                ("ETHUSDT/ETHUSDT_depth_snapshot_20240809.csv", b"4"),
            ]
        );
    }
}
