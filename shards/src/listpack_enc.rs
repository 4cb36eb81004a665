//! The entry encoding of [`super::Listpack`]: headers, integer widths, back lengths, and the
//! canonical-integer test that decides whether a pushed string is stored as an integer.

use super::LpValue;

/// Strings up to this length get the 1-byte header.
const STR6_MAX: usize = 63;
/// Strings up to this length get the 2-byte header.
const STR12_MAX: usize = 4095;

const ENC_STR32: u8 = 0xF0;
const ENC_I16: u8 = 0xF1;
const ENC_I24: u8 = 0xF2;
const ENC_I32: u8 = 0xF3;
const ENC_I64: u8 = 0xF4;

/// How a value will be stored: decided once, then sized and written.
#[derive(Clone, Copy)]
pub(super) enum Enc<'a> {
    Str(&'a [u8]),
    Int(i64),
}

impl<'a> Enc<'a> {
    pub(super) fn of(v: &'a [u8]) -> Enc<'a> {
        match parse_canonical_i64(v) {
            Some(i) => Enc::Int(i),
            None => Enc::Str(v),
        }
    }

    /// Header + data bytes.
    pub(super) fn body_len(self) -> usize {
        match self {
            Enc::Int(i) => int_body_len(i),
            Enc::Str(s) => {
                let l = s.len();
                if l <= STR6_MAX {
                    1 + l
                } else if l <= STR12_MAX {
                    2 + l
                } else {
                    5 + l
                }
            }
        }
    }

    pub(super) fn total_len(self) -> usize {
        let b = self.body_len();
        b + backlen_size(b)
    }

    /// Writes the whole entry into `out`, which is exactly `total_len()` bytes.
    pub(super) fn write(self, out: &mut [u8]) {
        let body = self.body_len();
        match self {
            Enc::Int(i) => write_int(i, out),
            Enc::Str(s) => {
                let l = s.len();
                let h = if l <= STR6_MAX {
                    out[0] = 0x80 | l as u8;
                    1
                } else if l <= STR12_MAX {
                    out[0] = 0xE0 | (l >> 8) as u8;
                    out[1] = l as u8;
                    2
                } else {
                    out[0] = ENC_STR32;
                    out[1..5].copy_from_slice(&(l as u32).to_le_bytes());
                    5
                };
                out[h..h + l].copy_from_slice(s);
            }
        }
        write_backlen(body, &mut out[body..]);
    }
}

pub(super) fn int_body_len(i: i64) -> usize {
    if (0..=127).contains(&i) {
        1
    } else if (-4096..=4095).contains(&i) {
        2
    } else if i16::try_from(i).is_ok() {
        3
    } else if (-(1 << 23)..(1 << 23)).contains(&i) {
        4
    } else if i32::try_from(i).is_ok() {
        5
    } else {
        9
    }
}

pub(super) fn write_int(i: i64, out: &mut [u8]) {
    let le = i.to_le_bytes();
    match int_body_len(i) {
        1 => out[0] = i as u8,
        2 => {
            let u = (i as u16) & 0x1FFF;
            out[0] = 0xC0 | (u >> 8) as u8;
            out[1] = u as u8;
        }
        3 => {
            out[0] = ENC_I16;
            out[1..3].copy_from_slice(&le[..2]);
        }
        4 => {
            out[0] = ENC_I24;
            out[1..4].copy_from_slice(&le[..3]);
        }
        5 => {
            out[0] = ENC_I32;
            out[1..5].copy_from_slice(&le[..4]);
        }
        _ => {
            out[0] = ENC_I64;
            out[1..9].copy_from_slice(&le);
        }
    }
}

pub(super) fn backlen_size(body: usize) -> usize {
    match body {
        0..=0x7F => 1,
        0x80..=0x3FFF => 2,
        0x4000..=0x1F_FFFF => 3,
        0x20_0000..=0xFFF_FFFF => 4,
        _ => 5,
    }
}

/// Writes `body` in 7-bit groups, least significant group last (rightmost).
pub(super) fn write_backlen(body: usize, out: &mut [u8]) {
    let n = backlen_size(body);
    for (i, b) in out[..n].iter_mut().enumerate() {
        let group = n - 1 - i;
        let more = if group < n - 1 { 0x80 } else { 0 };
        *b = ((body >> (7 * group)) & 0x7F) as u8 | more;
    }
}

/// Reads the backlen ending just before `end`: (body length, backlen bytes).
pub(super) fn read_backlen(buf: &[u8], end: usize) -> (usize, usize) {
    let mut val = 0usize;
    let mut i = end;
    let mut shift = 0;
    loop {
        i -= 1;
        let b = buf[i];
        val |= ((b & 0x7F) as usize) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            return (val, end - i);
        }
    }
}

/// Decodes the entry starting at `p`: (value, header + data length).
#[inline]
pub(super) fn decode(buf: &[u8], p: usize) -> (LpValue<'_>, usize) {
    let h = buf[p];
    if h < 0x80 {
        (LpValue::Int(h as i64), 1)
    } else if h < 0xC0 {
        let l = (h & 0x3F) as usize;
        (LpValue::Str(&buf[p + 1..p + 1 + l]), 1 + l)
    } else if h < 0xE0 {
        let u = (((h & 0x1F) as i64) << 8) | buf[p + 1] as i64;
        let v = if u & 0x1000 != 0 { u - 0x2000 } else { u };
        (LpValue::Int(v), 2)
    } else if h < 0xF0 {
        let l = (((h & 0x0F) as usize) << 8) | buf[p + 1] as usize;
        (LpValue::Str(&buf[p + 2..p + 2 + l]), 2 + l)
    } else {
        let sign_ext = |bytes: &[u8]| -> i64 {
            let mut le = [0u8; 8];
            le[..bytes.len()].copy_from_slice(bytes);
            let shift = 64 - 8 * bytes.len() as u32;
            (i64::from_le_bytes(le) << shift) >> shift
        };
        match h {
            ENC_STR32 => {
                let l = u32::from_le_bytes(buf[p + 1..p + 5].try_into().unwrap()) as usize;
                (LpValue::Str(&buf[p + 5..p + 5 + l]), 5 + l)
            }
            ENC_I16 => (LpValue::Int(sign_ext(&buf[p + 1..p + 3])), 3),
            ENC_I24 => (LpValue::Int(sign_ext(&buf[p + 1..p + 4])), 4),
            ENC_I32 => (LpValue::Int(sign_ext(&buf[p + 1..p + 5])), 5),
            ENC_I64 => (LpValue::Int(sign_ext(&buf[p + 1..p + 9])), 9),
            _ => unreachable!("corrupt listpack header {h:#x}"),
        }
    }
}

/// Header + data length of the entry at `p`, without building its value.
#[inline]
pub(super) fn body_len_at(buf: &[u8], p: usize) -> usize {
    let h = buf[p];
    if h < 0x80 {
        1
    } else if h < 0xC0 {
        1 + (h & 0x3F) as usize
    } else if h < 0xE0 {
        2
    } else if h < 0xF0 {
        2 + ((((h & 0x0F) as usize) << 8) | buf[p + 1] as usize)
    } else {
        match h {
            ENC_STR32 => 5 + u32::from_le_bytes(buf[p + 1..p + 5].try_into().unwrap()) as usize,
            ENC_I16 => 3,
            ENC_I24 => 4,
            ENC_I32 => 5,
            _ => 9,
        }
    }
}

#[inline]
pub(super) fn entry_len_at(buf: &[u8], p: usize) -> usize {
    let b = body_len_at(buf, p);
    b + backlen_size(b)
}

/// `Some(i)` when `v` is exactly `i.to_string()` (no sign on zero, no leading zeros, no '+').
pub fn parse_canonical_i64(v: &[u8]) -> Option<i64> {
    if v.is_empty() || v.len() > 20 {
        return None;
    }
    let (neg, digits) = if v[0] == b'-' {
        (true, &v[1..])
    } else {
        (false, v)
    };
    if digits.is_empty() || (digits[0] == b'0' && (digits.len() > 1 || neg)) {
        return None;
    }
    let mut acc: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        acc = acc.checked_mul(10)?.checked_add((d - b'0') as u64)?;
    }
    if neg {
        if acc > i64::MAX as u64 + 1 {
            None
        } else {
            Some((acc as i64).wrapping_neg())
        }
    } else {
        i64::try_from(acc).ok()
    }
}

/// Decimal digits of `i` into `buf`, returning the used tail.
pub fn format_i64(i: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut n = i.unsigned_abs();
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if i < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    &buf[at..]
}
