//! JSON-to-CSV batching: ring records in, CSV rows out, grouped per file.
//!
//! The writer hands over thousands of ring records at once; each is parsed
//! once, in place ([`json`]), checked field by field ([`events`]) and its
//! rows appended to the buffer of its file ([`out`]). Records that cannot be
//! encoded are skipped and reported (count, first sample, reason per kind);
//! they never stop the batch. Column order comes from `columns.txt`
//! ([`schema`]). No pyo3 here: the bindings live in `py/csv.rs`.

#[path = "csv_events.rs"]
mod events;
#[path = "csv_json.rs"]
pub mod json;
#[path = "csv_out.rs"]
mod out;
#[path = "csv_schema.rs"]
pub mod schema;

use std::ops::Range;

use events::{Bad, Encoder, Record};
pub use schema::FileKind;

/// Record kinds of the ring record header (`records.py`).
pub const KIND_FRAME: u8 = 1;
pub const KIND_SNAPSHOT: u8 = 2;
pub const KIND_GAP: u8 = 3;
pub const KIND_ORDERBOOK: u8 = 4;
/// Size of the ring record header before the payload.
pub const HEADER_SIZE: usize = 16;
/// Samples of skipped records keep at most this many bytes.
pub const SAMPLE_BYTES: usize = 200;

/// The rows of one output file from one batch (no header row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedFile {
    /// `SYMBOL/<file name>`, relative to the output directory.
    pub path: String,
    pub kind: FileKind,
    /// Where the rows sit in [`Encoded::data`], in order.
    pub chunks: Vec<Range<usize>>,
    /// Total length of the rows.
    pub len: usize,
}

/// Records of one kind that were skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// `record`, `frame`, `control`, `unknown`, or a file kind.
    pub kind: &'static str,
    pub count: u64,
    /// The first such record's payload (the whole record for `record`), cut to [`SAMPLE_BYTES`].
    pub sample: Vec<u8>,
    /// Why the first one was skipped, one line.
    pub reason: String,
}

/// What one batch produced.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Encoded {
    /// Rows of every file, in input order (files point into it).
    pub data: Vec<u8>,
    /// Files in the order they first received a row; rows in input order.
    pub files: Vec<EncodedFile>,
    /// Rows written per kind, kinds in the order they first got a row.
    pub rows: Vec<(FileKind, u64)>,
    /// Skipped records per kind, kinds in the order first seen.
    pub skipped: Vec<Skipped>,
}

impl Encoded {
    /// The rows of `file`, as pieces of [`Encoded::data`].
    pub fn pieces<'s>(&'s self, file: &'s EncodedFile) -> impl Iterator<Item = &'s [u8]> + 's {
        file.chunks.iter().map(|r| &self.data[r.clone()])
    }

    /// The rows of `file` as one buffer.
    pub fn bytes(&self, file: &EncodedFile) -> Vec<u8> {
        self.pieces(file).collect::<Vec<_>>().concat()
    }
}

/// The symbol list given to [`encode_records`] has a name unfit for paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadSymbol {
    pub index: usize,
    pub symbol: String,
}

impl std::fmt::Display for BadSymbol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "symbols[{}] is not a valid symbol: {:?} (1-64 bytes; ASCII letters, digits, '_' or '-')",
            self.index, self.symbol
        )
    }
}

/// Encodes a batch of ring records (16-byte header + payload each).
/// `symbols[symbol_id]` names the symbol of snapshot, gap and order-book
/// records; frames carry their own. Klines are kept only when closed unless
/// `keep_all_klines`.
pub fn encode_records(
    records: &[&[u8]],
    symbols: &[&str],
    keep_all_klines: bool,
) -> Result<Encoded, BadSymbol> {
    encode_records_in(Vec::new(), records, symbols, keep_all_klines)
}

/// [`encode_records`] writing into `arena` (emptied first), so a caller
/// that hands back [`Encoded::data`] reuses its memory batch after batch.
pub fn encode_records_in(
    arena: Vec<u8>,
    records: &[&[u8]],
    symbols: &[&str],
    keep_all_klines: bool,
) -> Result<Encoded, BadSymbol> {
    if let Some(index) = symbols
        .iter()
        .position(|s| !schema::valid_symbol(s.as_bytes()))
    {
        return Err(BadSymbol {
            index,
            symbol: symbols[index].to_string(),
        });
    }
    let mut enc = Encoder::new(keep_all_klines, arena);
    let mut skipped: Vec<Skipped> = Vec::new();
    for &record in records {
        if let Err((bad, sample)) = encode_one(&mut enc, record, symbols) {
            let sample = &sample[..sample.len().min(SAMPLE_BYTES)];
            match skipped.iter_mut().find(|s| s.kind == bad.kind) {
                Some(s) => s.count += 1,
                None => skipped.push(Skipped {
                    kind: bad.kind,
                    count: 1,
                    sample: sample.to_vec(),
                    reason: bad.reason,
                }),
            }
        }
    }
    Ok(Encoded {
        data: enc.files.arena,
        files: enc
            .files
            .groups
            .into_iter()
            .map(|g| EncodedFile {
                path: g.path,
                kind: g.kind,
                chunks: g.chunks,
                len: g.len,
            })
            .collect(),
        rows: enc
            .row_kinds
            .iter()
            .map(|&k| (k, enc.rows[k as usize]))
            .collect(),
        skipped,
    })
}

/// One record; on failure, the reason and the bytes to sample.
fn encode_one<'a>(
    enc: &mut Encoder<'a>,
    record: &'a [u8],
    symbols: &[&'a str],
) -> Result<(), (Bad, &'a [u8])> {
    let whole = |reason: String| {
        (
            Bad {
                kind: "record",
                reason,
            },
            record,
        )
    };
    if record.len() < HEADER_SIZE {
        return Err(whole(format!(
            "record shorter than the {HEADER_SIZE}-byte header"
        )));
    }
    let kind = record[0];
    let report_kind = match kind {
        KIND_FRAME => "frame",
        KIND_SNAPSHOT => FileKind::Snapshot.name(),
        KIND_GAP => FileKind::Gaps.name(),
        KIND_ORDERBOOK => FileKind::OrderBook.name(),
        _ => return Err(whole(format!("unknown record kind {kind}"))),
    };
    let symbol_id = usize::from(u16::from_le_bytes([record[2], record[3]]));
    let local_time_us = i64::from_le_bytes(record[8..16].try_into().expect("8 bytes"));
    let payload = &record[HEADER_SIZE..];
    let fail = |kind: &'static str, reason: String| (Bad { kind, reason }, payload);
    let symbol = if kind == KIND_FRAME {
        ""
    } else {
        *symbols.get(symbol_id).ok_or_else(|| {
            fail(
                report_kind,
                format!(
                    "symbol_id {symbol_id} out of range ({} symbols)",
                    symbols.len()
                ),
            )
        })?
    };
    if std::str::from_utf8(payload).is_err() {
        return Err(fail(report_kind, "not valid UTF-8".to_string()));
    }
    let rec = Record {
        local_time_us,
        payload,
    };
    match kind {
        KIND_FRAME => enc.frame(&rec),
        KIND_SNAPSHOT => enc.snapshot(&rec, symbol),
        KIND_GAP => enc.gap(&rec, symbol),
        _ => enc.orderbook(&rec, symbol),
    }
    .map_err(|bad| (bad, payload))
}

#[cfg(test)]
#[path = "csv_tests.rs"]
mod tests;
