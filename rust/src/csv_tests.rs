//! Batch-level tests of [`super::encode_records`]; the fallback is held to
//! the same outputs by the Python parity tests.

use super::*;

fn rec(kind: u8, symbol_id: u16, local_time_us: i64, payload: &str) -> Vec<u8> {
    let mut r = vec![kind, 0];
    r.extend_from_slice(&symbol_id.to_le_bytes());
    r.extend_from_slice(&[0; 4]);
    r.extend_from_slice(&local_time_us.to_le_bytes());
    r.extend_from_slice(payload.as_bytes());
    r
}

fn frame(payload: &str) -> Vec<u8> {
    rec(KIND_FRAME, 0, 1_760_000_000_500_000, payload)
}

fn run(records: &[Vec<u8>], keep_all: bool) -> Encoded {
    let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
    encode_records(&refs, &["ETHUSDT", "BTCUSDT"], keep_all).unwrap()
}

fn text(e: &Encoded) -> Vec<(String, String)> {
    e.files
        .iter()
        .map(|f| (f.path.clone(), String::from_utf8(e.bytes(f)).unwrap()))
        .collect()
}

fn reasons(e: &Encoded) -> Vec<(&str, u64, &str)> {
    e.skipped
        .iter()
        .map(|s| (s.kind, s.count, s.reason.as_str()))
        .collect()
}

const AGG: &str = r#"{"e":"aggTrade","E":1760000000123,"a":2900000001,"s":"ETHUSDT","p":"4012.35","q":"1.250","nq":"1.250","f":7100000010,"l":7100000012,"T":1760000000101,"m":true,"st":1}"#;

#[test]
fn agg_trade_bare_and_wrapped_give_the_same_row() {
    let wrapped = format!(r#"{{"stream":"ethusdt@aggTrade","data":{AGG}}}"#);
    let e = run(&[frame(AGG), frame(&wrapped)], false);
    let row = "1760000000500000,1760000000123,ETHUSDT,2900000001,4012.35,1.250,7100000010,7100000012,1760000000101,true\n";
    assert_eq!(
        text(&e),
        vec![(
            "ETHUSDT/aggtrade_ETHUSDT_20251009.csv".to_string(),
            row.repeat(2)
        )]
    );
    assert_eq!(e.rows, vec![(FileKind::AggTrade, 2)]);
    assert!(e.skipped.is_empty());
}

#[test]
fn depth_rows_per_level_and_one_row_for_an_empty_update() {
    let d = r#"{"e":"depthUpdate","E":1760000000250,"T":1760000000248,"s":"ETHUSDT","U":9800000001200,"u":9800000001275,"pu":9800000001150,"b":[["4012.30","8.412"],["4011.90","0.000"]],"a":[["4012.40","3.105"]]}"#;
    let empty = r#"{"e":"depthUpdate","E":1760000000350,"T":1760000000348,"s":"ETHUSDT","U":9800000001276,"u":9800000001276,"pu":9800000001275,"b":[],"a":[]}"#;
    let e = run(&[frame(d), frame(empty)], false);
    let p = "1760000000500000,1760000000250,1760000000248,ETHUSDT,9800000001200,9800000001275,9800000001150";
    let want = format!(
        "{p},bid,4012.30,8.412\n{p},bid,4011.90,0.000\n{p},ask,4012.40,3.105\n\
         1760000000500000,1760000000350,1760000000348,ETHUSDT,9800000001276,9800000001276,9800000001275,,,\n"
    );
    assert_eq!(text(&e)[0].1, want);
    assert_eq!(e.rows, vec![(FileKind::Depth, 4)]);
}

#[test]
fn kline_keeps_closed_candles_unless_asked() {
    let k = |x: bool| {
        format!(
            r#"{{"e":"kline","E":1760000000400,"s":"ETHUSDT","k":{{"t":1759999980000,"T":1760000039999,"s":"ETHUSDT","i":"1m","f":7100000001,"L":7100000012,"o":"4010.00","c":"4012.35","h":"4013.10","l":"4009.75","v":"152.318","n":412,"x":{x},"q":"611002.48120","V":"80.004","Q":"320934.10050","B":"0"}}}}"#
        )
    };
    let recs = [frame(&k(false)), frame(&k(true))];
    let e = run(&recs, false);
    assert_eq!(
        text(&e),
        vec![(
            "ETHUSDT/kline_1m_ETHUSDT_20251009.csv".to_string(),
            "1760000000500000,1760000000400,ETHUSDT,1m,1759999980000,1760000039999,7100000001,7100000012,4010.00,4013.10,4009.75,4012.35,152.318,412,true,611002.48120,80.004,320934.10050\n".to_string()
        )]
    );
    assert!(e.skipped.is_empty());
    assert_eq!(run(&recs, true).rows, vec![(FileKind::Kline, 2)]);
}

#[test]
fn snapshot_gap_and_orderbook_use_the_symbol_table() {
    let snap = r#"{"lastUpdateId":9800000001230,"E":1760000000260,"T":1760000000255,"bids":[["4012.30","8.412"]],"asks":[["4012.40","3.105"]]}"#;
    let gap = r#"{"stream":"btcusdt@depth@100ms","reason":"sequence break","last_id":12,"next_id":null,"detail":"pu 11, expected 12"}"#;
    let book = r#"{"last_update_id":77,"bids":[["1","2"],["0.5","3"]],"asks":[]}"#;
    let e = run(
        &[
            rec(KIND_SNAPSHOT, 0, 5, snap),
            rec(KIND_GAP, 1, 86_400_000_000, gap),
            rec(KIND_ORDERBOOK, 1, 7, book),
        ],
        false,
    );
    assert_eq!(
        text(&e),
        vec![
            (
                "ETHUSDT/ETHUSDT_depth_snapshot_20251009.csv".to_string(),
                "5,1760000000260,1760000000255,ETHUSDT,9800000001230,bid,4012.30,8.412\n\
                 5,1760000000260,1760000000255,ETHUSDT,9800000001230,ask,4012.40,3.105\n"
                    .to_string()
            ),
            (
                "BTCUSDT/gaps_BTCUSDT_19700102.csv".to_string(),
                "86400000000,BTCUSDT,btcusdt@depth@100ms,sequence break,12,,\"pu 11, expected 12\"\n"
                    .to_string()
            ),
            (
                "BTCUSDT/orderbook_BTCUSDT_19700101.csv".to_string(),
                "7,BTCUSDT,77,bid,1,1,2\n7,BTCUSDT,77,bid,2,0.5,3\n".to_string()
            ),
        ]
    );
}

#[test]
fn snapshot_without_event_time_uses_the_local_day() {
    let e = run(
        &[rec(
            KIND_SNAPSHOT,
            0,
            86_400_000_001,
            r#"{"lastUpdateId":1,"bids":[],"asks":[]}"#,
        )],
        false,
    );
    assert_eq!(
        text(&e),
        vec![(
            "ETHUSDT/ETHUSDT_depth_snapshot_19700102.csv".to_string(),
            "86400000001,,,ETHUSDT,1,,,\n".to_string()
        )]
    );
}

#[test]
fn midnight_splits_files_by_event_time() {
    let at = |e: u64| AGG.replace("1760000000123", &e.to_string());
    let midnight = 1_760_054_400_000u64; // 2025-10-10T00:00:00Z
    let e = run(
        &[
            frame(&at(midnight - 1)),
            frame(&at(midnight)),
            frame(&at(midnight - 2)),
        ],
        false,
    );
    let files = text(&e);
    assert_eq!(files.len(), 2);
    assert_eq!(files[0].0, "ETHUSDT/aggtrade_ETHUSDT_20251009.csv");
    assert_eq!(files[0].1.lines().count(), 2);
    assert_eq!(files[1].0, "ETHUSDT/aggtrade_ETHUSDT_20251010.csv");
}

#[test]
fn escapes_are_decoded_and_quoted() {
    let gap = r#"{"stream":"a\"b","reason":"x\u00e9\ud83d\ude00","detail":"l1\nl2, \\ \ud800"}"#;
    let e = run(&[rec(KIND_GAP, 0, 0, gap)], false);
    assert_eq!(
        text(&e)[0].1,
        "0,ETHUSDT,\"a\"\"b\",xé😀,,,\"l1\nl2, \\ \u{fffd}\"\n"
    );
    let sym = AGG.replace("\"ETHUSDT\"", r#""ETH\u0055SDT""#);
    let e = run(&[frame(&sym)], false);
    assert_eq!(e.files[0].path, "ETHUSDT/aggtrade_ETHUSDT_20251009.csv");
}

#[test]
fn bad_records_are_counted_with_first_sample_and_reason() {
    let recs = [
        vec![1, 2, 3],
        rec(9, 0, 0, "{}"),
        frame("{\"e\":"),
        frame("[1]"),
        frame(r#"{"result":null,"id":1}"#),
        frame(r#"{"e":"forceOrder","E":1}"#),
        frame(r#"{"e":"what ever"}"#),
        frame(&AGG.replace("\"p\":\"4012.35\",", "")),
        frame(&AGG.replace("\"m\":true", "\"m\":1")),
        frame(&AGG.replace("1760000000123", "-5")),
        frame(&AGG.replace("\"ETHUSDT\"", "\"../x\"")),
        frame(r#"{"stream":"x","data":[]}"#),
        rec(KIND_FRAME, 0, 0, "\u{0}")
            .into_iter()
            .chain([0xff])
            .collect(),
        rec(KIND_SNAPSHOT, 5, 0, "{}"),
        rec(KIND_GAP, 0, -1, r#"{"stream":"s","reason":"r"}"#),
        rec(
            KIND_ORDERBOOK,
            0,
            0,
            r#"{"last_update_id":1,"bids":[["1"]],"asks":[]}"#,
        ),
        frame(AGG),
    ];
    let e = run(&recs, false);
    assert_eq!(e.rows, vec![(FileKind::AggTrade, 1)]);
    assert_eq!(
        reasons(&e),
        vec![
            ("record", 2, "record shorter than the 16-byte header"),
            ("frame", 4, "invalid JSON"),
            ("control", 1, "control frame (result/error reply)"),
            ("unknown", 2, "unknown event type \"forceOrder\""),
            ("aggtrade", 4, "field \"p\" missing"),
            ("snapshot", 1, "symbol_id 5 out of range (2 symbols)"),
            ("gaps", 1, "local_time_us out of range"),
            (
                "orderbook",
                1,
                "field \"bids\" is not a list of [price, quantity] pairs"
            ),
        ]
    );
    assert_eq!(e.skipped[0].sample, vec![1, 2, 3]);
    assert_eq!(e.skipped[1].sample, b"{\"e\":");
    let one = |r: &Vec<u8>| {
        reasons(&run(std::slice::from_ref(r), false))[0]
            .2
            .to_string()
    };
    assert_eq!(one(&recs[3]), "not a JSON object");
    assert_eq!(one(&recs[8]), "field \"m\" is not a boolean");
    assert_eq!(one(&recs[9]), "field \"E\" is out of range");
    assert_eq!(one(&recs[10]), "field \"s\" is not a valid symbol");
    assert_eq!(one(&recs[11]), "\"data\" is not an object");
    assert_eq!(one(&recs[12]), "not valid UTF-8");
    assert_eq!(one(&recs[6]), "unknown event type");
}

#[test]
fn samples_are_cut() {
    let long = format!("{{\"e\":\"{}\"}}", "x".repeat(500));
    let e = run(&[frame(&long)], false);
    assert_eq!(e.skipped[0].sample.len(), SAMPLE_BYTES);
}

#[test]
fn bad_symbol_table_is_an_error() {
    let err = encode_records(&[], &["OK", "a/b"], false).unwrap_err();
    assert_eq!(err.index, 1);
    assert!(err
        .to_string()
        .starts_with("symbols[1] is not a valid symbol"));
}
