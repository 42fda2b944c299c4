//! Number formatting exactly as Prometheus' Go client writes sample values.
//!
//! The text format uses `strconv.AppendFloat(v, 'g', -1, 64)` with special cases for
//! 1, 0, -1, NaN and the infinities; OpenMetrics additionally appends `.0` to integral
//! values. Rust's `{:e}` yields the same shortest round-trip digits, so we take the digits and
//! exponent from it and lay them out by Go's `%g` rule: scientific when the decimal exponent is
//! below -4 or at least 6 (the precision Go uses for the shortest form).

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
    // float-to-decimal machinery. (A truncating cast, not `fract`, which is a libm call on
    // x86-64's baseline.)
    if magnitude < EXACT_INTEGERS && (magnitude as u64) as f64 == magnitude {
        write_go_g_integer(out, value);
        return;
    }
    let mut digits = [0u8; 24];
    let (len, exponent) = match few_decimals(magnitude, &mut digits) {
        Some(found) => found,
        None => {
            let mut buf = ryu::Buffer::new();
            shortest_digits(buf.format_finite(magnitude).as_bytes(), &mut digits)
        }
    };
    let digits = &digits[..len.clamp(1, 24)];
    // The whole number is laid out on the stack and appended in one copy: at most a sign, 17
    // digits, a point and `e-308`, or `0.000` and 17 digits.
    let mut text = [0u8; 32];
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        text[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    if value < 0.0 {
        put(b"-");
    }
    if !(-4..6).contains(&exponent) {
        put(&digits[..1]);
        if digits.len() > 1 {
            put(b".");
            put(&digits[1..]);
        }
        put(if exponent < 0 { b"e-" } else { b"e+" });
        // At least two digits, as Go writes them; an f64's exponent has at most three.
        let abs = exponent.unsigned_abs();
        if abs >= 100 {
            put(&[b'0' + (abs / 100) as u8]);
        }
        put(&[b'0' + (abs / 10 % 10) as u8, b'0' + (abs % 10) as u8]);
    } else if exponent < 0 {
        put(&b"0.000"[..(1 - exponent) as usize]);
        put(digits);
    } else {
        let int_len = exponent as usize + 1;
        if digits.len() <= int_len {
            put(digits);
            put(&b"000000"[..int_len - digits.len()]);
        } else {
            put(&digits[..int_len]);
            put(b".");
            put(&digits[int_len..]);
        }
    }
    out.extend_from_slice(&text[..at]);
}

/// 10^1 to 10^9, exact in an f64.
const POWERS_OF_TEN: [f64; 9] = [1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/// The shortest digits of a positive non-integral `magnitude` that is `n / 10^k` for an
/// integer `n` below 10^15 and `k` up to 9 (CPU seconds in hundredths, load averages, most
/// non-integral sample values), without Ryu: `n as f64 / 10^k` is the correctly rounded
/// quotient, so when it equals `magnitude`, the decimal `n * 10^-k` reads back as `magnitude`;
/// no other decimal of at most 15 significant digits does (an f64 holds 15 decimal digits
/// exactly), so none shorter does, and these are the digits Go's shortest formatting finds.
/// `None` for any other value. Returns the digits' count and the decimal exponent of the
/// first, as [`shortest_digits`].
fn few_decimals(magnitude: f64, digits: &mut [u8; 24]) -> Option<(usize, i32)> {
    if !(1e-9..1e15).contains(&magnitude) {
        return None;
    }
    for (k, &power) in POWERS_OF_TEN.iter().enumerate() {
        let scaled = magnitude * power;
        if scaled >= 1e15 {
            return None;
        }
        let n = (scaled + 0.5) as u64;
        if n as f64 / power == magnitude && n > 0 {
            let mut text = [0u8; 20];
            let start = integer_digits(n, &mut text);
            let count = text.len() - start;
            digits[..count].copy_from_slice(&text[start..]);
            let mut len = count;
            while len > 1 && digits[len - 1] == b'0' {
                len -= 1;
            }
            return Some((len, count as i32 - k as i32 - 2));
        }
    }
    None
}

/// The significant digits (no leading or trailing zeros) of a positive number as Ryu writes it
/// (`123.45`, `0.0012`, `1e-7`, `1.5e300`), put in `digits`; returns their count and the
/// decimal exponent of the first. Ryu finds the shortest digits that round-trip, the closest
/// when several do, as Go's `strconv` does (it uses Ryu for shortest formatting since Go
/// 1.17), several times faster than `core::fmt`'s `{:e}`, which finds the same digits.
fn shortest_digits(text: &[u8], digits: &mut [u8; 24]) -> (usize, i32) {
    let (mantissa, exp) = match text.iter().position(|&b| b == b'e') {
        Some(e) => {
            let exp = std::str::from_utf8(&text[e + 1..])
                .ok()
                .and_then(|s| s.parse::<i32>().ok())
                .unwrap_or(0);
            (&text[..e], exp)
        }
        None => (text, 0),
    };
    let mut len = 0;
    let mut point = None;
    // Zeros between the point and the first significant digit.
    let mut skipped = 0;
    for &b in mantissa {
        if b == b'.' {
            point = Some(len as i32);
        } else if (b != b'0' || len > 0) && len < digits.len() {
            digits[len] = b;
            len += 1;
        } else if point.is_some() {
            skipped += 1;
        }
    }
    let point = point.unwrap_or(len as i32) - skipped;
    while len > 1 && digits[len - 1] == b'0' {
        len -= 1;
    }
    (len, point + exp - 1)
}

/// `00`, `01`, ... `99`.
const DIGIT_PAIRS: [u8; 200] = {
    let mut pairs = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        pairs[2 * i] = b'0' + (i / 10) as u8;
        pairs[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    pairs
};

/// Writes the decimal digits of `n` at the end of `digits`; returns where they start.
#[inline]
fn integer_digits(mut n: u64, digits: &mut [u8; 20]) -> usize {
    let mut start = digits.len();
    // Two digits a step, from the table of the hundred pairs.
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        start -= 2;
        digits[start..start + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        let pair = n as usize * 2;
        start -= 2;
        digits[start..start + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else {
        start -= 1;
        digits[start] = b'0' + n as u8;
    }
    start
}

/// `%g` of an integral `value` with magnitude below 2^53: plain digits below 10^6, else the
/// digits without trailing zeros as `d.ddde+XX`.
fn write_go_g_integer(out: &mut Vec<u8>, value: f64) {
    if value < 0.0 {
        out.push(b'-');
    }
    let mut digits = [0u8; 20];
    let start = integer_digits(value.abs() as u64, &mut digits);
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

    /// Pseudo-random 64-bit words (xorshift64) from `seed`.
    fn xorshift(mut x: u64) -> impl Iterator<Item = u64> {
        std::iter::repeat_with(move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        })
    }

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
        for x in xorshift(0x9e37_79b9_7f4a_7c15).take(10_000) {
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

    /// Go's `%g` layout of the shortest digits as `core::fmt`'s `{:e}` finds them: the
    /// reference the Ryu path is checked against.
    fn via_core_fmt(v: f64) -> String {
        let sci = format!("{:e}", v.abs());
        let (mantissa, exp) = sci.split_once('e').unwrap();
        let exp: i32 = exp.parse().unwrap();
        let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
        let sign = if v < 0.0 { "-" } else { "" };
        let body = if !(-4..6).contains(&exp) {
            let rest = if digits.len() > 1 {
                format!(".{}", &digits[1..])
            } else {
                String::new()
            };
            let e_sign = if exp < 0 { '-' } else { '+' };
            format!("{}{rest}e{e_sign}{:02}", &digits[..1], exp.abs())
        } else if exp < 0 {
            format!("0.{}{digits}", "0".repeat((-exp - 1) as usize))
        } else if digits.len() <= exp as usize + 1 {
            format!("{digits:0<width$}", width = exp as usize + 1)
        } else {
            let (int, frac) = digits.split_at(exp as usize + 1);
            format!("{int}.{frac}")
        };
        format!("{sign}{body}")
    }

    /// Ryu's digits laid out match `{:e}`'s on random finite values of every magnitude, and on
    /// the shapes Ryu writes differently (`0.00ddd`, `ddd.0`, `de-7`, `d.ddde300`).
    #[test]
    fn ryu_path_matches_core_fmt() {
        let mut values = vec![
            0.1 + 0.2,
            111.13,
            0.0012,
            1e-7,
            1.5e300,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
            9_007_199_254_740_992.0,
            1e17,
            123_456_789_012_345_680.0,
            0.000_099_999,
            999_999.999_9,
            1e22,
        ];
        for x in xorshift(0x2545_f491_4f6c_dd1d).take(100_000) {
            let v = f64::from_bits(x);
            if v.is_finite() {
                values.push(v);
            }
            // Values near the layout boundaries and with few digits, as samples have.
            values.push((x % 10_000_000) as f64 / 10f64.powi((x >> 60) as i32));
        }
        let mut ties = 0;
        for v in values {
            for v in [v, -v] {
                if v == 0.0 || v.abs() == 1.0 {
                    continue;
                }
                let (ours, reference) = (format_float(v), via_core_fmt(v));
                if ours != reference {
                    // An exact tie between two shortest digit strings: Go's Ryu (and ours)
                    // round half to even (`ryuDigits32` in Go's strconv/ftoaryu.go), core::fmt
                    // rounds up. Both must still read back as `v`.
                    let mantissa = |s: &str| s.split('e').next().unwrap().replace(['.', '-'], "");
                    let (m, r) = (mantissa(&ours), mantissa(&reference));
                    assert_eq!(m.len(), r.len(), "{v:e}: {ours} vs {reference}");
                    assert_eq!(ours.parse::<f64>().unwrap(), v, "{ours}");
                    assert_eq!(reference.parse::<f64>().unwrap(), v, "{reference}");
                    assert_eq!((m.as_bytes()[m.len() - 1] - b'0') % 2, 0, "{v:e}: {ours}");
                    ties += 1;
                }
            }
        }
        assert!(ties < 100, "{ties} ties");
    }

    /// The few-decimals path finds Ryu's digits and exponent whenever it answers, on values
    /// of up to 15 digits with up to 12 decimals (some beyond what it takes) and on random
    /// bit patterns; and it answers for the usual shapes.
    #[test]
    fn few_decimals_match_ryu() {
        let mut values = vec![
            0.01, 919.919, 9.945e-6, 85.02, 0.15, 0.3, 123_456.78, 6.11e-7,
        ];
        let answered = values.len();
        let mut rng = xorshift(0x1234_5678_9abc_def1);
        for _ in 0..300_000 {
            let (x, y) = (rng.next().unwrap(), rng.next().unwrap());
            let n = x % 10u64.pow(1 + (y % 16) as u32);
            values.push(n as f64 / 10f64.powi((y >> 8) as i32 % 13));
            values.push(f64::from_bits(x).abs());
        }
        for (i, v) in values.into_iter().enumerate() {
            if !v.is_finite() || v == 0.0 || v.fract() == 0.0 {
                continue;
            }
            let mut fast = [0u8; 24];
            let Some((len, exp)) = few_decimals(v, &mut fast) else {
                assert!(i >= answered, "{v:e} not answered");
                continue;
            };
            let mut slow = [0u8; 24];
            let text = ryu::Buffer::new().format_finite(v).to_owned();
            let (slow_len, slow_exp) = shortest_digits(text.as_bytes(), &mut slow);
            assert_eq!(
                (&fast[..len], exp),
                (&slow[..slow_len], slow_exp),
                "{v:e} ({text})"
            );
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
            // 1149636667324797.25: exactly between the 17-digit candidates ...972 and ...973.
            // Go rounds the tie to even (strconv/ftoaryu.go, `ryuDigits32`); core::fmt's
            // `{:e}`, which nodex used before Ryu, wrote ...973.
            (1_149_636_667_324_797.0 + 0.25, "1.1496366673247972e+15"),
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
