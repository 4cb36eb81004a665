//! Integer and double text conversions with Redis's exact rules: `string2ll`'s strict integer
//! grammar, fast decimal formatting, and the `%.17g` double format of Redis 7.0's replies.

use std::fmt::Write as _;

/// Parses a decimal `i64` the way Redis's `string2ll` does: optional `-`, no `+`, no leading
/// zeros (except `0` itself), no spaces, no `-0`, at most 20 bytes, overflow rejected.
pub fn parse_i64_exact(text: &[u8]) -> Option<i64> {
    // LONG_STR_SIZE (21) in Redis: longer inputs fail before any digit is looked at.
    if text.is_empty() || text.len() > 20 {
        return None;
    }
    if text == b"0" {
        return Some(0);
    }
    let (negative, digits) = match text[0] {
        b'-' => (true, &text[1..]),
        _ => (false, text),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut magnitude: u64 = 0;
    for &byte in digits {
        if !byte.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude
            .checked_mul(10)?
            .checked_add(u64::from(byte - b'0'))?;
    }
    if negative {
        if magnitude > i64::MAX as u64 + 1 {
            return None;
        }
        Some((magnitude as i64).wrapping_neg())
    } else {
        i64::try_from(magnitude).ok()
    }
}

const DIGIT_PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Appends the decimal digits of `value`.
pub fn write_u64(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    while value >= 100 {
        let pair = (value % 100) as usize * 2;
        value /= 100;
        start -= 2;
        digits[start..start + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if value >= 10 {
        let pair = value as usize * 2;
        start -= 2;
        digits[start..start + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else {
        start -= 1;
        digits[start] = b'0' + value as u8;
    }
    out.extend_from_slice(&digits[start..]);
}

/// Appends `value` in decimal, with a `-` when negative.
pub fn write_i64(out: &mut Vec<u8>, value: i64) {
    if value < 0 {
        out.push(b'-');
    }
    write_u64(out, value.unsigned_abs());
}

/// Number of bytes [`write_u64`] appends for `value`.
pub fn decimal_len_u64(value: u64) -> usize {
    value.checked_ilog10().map_or(1, |log| log as usize + 1)
}

/// Appends `value` as C's `printf("%.17g")` prints it, with `inf`, `-inf` and `nan` spelled
/// the way Redis 7.0 spells them. This is what Redis 7.0's `addReplyDouble` sends for ZSCORE,
/// ZINCRBY, ZADD INCR and WITHSCORES (`1.1` → `1.1000000000000001`, `1e18` → `1e+18`).
pub fn write_double_g17(out: &mut Vec<u8>, value: f64) {
    if value.is_nan() {
        out.extend_from_slice(b"nan");
        return;
    }
    if value.is_infinite() {
        out.extend_from_slice(if value > 0.0 { b"inf" } else { b"-inf" });
        return;
    }
    if value == 0.0 {
        out.extend_from_slice(if value.is_sign_negative() {
            b"-0"
        } else {
            b"0"
        });
        return;
    }
    // A whole number below 10^16 has at most 16 digits: %.17g prints it exactly, in fixed
    // notation, with no fraction. Scores are often such numbers; this skips exact formatting.
    if value.fract() == 0.0 && value.abs() < 1e16 {
        write_i64(out, value as i64);
        return;
    }
    // 17 significant digits, correctly rounded: "d.dddddddddddddddde<exp>".
    let mut scientific = StackText::new();
    write!(scientific, "{:.16e}", value.abs()).expect("a finite f64 fits in 32 bytes");
    let text = scientific.as_bytes();
    let e_at = text
        .iter()
        .position(|&b| b == b'e')
        .expect("{:e} has an exponent");
    let exponent: i32 = std::str::from_utf8(&text[e_at + 1..])
        .ok()
        .and_then(|e| e.parse().ok())
        .expect("{:e} exponent is an integer");
    let mut digits = [0u8; 17];
    digits[0] = text[0];
    digits[1..].copy_from_slice(&text[2..e_at]);
    // %g drops trailing zeros of the fraction.
    let mut digit_count = digits.len();
    while digit_count > 1 && digits[digit_count - 1] == b'0' {
        digit_count -= 1;
    }
    let digits = &digits[..digit_count];
    if value < 0.0 {
        out.push(b'-');
    }
    if (-4..17).contains(&exponent) {
        write_fixed(out, digits, exponent);
    } else {
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if exponent < 0 { b'-' } else { b'+' });
        let magnitude = exponent.unsigned_abs();
        if magnitude < 10 {
            out.push(b'0');
        }
        write_u64(out, u64::from(magnitude));
    }
}

/// Fixed notation of `0.d1d2d3... * 10^(exponent+1)` for %g's fixed branch.
fn write_fixed(out: &mut Vec<u8>, digits: &[u8], exponent: i32) {
    if exponent < 0 {
        out.extend_from_slice(b"0.");
        for _ in 0..(-exponent - 1) {
            out.push(b'0');
        }
        out.extend_from_slice(digits);
        return;
    }
    let integer_len = exponent as usize + 1;
    if digits.len() <= integer_len {
        out.extend_from_slice(digits);
        out.resize(out.len() + integer_len - digits.len(), b'0');
    } else {
        out.extend_from_slice(&digits[..integer_len]);
        out.push(b'.');
        out.extend_from_slice(&digits[integer_len..]);
    }
}

/// Appends `value` as Redis 7.0's `d2string` does (used where scores are stored as text, e.g.
/// listpack-encoded sorted sets): integral values in (-2^52, 2^52) as integers, others as
/// [`write_double_g17`].
pub fn write_double_d2string(out: &mut Vec<u8>, value: f64) {
    const SAFE_INTEGER_MAX: f64 = 4_503_599_627_370_496.0; // 2^52
    if value != 0.0
        && value > -(SAFE_INTEGER_MAX - 1.0)
        && value < SAFE_INTEGER_MAX
        && value == (value as i64) as f64
    {
        write_i64(out, value as i64);
    } else {
        write_double_g17(out, value);
    }
}

/// A small on-stack text buffer for `write!` without allocating.
struct StackText {
    bytes: [u8; 32],
    len: usize,
}

impl StackText {
    fn new() -> Self {
        StackText {
            bytes: [0; 32],
            len: 0,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl std::fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.bytes.len() {
            return Err(std::fmt::Error);
        }
        self.bytes[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g17(value: f64) -> String {
        let mut out = Vec::new();
        write_double_g17(&mut out, value);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn parse_i64_exact_follows_string2ll() {
        assert_eq!(parse_i64_exact(b"0"), Some(0));
        assert_eq!(parse_i64_exact(b"123"), Some(123));
        assert_eq!(parse_i64_exact(b"-123"), Some(-123));
        assert_eq!(parse_i64_exact(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64_exact(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"00",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"1x",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"99999999999999999999",
            b"000000000000000000001",
        ] {
            assert_eq!(
                parse_i64_exact(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn write_integers_matches_std() {
        for value in [0, 1, 9, 10, 99, 100, 12345, -1, -10, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            write_i64(&mut out, value);
            assert_eq!(out, value.to_string().as_bytes());
        }
        for value in [0u64, 9, 10, 99, 100, 999, 1000, u64::MAX] {
            assert_eq!(decimal_len_u64(value), value.to_string().len());
        }
    }

    #[test]
    fn g17_matches_redis_7_0_replies() {
        // Observed from redis-server 7.0.15 ZSCORE replies.
        assert_eq!(g17(1.0), "1");
        assert_eq!(g17(1.1), "1.1000000000000001");
        assert_eq!(g17(1e18), "1e+18");
        assert_eq!(g17(4611686018427387904.0), "4.6116860184273879e+18");
        assert_eq!(g17(1e300), "1.0000000000000001e+300");
        assert_eq!(g17(0.1), "0.10000000000000001");
        assert_eq!(g17(123456789012345678.0), "1.2345678901234568e+17");
        assert_eq!(g17(f64::INFINITY), "inf");
        assert_eq!(g17(f64::NEG_INFINITY), "-inf");
        assert_eq!(g17(f64::NAN), "nan");
        assert_eq!(g17(0.0), "0");
        assert_eq!(g17(-0.0), "-0");
        // printf("%.17g") reference values.
        assert_eq!(g17(-2.5), "-2.5");
        assert_eq!(g17(0.0001), "0.0001");
        assert_eq!(g17(0.00001), "1.0000000000000001e-05");
        assert_eq!(g17(1e16), "10000000000000000");
        assert_eq!(g17(1e17), "1e+17");
        assert_eq!(g17(123.456), "123.456");
        assert_eq!(g17(5e-324), "4.9406564584124654e-324");
        assert_eq!(g17(f64::MAX), "1.7976931348623157e+308");
        // Whole numbers on either side of the integer shortcut's bound.
        assert_eq!(g17(-42.0), "-42");
        assert_eq!(g17(99999.0), "99999");
        assert_eq!(g17(9999999999999998.0), "9999999999999998");
        assert_eq!(g17(-1e16), "-10000000000000000");
        assert_eq!(g17(12345678901234568.0), "12345678901234568");
    }

    #[test]
    fn d2string_prints_safe_integers_as_integers() {
        let d2 = |value: f64| {
            let mut out = Vec::new();
            write_double_d2string(&mut out, value);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(d2(3.0), "3");
        assert_eq!(d2(-42.0), "-42");
        assert_eq!(d2(1e15), "1000000000000000");
        assert_eq!(d2(1e18), "1e+18");
        assert_eq!(d2(1.5), "1.5");
        assert_eq!(d2(-0.0), "-0");
        assert_eq!(d2(f64::NAN), "nan");
    }

    #[test]
    fn g17_round_trips() {
        for value in [1.1, -3.75, 1e-7, 6.02214076e23, 1.0 / 3.0, 2.0f64.powi(70)] {
            assert_eq!(g17(value).parse::<f64>().unwrap(), value);
        }
    }
}
