//! INCRBYFLOAT's number type. Redis adds in C `long double`, which on x86-64 is the x87
//! 80-bit format (64-bit significand), parses with `strtold` and prints with `"%.17Lf"`
//! minus trailing zeros. Doing the same in f64 gives different digits as soon as a value
//! needs more than 53 bits (`123456789.123456789` plus anything), so this module does the
//! arithmetic in software: `rustc_apfloat` (LLVM's APFloat) parses and adds with the same
//! rounding as the x87 unit, and [`LongDouble::to_human`] prints the exact binary value
//! rounded to 17 decimals.

use rustc_apfloat::ieee::X87DoubleExtended;
use rustc_apfloat::{Float, Round, Status};

/// Redis's `MAX_LONG_DOUBLE_CHARS`: longer inputs are not valid floats.
const TEXT_LEN_MAX: usize = 5 * 1024;

/// Decimals `"%.17Lf"` prints.
const DECIMALS: u32 = 17;

#[derive(Clone, Copy, Debug)]
pub struct LongDouble(X87DoubleExtended);

impl LongDouble {
    pub const ZERO: LongDouble = LongDouble(X87DoubleExtended::ZERO);

    /// Redis's `string2ld`: what `strtold` accepts for the whole input, with no leading
    /// space, not NaN, and not out of range (overflow, or underflow to zero).
    pub fn parse(text: &[u8]) -> Option<LongDouble> {
        if text.is_empty() || text.len() >= TEXT_LEN_MAX {
            return None;
        }
        let text = std::str::from_utf8(text).ok()?;
        let (negative, body) = match text.as_bytes()[0] {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let lower = body.to_ascii_lowercase();
        let value = if lower == "inf" || lower == "infinity" {
            X87DoubleExtended::INFINITY
        } else if let Some(hex) = lower.strip_prefix("0x") {
            if !is_hex_float(hex) {
                return None;
            }
            // APFloat wants a binary exponent; strtold treats a missing one as p0.
            let hex = if hex.contains('p') {
                format!("0x{hex}")
            } else {
                format!("0x{hex}p0")
            };
            checked(X87DoubleExtended::from_str_r(&hex, Round::NearestTiesToEven).ok()?)?
        } else {
            if !is_decimal_float(&lower) {
                return None;
            }
            checked(X87DoubleExtended::from_str_r(&lower, Round::NearestTiesToEven).ok()?)?
        };
        Some(LongDouble(if negative { -value } else { value }))
    }

    pub fn is_finite(self) -> bool {
        self.0.is_finite()
    }

    /// Redis's `ld2string(..., LD_STR_HUMAN)`: `"%.17Lf"`, trailing zeros (and a trailing
    /// point) removed, `-0` printed as `0`. Only for finite values.
    pub fn to_human(self) -> String {
        debug_assert!(self.is_finite());
        let bits = self.0.to_bits();
        let significand = bits as u64;
        let biased = ((bits >> 64) & 0x7fff) as i32;
        let negative = (bits >> 79) & 1 == 1;
        // value = significand * 2^exponent (the integer bit is explicit in this format).
        let exponent = biased.max(1) - 16383 - 63;
        let mut digits = if exponent >= 0 {
            // An integer: its decimal digits, then the 17 zero decimals.
            let mut n = BigDecimal::from_u64(significand);
            n.shift_left(exponent as u32);
            let mut s = n.to_decimal_string();
            s.extend(std::iter::repeat_n('0', DECIMALS as usize));
            s
        } else {
            scaled_rounded(significand, (-exponent) as u32).to_string()
        };
        // `digits` is round(|value| * 10^17): put the point 17 digits from the right.
        if digits.len() <= DECIMALS as usize {
            let pad = DECIMALS as usize + 1 - digits.len();
            digits.insert_str(0, &"0".repeat(pad));
        }
        digits.insert(digits.len() - DECIMALS as usize, '.');
        let trimmed = digits.trim_end_matches('0').trim_end_matches('.');
        if negative && trimmed != "0" {
            format!("-{trimmed}")
        } else {
            trimmed.to_string()
        }
    }
}

impl std::ops::Add for LongDouble {
    type Output = LongDouble;

    /// Rounded to nearest, ties to even: the x87 unit's default.
    fn add(self, other: LongDouble) -> LongDouble {
        LongDouble(self.0.add_r(other.0, Round::NearestTiesToEven).value)
    }
}

/// Keeps a parse result unless strtold would have flagged it ERANGE and Redis rejected it:
/// overflow to infinity, or underflow all the way to zero.
fn checked(parsed: rustc_apfloat::StatusAnd<X87DoubleExtended>) -> Option<X87DoubleExtended> {
    let value = parsed.value;
    if parsed.status.contains(Status::OVERFLOW) || value.is_infinite() || value.is_nan() {
        return None;
    }
    if parsed.status.contains(Status::UNDERFLOW) && value.is_zero() {
        return None;
    }
    Some(value)
}

/// `digits [. digits] [e [sign] decimal digits]` with at least one mantissa digit (lower
/// case).
fn is_decimal_float(s: &str) -> bool {
    is_float_syntax(s, |c| c.is_ascii_digit(), b'e')
}

/// `hexdigits [. hexdigits] [p [sign] decimal digits]`, after the `0x`.
fn is_hex_float(s: &str) -> bool {
    is_float_syntax(s, |c| c.is_ascii_hexdigit(), b'p')
}

fn is_float_syntax(s: &str, is_digit: impl Fn(&u8) -> bool, exponent_mark: u8) -> bool {
    let b = s.as_bytes();
    let int_digits = b.iter().take_while(|c| is_digit(c)).count();
    let mut i = int_digits;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = b[i..].iter().take_while(|c| is_digit(c)).count();
        i += frac_digits;
    }
    if int_digits + frac_digits == 0 {
        return false;
    }
    if b.get(i) == Some(&exponent_mark) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if exp_digits == 0 {
            return false;
        }
        i += exp_digits;
    }
    i == b.len()
}

/// round(significand * 10^17 / 2^shift), ties to even (glibc's printf in the default
/// rounding mode). significand * 10^17 < 2^64 * 2^57 fits in a u128.
fn scaled_rounded(significand: u64, shift: u32) -> u128 {
    let scaled = u128::from(significand) * 10u128.pow(DECIMALS);
    if shift >= 128 {
        return 0; // scaled < 2^121 <= half of 2^shift
    }
    let quotient = scaled >> shift;
    let remainder = scaled & ((1u128 << shift) - 1);
    let half = 1u128 << (shift - 1);
    if remainder > half || (remainder == half && quotient & 1 == 1) {
        quotient + 1
    } else {
        quotient
    }
}

/// A non-negative integer in base 10^9 limbs, least significant first: just enough to print
/// `significand * 2^k` for the largest long doubles (about 4,900 digits).
struct BigDecimal(Vec<u32>);

const LIMB: u64 = 1_000_000_000;

impl BigDecimal {
    fn from_u64(mut v: u64) -> BigDecimal {
        let mut limbs = Vec::new();
        while v > 0 {
            limbs.push((v % LIMB) as u32);
            v /= LIMB;
        }
        BigDecimal(limbs)
    }

    fn shift_left(&mut self, mut bits: u32) {
        while bits > 0 {
            let step = bits.min(30);
            bits -= step;
            let mut carry = 0u64;
            for limb in &mut self.0 {
                let v = (u64::from(*limb) << step) + carry;
                *limb = (v % LIMB) as u32;
                carry = v / LIMB;
            }
            while carry > 0 {
                self.0.push((carry % LIMB) as u32);
                carry /= LIMB;
            }
        }
    }

    fn to_decimal_string(&self) -> String {
        let Some((top, rest)) = self.0.split_last() else {
            return "0".into();
        };
        let mut s = top.to_string();
        for limb in rest.iter().rev() {
            s.push_str(&format!("{limb:09}"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incr(a: &str, b: &str) -> String {
        let a = LongDouble::parse(a.as_bytes()).unwrap();
        let b = LongDouble::parse(b.as_bytes()).unwrap();
        (a + b).to_human()
    }

    /// Replies of redis-server 7.0 on x86-64 for the same INCRBYFLOAT calls.
    #[test]
    fn sums_print_like_redis() {
        assert_eq!(incr("0.1", "0.2"), "0.3");
        assert_eq!(
            incr("0.3", "100000000000000000"),
            "100000000000000000.296875"
        );
        assert_eq!(
            incr("1.805", "123456789.123456789"),
            "123456790.9284567889990285"
        );
        assert_eq!(incr("10.5", "0.1"), "10.6");
        assert_eq!(incr("5.0e3", "2.0e2"), "5200");
        assert_eq!(incr("3.0", "-3"), "0");
        assert_eq!(incr("-1", "0.5"), "-0.5");
        assert_eq!(incr("0", "1e-30"), "0");
        assert_eq!(incr("0", "-1e-30"), "0");
        assert_eq!(incr("0", "1e20"), "100000000000000000000");
        assert_eq!(incr("0", "0x10"), "16");
        assert_eq!(incr("0", "0x1p-2"), "0.25");
    }

    #[test]
    fn largest_values_print_every_digit() {
        let max = LongDouble(X87DoubleExtended::largest()).to_human();
        assert_eq!(max.len(), 4933);
        assert!(max.starts_with("118973149535723176"), "{}", &max[..20]);
    }

    #[test]
    fn rejects_what_string2ld_rejects() {
        for bad in [
            "", " 1", "1 ", "abc", "1e", "e5", ".", "1.2.3", "nan", "-nan", "1e99999", "1e-99999",
            "0x", "0xg", "--1", "+-1",
        ] {
            assert!(LongDouble::parse(bad.as_bytes()).is_none(), "{bad:?}");
        }
        for good in [
            "1",
            "-1.5",
            "+2",
            ".5",
            "5.",
            "1e5",
            "1E-5",
            "inf",
            "-Infinity",
            "0x1.8p1",
        ] {
            assert!(LongDouble::parse(good.as_bytes()).is_some(), "{good:?}");
        }
        assert!(!LongDouble::parse(b"inf").unwrap().is_finite());
    }
}
