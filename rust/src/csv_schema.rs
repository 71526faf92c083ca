//! The data contract as the native writer sees it: file kinds, the column
//! order read from `columns.txt` (the same file `schema.py` reads), file
//! names, UTC days and the names allowed in paths.

use std::sync::OnceLock;

/// The shared column definitions, compiled in so the extension can never
/// disagree with the Python package it was built from.
pub const COLUMNS_TXT: &str = include_str!("../../python/binance_streamer/columns.txt");

/// One kind of output file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    AggTrade,
    Depth,
    Kline,
    Snapshot,
    OrderBook,
    Gaps,
    Trade,
    BookTicker,
    MarkPrice,
}

impl FileKind {
    pub const ALL: [FileKind; 9] = [
        FileKind::AggTrade,
        FileKind::Depth,
        FileKind::Kline,
        FileKind::Snapshot,
        FileKind::OrderBook,
        FileKind::Gaps,
        FileKind::Trade,
        FileKind::BookTicker,
        FileKind::MarkPrice,
    ];

    /// The kind's name in `columns.txt`, file names and reports.
    pub fn name(self) -> &'static str {
        match self {
            FileKind::AggTrade => "aggtrade",
            FileKind::Depth => "depth",
            FileKind::Kline => "kline",
            FileKind::Snapshot => "snapshot",
            FileKind::OrderBook => "orderbook",
            FileKind::Gaps => "gaps",
            FileKind::Trade => "trade",
            FileKind::BookTicker => "bookticker",
            FileKind::MarkPrice => "markprice",
        }
    }

    /// The columns in the order the encoders produce their cells.
    /// `columns.txt` may order them differently; [`Schema`] maps between.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            FileKind::AggTrade => &[
                "local_time_us",
                "event_time_ms",
                "symbol",
                "agg_trade_id",
                "price",
                "quantity",
                "first_trade_id",
                "last_trade_id",
                "trade_time_ms",
                "is_buyer_maker",
            ],
            FileKind::Depth => &[
                "local_time_us",
                "event_time_ms",
                "transaction_time_ms",
                "symbol",
                "first_update_id",
                "final_update_id",
                "prev_final_update_id",
                "side",
                "price",
                "quantity",
            ],
            FileKind::Kline => &[
                "local_time_us",
                "event_time_ms",
                "symbol",
                "interval",
                "open_time_ms",
                "close_time_ms",
                "first_trade_id",
                "last_trade_id",
                "open",
                "high",
                "low",
                "close",
                "volume",
                "trade_count",
                "is_closed",
                "quote_volume",
                "taker_buy_volume",
                "taker_buy_quote_volume",
            ],
            FileKind::Snapshot => &[
                "local_time_us",
                "event_time_ms",
                "transaction_time_ms",
                "symbol",
                "last_update_id",
                "side",
                "price",
                "quantity",
            ],
            FileKind::OrderBook => &[
                "local_time_us",
                "symbol",
                "last_update_id",
                "side",
                "level",
                "price",
                "quantity",
            ],
            FileKind::Gaps => &[
                "local_time_us",
                "symbol",
                "stream",
                "reason",
                "last_id",
                "next_id",
                "detail",
            ],
            FileKind::Trade => &[
                "local_time_us",
                "event_time_ms",
                "trade_time_ms",
                "symbol",
                "trade_id",
                "price",
                "quantity",
                "is_buyer_maker",
                "order_type",
            ],
            FileKind::BookTicker => &[
                "local_time_us",
                "event_time_ms",
                "transaction_time_ms",
                "symbol",
                "update_id",
                "bid_price",
                "bid_quantity",
                "ask_price",
                "ask_quantity",
            ],
            FileKind::MarkPrice => &[
                "local_time_us",
                "event_time_ms",
                "symbol",
                "mark_price",
                "index_price",
                "estimated_settle_price",
                "funding_rate",
                "next_funding_time_ms",
            ],
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// For each kind, the encoder cell index of each file column, in file order.
#[derive(Debug)]
pub struct Schema {
    order: [Vec<usize>; 9],
}

impl Schema {
    /// Parses `columns.txt`. Every kind must be listed once and its columns
    /// must be exactly the encoder's fields (in any order): a column the
    /// encoder does not know, or a field no column shows, is an error.
    pub fn parse(text: &str) -> Result<Schema, String> {
        let mut order: [Option<Vec<usize>>; 9] = Default::default();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, cols) = line
                .split_once(':')
                .ok_or_else(|| format!("columns.txt: no ':' in line {line:?}"))?;
            let name = name.trim();
            let kind = FileKind::ALL
                .into_iter()
                .find(|k| k.name() == name)
                .ok_or_else(|| format!("columns.txt: unknown file kind {name:?}"))?;
            let fields = kind.fields();
            let mut idx = Vec::with_capacity(fields.len());
            for col in cols.split(',').map(str::trim) {
                let i = fields
                    .iter()
                    .position(|f| *f == col)
                    .ok_or_else(|| format!("columns.txt: {name} has unknown column {col:?}"))?;
                if idx.contains(&i) {
                    return Err(format!("columns.txt: {name} repeats column {col:?}"));
                }
                idx.push(i);
            }
            if idx.len() != fields.len() {
                return Err(format!("columns.txt: {name} must list {fields:?}"));
            }
            if order[kind.index()].replace(idx).is_some() {
                return Err(format!("columns.txt: {name} is defined twice"));
            }
        }
        let mut out: [Vec<usize>; 9] = Default::default();
        for kind in FileKind::ALL {
            out[kind.index()] = order[kind.index()]
                .take()
                .ok_or_else(|| format!("columns.txt: no line for {}", kind.name()))?;
        }
        Ok(Schema { order: out })
    }

    /// Encoder cell indices in file column order.
    pub fn order(&self, kind: FileKind) -> &[usize] {
        &self.order[kind.index()]
    }
}

/// The compiled-in schema. `cargo test` proves it parses, so this cannot fail at run time.
pub fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| Schema::parse(COLUMNS_TXT).expect("columns.txt is checked by cargo test"))
}

/// The file name of `kind` for a symbol and UTC day, as `schema.file_name`.
pub fn file_name(kind: FileKind, symbol: &str, day: &str, interval: &str) -> String {
    match kind {
        FileKind::Kline => format!("kline_{interval}_{symbol}_{day}.csv"),
        FileKind::Snapshot => format!("{symbol}_depth_snapshot_{day}.csv"),
        _ => format!("{}_{symbol}_{day}.csv", kind.name()),
    }
}

/// Milliseconds since the epoch accepted as an event time: up to the end of year 9999.
pub const MAX_TIME_MS: u64 = 253_402_300_800_000;

/// `YYYYMMDD` of a day number (days since 1970-01-01, 0 ..= 2_932_896).
pub fn day_string(days: u32) -> [u8; 8] {
    // Civil-from-days (proleptic Gregorian, eras of 400 years).
    let z = days as i64 + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let mut out = [b'0'; 8];
    let mut put = |at: usize, width: usize, mut v: i64| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, y);
    put(4, 2, m);
    put(6, 2, d);
    out
}

/// Symbols become directory and file names: 1..=64 bytes of UTF-8 whose
/// ASCII characters are letters, digits, `_` or `-` (Binance also lists
/// symbols in other scripts, which pass). No separators, dots or controls.
pub fn valid_symbol(s: &[u8]) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.iter()
            .all(|&b| b >= 0x80 || b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Kline intervals (`1m`, `4h`, `1M`, ...) appear in file names: 1..=8 ASCII letters or digits.
pub fn valid_interval(s: &[u8]) -> bool {
    !s.is_empty() && s.len() <= 8 && s.iter().all(u8::is_ascii_alphanumeric)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_columns_parse_and_cover_every_kind() {
        let s = Schema::parse(COLUMNS_TXT).unwrap();
        for kind in FileKind::ALL {
            assert_eq!(s.order(kind).len(), kind.fields().len());
        }
    }

    #[test]
    fn reordered_columns_map_to_encoder_cells() {
        let mut text = COLUMNS_TXT.replace(
            "gaps: local_time_us,symbol,stream,reason,last_id,next_id,detail",
            "gaps: detail,symbol,local_time_us,stream,reason,last_id,next_id",
        );
        let s = Schema::parse(&text).unwrap();
        assert_eq!(s.order(FileKind::Gaps), &[6, 1, 0, 2, 3, 4, 5]);
        text.push_str("gaps: local_time_us\n");
        assert!(Schema::parse(&text).unwrap_err().contains("gaps"));
    }

    #[test]
    fn contract_errors_are_reported() {
        let bad_col = COLUMNS_TXT.replace("is_buyer_maker\n", "buyer\n");
        assert!(Schema::parse(&bad_col)
            .unwrap_err()
            .contains("unknown column"));
        let missing = COLUMNS_TXT.replace("markprice:", "# markprice:");
        assert!(Schema::parse(&missing).unwrap_err().contains("markprice"));
        let dup = COLUMNS_TXT.replace("interval,open_time_ms", "interval,interval");
        assert!(Schema::parse(&dup).unwrap_err().contains("repeats"));
    }

    #[test]
    fn days_are_utc_calendar_dates() {
        assert_eq!(&day_string(0), b"19700101");
        assert_eq!(&day_string(59), b"19700301");
        assert_eq!(&day_string(11_016), b"20000229");
        assert_eq!(&day_string(19_943), b"20240808");
        let last = (MAX_TIME_MS / 86_400_000 - 1) as u32;
        assert_eq!(&day_string(last), b"99991231");
    }

    #[test]
    fn names_safe_for_paths() {
        for ok in [
            "BTCUSDT",
            "BTCUSDT_261225",
            "1000PEPEUSDT",
            "币安人生USDT",
            "a-b",
        ] {
            assert!(valid_symbol(ok.as_bytes()), "{ok}");
        }
        for bad in ["", "../x", "a/b", "a\\b", ".", "A B", "A,B", "A\"B", "A\nB"] {
            assert!(!valid_symbol(bad.as_bytes()), "{bad}");
        }
        assert!(!valid_symbol("X".repeat(65).as_bytes()));
        assert!(valid_interval(b"1m") && valid_interval(b"1M"));
        assert!(!valid_interval(b"") && !valid_interval(b"1m/") && !valid_interval(b"123456789"));
    }
}
