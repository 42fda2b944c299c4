//! Number formatting exactly as Prometheus' Go client writes sample values.
//!
//! The text format uses `strconv.AppendFloat(v, 'g', -1, 64)` with special cases for
//! 1, 0, -1, NaN and the infinities; OpenMetrics additionally appends `.0` to integral
//! values. Rust's `{:e}` yields the same shortest round-trip digits, so we take the digits and
//! exponent from it and lay them out by Go's `%g` rule: scientific when the decimal exponent is
//! below -4 or at least 6 (the precision Go uses for the shortest form).

use std::io::Write;

/// Appends `value` to `out` as the Go text encoder would (`writeFloat` in `expfmt`).
pub fn write_float(out: &mut Vec<u8>, value: f64) {
    if value == 1.0 {
        out.push(b'1');
    } else if value == 0.0 {
        out.push(b'0');
    } else if value == -1.0 {
        out.extend_from_slice(b"-1");
    } else if value.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if value.is_infinite() {
        out.extend_from_slice(if value > 0.0 { b"+Inf" } else { b"-Inf" });
    } else {
        write_go_g(out, value);
    }
}

/// Formats a float into a fresh `String` (for tests and for labels that carry numbers).
pub fn format_float(value: f64) -> String {
    let mut out = Vec::with_capacity(24);
    write_float(&mut out, value);
    String::from_utf8(out).unwrap_or_default()
}

/// Integers below 2^53 are exact in an f64, one apart or closer, so their shortest round-trip
/// digits are their decimal digits without trailing zeros.
const EXACT_INTEGERS: f64 = 9_007_199_254_740_992.0;

fn write_go_g(out: &mut Vec<u8>, value: f64) {
    let magnitude = value.abs();
    // Most sample values are counters and byte counts: integers, formatted without the
    // float-to-decimal machinery.
    if value.fract() == 0.0 && magnitude < EXACT_INTEGERS {
        write_go_g_integer(out, value);
        return;
    }
    if (1e-4..1e6).contains(&magnitude) {
        // Go lays these out without an exponent, with the same shortest digits Rust prints.
        let _ = write!(out, "{value}");
        return;
    }
    let mut sci = [0u8; 40];
    let len = {
        let mut cursor = std::io::Cursor::new(&mut sci[..]);
        // A finite f64 in `{:e}` form is at most ~25 bytes; the buffer cannot overflow.
        let _ = write!(cursor, "{:e}", value);
        cursor.position() as usize
    };
    let sci = &sci[..len];
    let (negative, sci) = match sci.first() {
        Some(b'-') => (true, &sci[1..]),
        _ => (false, sci),
    };
    let e_pos = sci.iter().position(|&b| b == b'e').unwrap_or(sci.len());
    let mantissa = &sci[..e_pos];
    let exponent: i32 = std::str::from_utf8(sci.get(e_pos + 1..).unwrap_or(b"0"))
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut digits = [0u8; 32];
    let mut nd = 0;
    for &b in mantissa {
        if b.is_ascii_digit() && nd < digits.len() {
            digits[nd] = b;
            nd += 1;
        }
    }
    let digits = &digits[..nd];
    if negative {
        out.push(b'-');
    }
    if !(-4..6).contains(&exponent) {
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if exponent < 0 { b'-' } else { b'+' });
        let abs = exponent.unsigned_abs();
        if abs < 10 {
            out.push(b'0');
        }
        let _ = write!(out, "{abs}");
    } else if exponent < 0 {
        out.extend_from_slice(b"0.");
        for _ in 0..(-exponent - 1) {
            out.push(b'0');
        }
        out.extend_from_slice(digits);
    } else {
        let int_len = exponent as usize + 1;
        if digits.len() <= int_len {
            out.extend_from_slice(digits);
            for _ in digits.len()..int_len {
                out.push(b'0');
            }
        } else {
            out.extend_from_slice(&digits[..int_len]);
            out.push(b'.');
            out.extend_from_slice(&digits[int_len..]);
        }
    }
}

/// `%g` of an integral `value` with magnitude below 2^53: plain digits below 10^6, else the
/// digits without trailing zeros as `d.ddde+XX`.
fn write_go_g_integer(out: &mut Vec<u8>, value: f64) {
    if value < 0.0 {
        out.push(b'-');
    }
    let mut n = value.abs() as u64;
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let digits = &digits[start..];
    let exponent = digits.len() - 1;
    if exponent < 6 {
        out.extend_from_slice(digits);
        return;
    }
    let significant = digits.len() - digits.iter().rev().take_while(|&&d| d == b'0').count();
    out.push(digits[0]);
    if significant > 1 {
        out.push(b'.');
        out.extend_from_slice(&digits[1..significant]);
    }
    // Two exponent digits, as Go writes them; below 2^53 the exponent is at most 15.
    out.extend_from_slice(b"e+");
    out.push(b'0' + (exponent / 10) as u8);
    out.push(b'0' + (exponent % 10) as u8);
}

/// Rewrites a text-format value token into its OpenMetrics form: integral values gain `.0`.
pub fn openmetrics_value(token: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(token);
    let special = matches!(token, b"NaN" | b"+Inf" | b"-Inf");
    if !special && !token.iter().any(|&b| b == b'.' || b == b'e') {
        out.extend_from_slice(b".0");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The integer fast path writes what the general `%g` layout writes.
    #[test]
    fn integers_match_the_general_layout() {
        let general = |v: f64| {
            // The general path, reached by formatting through `{:e}` as the slow path does.
            let mut out = Vec::new();
            let sci = format!("{v:e}");
            let (mantissa, exp) = sci.split_once('e').unwrap();
            let exp: i32 = exp.parse().unwrap();
            let (neg, mantissa) = match mantissa.strip_prefix('-') {
                Some(m) => (true, m),
                None => (false, mantissa),
            };
            let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
            if neg {
                out.push(b'-');
            }
            if (0..6).contains(&exp) {
                let int_len = exp as usize + 1;
                out.extend_from_slice(digits.as_bytes());
                out.resize(out.len() + int_len.saturating_sub(digits.len()), b'0');
            } else {
                out.push(digits.as_bytes()[0]);
                if digits.len() > 1 {
                    out.push(b'.');
                    out.extend_from_slice(&digits.as_bytes()[1..]);
                }
                out.extend_from_slice(format!("e+{exp:02}").as_bytes());
            }
            String::from_utf8(out).unwrap()
        };
        let mut values = vec![
            2.0,
            10.0,
            999_999.0,
            1e6,
            1_000_001.0,
            1_234_567_890.0,
            1e15,
        ];
        values.extend([
            8_253_964_288.0,
            4_503_599_627_370_497.0,
            EXACT_INTEGERS - 1.0,
            1e10,
        ]);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.push((x >> (11 + x % 50)) as f64);
        }
        for v in values {
            for v in [v, -v] {
                if v == 0.0 || v.abs() == 1.0 {
                    continue;
                }
                let mut fast = Vec::new();
                write_float(&mut fast, v);
                assert_eq!(String::from_utf8(fast).unwrap(), general(v), "{v}");
            }
        }
    }

    #[test]
    fn matches_go_strconv_g() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1"),
            (0.0, "0"),
            (-0.0, "0"),
            (-1.0, "-1"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (123456.0, "123456"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (8253964288.0, "8.253964288e+09"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (18446744073709551616.0, "1.8446744073709552e+19"),
            (0.5, "0.5"),
            (-2.5, "-2.5"),
            (100.0, "100"),
            (2.71, "2.71"),
            (1e-300, "1e-300"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (0.012, "0.012"),
            (999999.0, "999999"),
            (123.456, "123.456"),
            (-1e21, "-1e+21"),
            (999999.5, "999999.5"),
            (-123456.0, "-123456"),
            (0.00012345, "0.00012345"),
            (9.99e-5, "9.99e-05"),
            (1e-4, "0.0001"),
            (0.1 + 0.2, "0.30000000000000004"),
            (190.92000000000002, "190.92000000000002"),
        ];
        for (value, want) in cases {
            assert_eq!(format_float(*value), *want, "formatting {value:?}");
        }
    }

    #[test]
    fn openmetrics_adds_fraction_to_integers() {
        let conv = |s: &str| {
            let mut out = Vec::new();
            openmetrics_value(s.as_bytes(), &mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(conv("1"), "1.0");
        assert_eq!(conv("123456"), "123456.0");
        assert_eq!(conv("1e+06"), "1e+06");
        assert_eq!(conv("0.5"), "0.5");
        assert_eq!(conv("NaN"), "NaN");
        assert_eq!(conv("-Inf"), "-Inf");
    }
}
