//! Exchange decimal text <-> fixed-point integers.
//!
//! Binance sends prices and quantities as JSON strings ("61800.20",
//! "0.000"). Floats would make equal prices compare unequal and would lose
//! the text the exchange sent, so a value is kept as an integer part plus a
//! fraction in units of 1e-18, and the number of fraction digits it was
//! written with is kept beside it so the text can be written back exactly.

use std::fmt;

/// Fraction digits a [`Fixed`] can hold.
pub const FRAC_DIGITS: u8 = 18;

/// Powers of ten that fit a u64.
pub(crate) const POW10: [u64; 20] = {
    let mut table = [1u64; 20];
    let mut i = 1;
    while i < 20 {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

/// A non-negative decimal: `int + frac * 1e-18`, with `frac < 1e18`.
///
/// The derived ordering (integer part first, then fraction) is the numeric
/// ordering, which is what the book's price keys need.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fixed {
    pub int: u64,
    pub frac: u64,
}

impl Fixed {
    pub fn is_zero(self) -> bool {
        self.int == 0 && self.frac == 0
    }

    /// The value in units of 1e-18; cannot overflow (< 1.9e37).
    pub fn scaled(self) -> u128 {
        self.int as u128 * POW10[FRAC_DIGITS as usize] as u128 + self.frac as u128
    }
}

/// A decimal as the exchange wrote it: value and number of fraction digits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Decimal {
    pub value: Fixed,
    pub places: u8,
}

/// Why a text is not accepted as a decimal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecimalError {
    /// Not `digits` or `digits.digits` (ASCII digits only, no sign or exponent).
    NotDecimal,
    /// More fraction digits than [`FRAC_DIGITS`].
    TooManyPlaces,
    /// Integer part above `u64::MAX`.
    TooLarge,
}

impl fmt::Display for DecimalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecimalError::NotDecimal => "is not decimal text",
            DecimalError::TooManyPlaces => "has more than 18 decimal places",
            DecimalError::TooLarge => "is too large",
        })
    }
}

/// Parses `digits` or `digits.digits`.
///
/// Errors are ranked NotDecimal > TooManyPlaces > TooLarge so that both
/// backends name the same problem when a text has several.
pub fn parse(text: &[u8]) -> Result<Decimal, DecimalError> {
    let mut i = 0;
    let mut int: u64 = 0;
    let mut overflow = false;
    while i < text.len() && text[i].is_ascii_digit() {
        let digit = (text[i] - b'0') as u64;
        match int.checked_mul(10).and_then(|v| v.checked_add(digit)) {
            Some(v) => int = v,
            None => overflow = true,
        }
        i += 1;
    }
    if i == 0 {
        return Err(DecimalError::NotDecimal);
    }
    let mut frac: u64 = 0;
    let mut places: usize = 0;
    if i < text.len() {
        if text[i] != b'.' {
            return Err(DecimalError::NotDecimal);
        }
        let digits = &text[i + 1..];
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(DecimalError::NotDecimal);
        }
        places = digits.len();
        if places > FRAC_DIGITS as usize {
            return Err(DecimalError::TooManyPlaces);
        }
        for &d in digits {
            frac = frac * 10 + (d - b'0') as u64;
        }
        frac *= POW10[FRAC_DIGITS as usize - places];
    }
    if overflow {
        return Err(DecimalError::TooLarge);
    }
    Ok(Decimal {
        value: Fixed { int, frac },
        places: places as u8,
    })
}

/// Longest text [`write`] produces: 20 integer digits, '.', 18 places.
pub const MAX_TEXT: usize = 39;

/// Writes `d` as the exchange wrote it (canonical integer part, the original
/// number of fraction digits) into `out`; returns the length.
pub fn write(d: Decimal, out: &mut [u8; MAX_TEXT]) -> usize {
    let mut len = write_u64(d.value.int, out);
    if d.places > 0 {
        out[len] = b'.';
        len += 1;
        let places = d.places as usize;
        let mut digits = d.value.frac / POW10[FRAC_DIGITS as usize - places];
        for k in (0..places).rev() {
            out[len + k] = b'0' + (digits % 10) as u8;
            digits /= 10;
        }
        len += places;
    }
    len
}

fn write_u64(mut v: u64, out: &mut [u8]) -> usize {
    let mut tmp = [0u8; 20];
    let mut n = 0;
    loop {
        tmp[n] = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for k in 0..n {
        out[k] = tmp[n - 1 - k];
    }
    n
}

/// The decimal as text, for messages and tests.
pub fn to_text(d: Decimal) -> String {
    let mut buf = [0u8; MAX_TEXT];
    let len = write(d, &mut buf);
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

/// The nearest f64, identical to Python's `float(text)`.
///
/// When all digits fit in 53 bits, one division of two exactly
/// representable doubles is correctly rounded (powers of ten up to 1e22 are
/// exact); otherwise the text is parsed, which Rust also rounds correctly.
pub fn to_f64(d: Decimal) -> f64 {
    let places = d.places as usize;
    let mantissa = d.value.int as u128 * POW10[places] as u128
        + (d.value.frac / POW10[FRAC_DIGITS as usize - places]) as u128;
    if mantissa < (1u128 << 53) {
        return mantissa as f64 / POW10[places] as f64;
    }
    let mut buf = [0u8; MAX_TEXT];
    let len = write(d, &mut buf);
    std::str::from_utf8(&buf[..len])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Formats `magnitude` units of 10^-`scale` (scale <= 19), with a minus
/// sign if `negative`, using the fewest fraction digits >= `min_places`
/// that keep it exact. Sign and magnitude are separate because a midpoint
/// in 1e-19 units can exceed `i128::MAX`.
pub fn scaled_to_text(negative: bool, magnitude: u128, scale: u32, min_places: u32) -> String {
    let unit = 10u128.pow(scale);
    let int = magnitude / unit;
    let mut frac = magnitude % unit;
    let mut places = scale;
    while places > min_places && frac.is_multiple_of(10) {
        frac /= 10;
        places -= 1;
    }
    let mut text = String::with_capacity(48);
    if negative {
        text.push('-');
    }
    text.push_str(&int.to_string());
    if places > 0 {
        text.push('.');
        let digits = frac.to_string();
        for _ in digits.len()..places as usize {
            text.push('0');
        }
        text.push_str(&digits);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Decimal {
        parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn parses_integer_and_fraction() {
        let d = ok("61800.20");
        assert_eq!(d.value.int, 61800);
        assert_eq!(d.value.frac, 200_000_000_000_000_000);
        assert_eq!(d.places, 2);
        assert_eq!(ok("813").places, 0);
        assert!(ok("0.000").value.is_zero());
        assert!(ok("0").value.is_zero());
    }

    #[test]
    fn equal_values_written_differently_compare_equal() {
        assert_eq!(ok("7.611").value, ok("7.6110").value);
        assert!(ok("7.6110").value < ok("7.612").value);
        assert!(ok("9.99").value < ok("10").value);
    }

    #[test]
    fn round_trips_the_exchange_text() {
        for text in [
            "61800.20",
            "0.000",
            "0.01737",
            "813",
            "0.000000000000000001",
            "18446744073709551615.999999999999999999",
        ] {
            assert_eq!(to_text(ok(text)), text);
        }
        assert_eq!(to_text(ok("007.50")), "7.50");
    }

    #[test]
    fn rejects_malformed_text() {
        for text in [
            "", ".5", "5.", "-1", "+1", "1e5", "1.2.3", " 1", "1 ", "١", "0x10", "1,5",
        ] {
            assert_eq!(
                parse(text.as_bytes()),
                Err(DecimalError::NotDecimal),
                "{text:?}"
            );
        }
        assert_eq!(
            parse(b"0.1234567890123456789"),
            Err(DecimalError::TooManyPlaces)
        );
        assert_eq!(parse(b"18446744073709551616"), Err(DecimalError::TooLarge));
        assert_eq!(
            parse(b"18446744073709551616.x"),
            Err(DecimalError::NotDecimal)
        );
        assert_eq!(
            parse(b"18446744073709551616.1234567890123456789"),
            Err(DecimalError::TooManyPlaces)
        );
    }

    #[test]
    fn float_matches_correctly_rounded_parse() {
        for text in [
            "61800.20",
            "0.1",
            "0.3",
            "123456789.123456789",
            "18446744073709551615.999999999999999999",
            "0.000000000000000001",
            "9007199254740993",
        ] {
            let expected: f64 = text.parse().unwrap();
            assert_eq!(to_f64(ok(text)), expected, "{text}");
        }
    }

    #[test]
    fn scaled_text_keeps_minimum_places_and_sign() {
        assert_eq!(
            scaled_to_text(false, 76115 * 10u128.pow(15), 19, 4),
            "7.6115"
        );
        assert_eq!(
            scaled_to_text(false, 7_611_000_000_000_000_000, 18, 4),
            "7.6110"
        );
        assert_eq!(
            scaled_to_text(true, 1_000_000_000_000_000, 18, 4),
            "-0.0010"
        );
        assert_eq!(scaled_to_text(false, 5, 19, 0), "0.0000000000000000005");
        assert_eq!(scaled_to_text(false, 0, 18, 0), "0");
        assert_eq!(
            scaled_to_text(false, u128::MAX, 19, 0),
            "34028236692093846346.3374607431768211455"
        );
    }
}
