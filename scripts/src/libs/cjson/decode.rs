//! `cjson.decode`: JSON text to Lua values, as lua-cjson reads it.
//!
//! Objects and arrays become tables, null becomes `cjson.null`, numbers are read with C's
//! `strtod` rules (so with `decode_invalid_numbers` on, the default, also hex, `inf`, `nan`,
//! leading zeros and a leading `+`). Strings take `\uXXXX` escapes, surrogate pairs included,
//! to UTF-8 and pass other bytes through unchecked. The text ends at its first NUL byte, as a C
//! string does. Errors name what was expected, what was found and the (1-based) position.

use mlua::{Lua, LuaString, Table, Value};

use super::Config;
use crate::libs::{error, Fail, Spill, MAX_C_STACK};

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    String,
    Number,
    Boolean,
    Null,
    Colon,
    Comma,
    End,
    Whitespace,
    Error,
    Unknown,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::ObjBegin => "T_OBJ_BEGIN",
            Kind::ObjEnd => "T_OBJ_END",
            Kind::ArrBegin => "T_ARR_BEGIN",
            Kind::ArrEnd => "T_ARR_END",
            Kind::String => "T_STRING",
            Kind::Number => "T_NUMBER",
            Kind::Boolean => "T_BOOLEAN",
            Kind::Null => "T_NULL",
            Kind::Colon => "T_COLON",
            Kind::Comma => "T_COMMA",
            Kind::End => "T_END",
            Kind::Whitespace => "T_WHITESPACE",
            Kind::Error => "T_ERROR",
            Kind::Unknown => "T_UNKNOWN",
        }
    }

    /// lua-cjson's `ch2token` table.
    fn of(c: u8) -> Kind {
        match c {
            b'{' => Kind::ObjBegin,
            b'}' => Kind::ObjEnd,
            b'[' => Kind::ArrBegin,
            b']' => Kind::ArrEnd,
            b',' => Kind::Comma,
            b':' => Kind::Colon,
            0 => Kind::End,
            b' ' | b'\t' | b'\n' | b'\r' => Kind::Whitespace,
            b'f' | b'i' | b'I' | b'n' | b'N' | b't' | b'"' | b'+' | b'-' | b'0'..=b'9' => {
                Kind::Unknown
            }
            _ => Kind::Error,
        }
    }
}

struct Token {
    kind: Kind,
    /// Where the token starts (where the error is, for `Kind::Error`), from 0.
    index: usize,
    number: f64,
    boolean: bool,
    /// What is wrong, for `Kind::Error`.
    error: &'static str,
}

struct Parser<'a> {
    lua: &'a Lua,
    cfg: &'a Config,
    /// The text followed by its NUL terminator.
    data: &'a [u8],
    pos: usize,
    /// The value of the last string token.
    tmp: Vec<u8>,
    depth: i32,
    /// Stack slots the C parser would be using: the argument, then a table per array level and
    /// a table and a key per object level.
    top: i64,
}

fn hex_digit(c: u8) -> Option<u32> {
    (c as char).to_digit(16)
}

impl Parser<'_> {
    /// The byte at `i`; reading past the terminator gives NUL too.
    fn at(&self, i: usize) -> u8 {
        self.data.get(i).copied().unwrap_or(0)
    }

    fn starts_with(&self, i: usize, s: &[u8]) -> bool {
        s.iter().enumerate().all(|(k, &c)| self.at(i + k) == c)
    }

    fn starts_with_ignore_case(&self, i: usize, s: &[u8]) -> bool {
        s.iter()
            .enumerate()
            .all(|(k, &c)| self.at(i + k).eq_ignore_ascii_case(&c))
    }

    fn token(&self, kind: Kind) -> Token {
        Token {
            kind,
            index: self.pos,
            number: 0.0,
            boolean: false,
            error: "",
        }
    }

    fn error_token(&self, what: &'static str) -> Token {
        Token {
            kind: Kind::Error,
            index: self.pos,
            number: 0.0,
            boolean: false,
            error: what,
        }
    }

    /// `decode_hex4` at `i`.
    fn hex4(&self, i: usize) -> Option<u32> {
        (0..4).try_fold(0, |acc, k| Some((acc << 4) | hex_digit(self.at(i + k))?))
    }

    /// `json_append_unicode_escape` at a backslash followed by `u`: appends the UTF-8 of the
    /// escape (or surrogate pair) and moves past it.
    fn unicode_escape(&mut self) -> Option<()> {
        let mut codepoint = self.hex4(self.pos + 2)?;
        let mut escape_len = 6;
        if codepoint & 0xF800 == 0xD800 {
            // A surrogate: it must be a high one, followed by an escaped low one.
            if codepoint & 0x400 != 0 {
                return None;
            }
            if self.at(self.pos + 6) != b'\\' || self.at(self.pos + 7) != b'u' {
                return None;
            }
            let low = self.hex4(self.pos + 8)?;
            if low & 0xFC00 != 0xDC00 {
                return None;
            }
            codepoint = (((codepoint & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000;
            escape_len = 12;
        }
        let mut buf = [0u8; 4];
        let utf8 = match codepoint {
            0..=0x7F => {
                buf[0] = codepoint as u8;
                &buf[..1]
            }
            0x80..=0x7FF => {
                buf[0] = (codepoint >> 6) as u8 | 0xC0;
                buf[1] = (codepoint & 0x3F) as u8 | 0x80;
                &buf[..2]
            }
            0x800..=0xFFFF => {
                buf[0] = (codepoint >> 12) as u8 | 0xE0;
                buf[1] = ((codepoint >> 6) & 0x3F) as u8 | 0x80;
                buf[2] = (codepoint & 0x3F) as u8 | 0x80;
                &buf[..3]
            }
            _ => {
                buf[0] = (codepoint >> 18) as u8 | 0xF0;
                buf[1] = ((codepoint >> 12) & 0x3F) as u8 | 0x80;
                buf[2] = ((codepoint >> 6) & 0x3F) as u8 | 0x80;
                buf[3] = (codepoint & 0x3F) as u8 | 0x80;
                &buf[..4]
            }
        };
        self.tmp.extend_from_slice(utf8);
        self.pos += escape_len;
        Some(())
    }

    /// `json_next_string_token`, at the opening quote.
    fn string_token(&mut self) -> Token {
        let start = self.pos;
        self.pos += 1;
        self.tmp.clear();
        loop {
            let ch = self.at(self.pos);
            match ch {
                b'"' => break,
                0 => return self.error_token("unexpected end of string"),
                b'\\' => {
                    let escaped = match self.at(self.pos + 1) {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => b'\x08',
                        b't' => b'\t',
                        b'n' => b'\n',
                        b'f' => b'\x0c',
                        b'r' => b'\r',
                        b'u' => {
                            if self.unicode_escape().is_none() {
                                return self.error_token("invalid unicode escape code");
                            }
                            continue;
                        }
                        _ => return self.error_token("invalid escape code"),
                    };
                    self.tmp.push(escaped);
                    self.pos += 2;
                }
                _ => {
                    self.tmp.push(ch);
                    self.pos += 1;
                }
            }
        }
        self.pos += 1;
        Token {
            index: start,
            ..self.token(Kind::String)
        }
    }

    /// `json_is_invalid_number`: forms `strtod` takes that strict JSON does not (a leading `+`,
    /// hex, leading zeros, inf, nan).
    fn is_invalid_number(&self) -> bool {
        let mut p = self.pos;
        if self.at(p) == b'+' {
            return true;
        }
        if self.at(p) == b'-' {
            p += 1;
        }
        let c = self.at(p);
        if c == b'0' {
            let c2 = self.at(p + 1);
            return c2 | 0x20 == b'x' || c2.is_ascii_digit();
        }
        // C compares a (signed) char: bytes from 0x80 count as "below '9'".
        if (c as i8) <= b'9' as i8 {
            return false;
        }
        self.starts_with_ignore_case(p, b"inf") || self.starts_with_ignore_case(p, b"nan")
    }

    fn number_token(&mut self) -> Token {
        let (value, len) = strtod(&self.data[self.pos.min(self.data.len())..]);
        if len == 0 {
            return self.error_token("invalid number");
        }
        let token = Token {
            number: value,
            ..self.token(Kind::Number)
        };
        self.pos += len;
        token
    }

    /// `json_next_token`.
    fn next_token(&mut self) -> Token {
        let mut kind;
        loop {
            kind = Kind::of(self.at(self.pos));
            if kind != Kind::Whitespace {
                break;
            }
            self.pos += 1;
        }
        match kind {
            Kind::Error => return self.error_token("invalid token"),
            Kind::End => return self.token(Kind::End),
            Kind::Unknown => {}
            _ => {
                let token = self.token(kind);
                self.pos += 1;
                return token;
            }
        }
        let ch = self.at(self.pos);
        if ch == b'"' {
            self.string_token()
        } else if ch == b'-' || ch.is_ascii_digit() {
            if self.cfg.decode_invalid_numbers == 0 && self.is_invalid_number() {
                return self.error_token("invalid number");
            }
            self.number_token()
        } else if self.starts_with(self.pos, b"true") {
            let token = Token {
                boolean: true,
                ..self.token(Kind::Boolean)
            };
            self.pos += 4;
            token
        } else if self.starts_with(self.pos, b"false") {
            let token = self.token(Kind::Boolean);
            self.pos += 5;
            token
        } else if self.starts_with(self.pos, b"null") {
            let token = self.token(Kind::Null);
            self.pos += 4;
            token
        } else if self.cfg.decode_invalid_numbers != 0 && self.is_invalid_number() {
            self.number_token()
        } else {
            self.error_token("invalid token")
        }
    }

    /// `json_throw_parse_error`.
    fn unexpected(&self, expected: &str, token: &Token) -> Fail {
        let found = if token.kind == Kind::Error {
            token.error
        } else {
            token.kind.name()
        };
        error(
            self.lua,
            format!(
                "Expected {expected} but found {found} at character {}",
                token.index + 1
            ),
        )
    }

    /// `json_decode_descend`: entering an array or object, which needs `slots` stack slots.
    fn descend(&mut self, slots: i64) -> Result<(), Fail> {
        self.depth += 1;
        if self.depth <= self.cfg.decode_max_depth && self.top + slots <= MAX_C_STACK {
            return Ok(());
        }
        Err(error(
            self.lua,
            format!(
                "Found too many nested data structures ({}) at character {}",
                self.depth, self.pos
            ),
        ))
    }

    /// In an object after `{` or `,`: the key and the colon, leaving the token after the colon
    /// (the value's) in `token`.
    fn object_key(&mut self, token: &mut Token) -> Result<LuaString, Fail> {
        if token.kind != Kind::String {
            return Err(self.unexpected("object key string", token));
        }
        let key = self.lua.create_string(&self.tmp)?;
        *token = self.next_token();
        if token.kind != Kind::Colon {
            return Err(self.unexpected("colon", token));
        }
        *token = self.next_token();
        Ok(key)
    }
}

/// An array or object being filled.
enum Frame {
    Array {
        next: i64,
    },
    /// `key` is the key whose value is being read.
    Object {
        key: Option<LuaString>,
    },
}

impl Frame {
    fn slots(&self) -> i64 {
        match self {
            Frame::Array { .. } => 1,
            Frame::Object { .. } => 2,
        }
    }
}

/// `json_decode`. Arrays and objects are filled with an explicit stack: the tables other than
/// the innermost (and their pending keys) wait in a spill table, so depth costs no Rust stack
/// and no mlua references. Depth fails where lua-cjson fails: past `decode_max_depth`, or where
/// its `lua_checkstack` would.
pub(super) fn decode(lua: &Lua, cfg: &Config, s: &LuaString) -> Result<Value, Fail> {
    let bytes = s.as_bytes_with_nul();
    let len = bytes.len() - 1;
    if len >= 2 && (bytes[0] == 0 || bytes[1] == 0) {
        return Err(error(lua, "JSON parser does not support UTF-16 or UTF-32"));
    }
    let mut p = Parser {
        lua,
        cfg,
        data: &bytes,
        pos: 0,
        tmp: Vec::new(),
        depth: 0,
        top: 1,
    };
    let mut frames: Vec<Frame> = Vec::new();
    let mut spill = Spill::new();
    let mut current: Option<Table> = None;
    let mut token = p.next_token();
    'value: loop {
        // `json_process_value`
        let mut v = match token.kind {
            Kind::String => Value::String(lua.create_string(&p.tmp)?),
            Kind::Number => Value::Number(token.number),
            Kind::Boolean => Value::Boolean(token.boolean),
            Kind::Null => Value::NULL,
            Kind::ObjBegin | Kind::ArrBegin => {
                let array = token.kind == Kind::ArrBegin;
                p.descend(if array { 2 } else { 3 })?;
                let table = lua.create_table()?;
                token = p.next_token();
                if token.kind == if array { Kind::ArrEnd } else { Kind::ObjEnd } {
                    p.depth -= 1;
                    Value::Table(table)
                } else {
                    if let Some(parent) = current.replace(table) {
                        spill.push(lua, Value::Table(parent))?;
                        if let Some(Frame::Object { key }) = frames.last_mut() {
                            spill.push(lua, Value::String(key.take().expect("pending key")))?;
                        }
                    }
                    let frame = if array {
                        Frame::Array { next: 1 }
                    } else {
                        Frame::Object {
                            key: Some(p.object_key(&mut token)?),
                        }
                    };
                    p.top += frame.slots();
                    frames.push(frame);
                    continue 'value;
                }
            }
            _ => return Err(p.unexpected("value", &token)),
        };
        // Store the value in the innermost container, closing those it completes.
        loop {
            let Some(frame) = frames.last_mut() else {
                token = p.next_token();
                if token.kind != Kind::End {
                    return Err(p.unexpected("the end", &token));
                }
                return Ok(v);
            };
            let table = current.as_ref().expect("open container");
            token = p.next_token();
            let closed = match frame {
                Frame::Array { next } => {
                    table.raw_set(*next, v)?;
                    *next += 1;
                    if token.kind == Kind::ArrEnd {
                        true
                    } else if token.kind != Kind::Comma {
                        return Err(p.unexpected("comma or array end", &token));
                    } else {
                        token = p.next_token();
                        false
                    }
                }
                Frame::Object { key } => {
                    table.raw_set(key.take().expect("pending key"), v)?;
                    if token.kind == Kind::ObjEnd {
                        true
                    } else if token.kind != Kind::Comma {
                        return Err(p.unexpected("comma or object end", &token));
                    } else {
                        token = p.next_token();
                        *key = Some(p.object_key(&mut token)?);
                        false
                    }
                }
            };
            if !closed {
                continue 'value;
            }
            p.top -= frame.slots();
            p.depth -= 1;
            frames.pop();
            v = Value::Table(current.take().expect("open container"));
            if let Some(parent) = frames.last_mut() {
                if let Frame::Object { key } = parent {
                    *key = match spill.pop()? {
                        Value::String(k) => Some(k),
                        _ => unreachable!("spilled key is not a string"),
                    };
                }
                current = Some(spill.pop_table()?);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// strtod

/// glibc's `strtod` on the start of `s`: the value and how many bytes it read (0: no number).
/// Decimal (correctly rounded), hexadecimal with an optional binary exponent, `inf`/`infinity`
/// and `nan`/`nan(chars)` in any case, each with an optional sign.
pub(super) fn strtod(s: &[u8]) -> (f64, usize) {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let mut i = 0;
    while matches!(at(i), b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') {
        i += 1;
    }
    let negative = at(i) == b'-';
    if matches!(at(i), b'-' | b'+') {
        i += 1;
    }
    let sign = |v: f64| if negative { -v } else { v };
    let prefix = |i: usize, p: &[u8]| {
        p.iter()
            .enumerate()
            .all(|(k, c)| at(i + k).eq_ignore_ascii_case(c))
    };
    if prefix(i, b"inf") {
        let len = if prefix(i, b"infinity") { i + 8 } else { i + 3 };
        return (sign(f64::INFINITY), len);
    }
    if prefix(i, b"nan") {
        let mut end = i + 3;
        let mut bits = f64::NAN.to_bits();
        if at(end) == b'(' {
            let chars = s[end + 1..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                .count();
            if at(end + 1 + chars) == b')' {
                if let Some(payload) = nan_payload(&s[end + 1..end + 1 + chars]) {
                    bits |= payload & ((1 << 51) - 1);
                }
                end += chars + 2;
            }
        }
        return (sign(f64::from_bits(bits)), end);
    }
    if at(i) == b'0' && at(i + 1) | 0x20 == b'x' {
        return match hex_float(s, i + 2) {
            Some((v, end)) => (sign(v), end),
            None => (sign(0.0), i + 1),
        };
    }
    let start = i;
    let int_digits = s[i.min(s.len())..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    i += int_digits;
    let mut frac_digits = 0;
    if at(i) == b'.' {
        frac_digits = s[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if int_digits + frac_digits > 0 {
            i += 1 + frac_digits;
        }
    }
    if int_digits + frac_digits == 0 {
        return (0.0, 0);
    }
    if at(i) | 0x20 == b'e' {
        let mut j = i + 1;
        if matches!(at(j), b'+' | b'-') {
            j += 1;
        }
        let exp_digits = s[j.min(s.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if exp_digits > 0 {
            i = j + exp_digits;
        }
    }
    let text = std::str::from_utf8(&s[start..i]).expect("ASCII");
    (sign(text.parse::<f64>().unwrap_or(0.0)), i)
}

/// The payload glibc gives `nan(chars)`: `chars` read by `strtoull` in base 0, if all of them
/// form the number.
fn nan_payload(chars: &[u8]) -> Option<u64> {
    let (digits, radix) = if chars.len() > 2 && chars[0] == b'0' && chars[1] | 0x20 == b'x' {
        (&chars[2..], 16)
    } else if chars.first() == Some(&b'0') {
        (chars, 8)
    } else {
        (chars, 10)
    };
    let mut value: u64 = 0;
    for &c in digits {
        let d = (c as char).to_digit(radix)? as u64;
        value = value.saturating_mul(radix as u64).saturating_add(d);
    }
    Some(value)
}

/// The hexadecimal digits (with an optional point and binary exponent) from `start`, correctly
/// rounded; `None` if there is no digit.
fn hex_float(s: &[u8], start: usize) -> Option<(f64, usize)> {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let mut i = start;
    let (mut mantissa, mut exp, mut sticky) = (0u64, 0i64, false);
    let (mut any, mut point) = (false, false);
    loop {
        let c = at(i);
        if let Some(d) = hex_digit(c) {
            any = true;
            if mantissa < 1 << 60 {
                mantissa = mantissa * 16 + d as u64;
                if point {
                    exp -= 4;
                }
            } else {
                sticky |= d != 0;
                if !point {
                    exp += 4;
                }
            }
        } else if c == b'.' && !point {
            point = true;
        } else {
            break;
        }
        i += 1;
    }
    if !any {
        return None;
    }
    if at(i) | 0x20 == b'p' {
        let mut j = i + 1;
        let negative = at(j) == b'-';
        if matches!(at(j), b'+' | b'-') {
            j += 1;
        }
        if at(j).is_ascii_digit() {
            let mut e: i64 = 0;
            while at(j).is_ascii_digit() {
                e = (e * 10 + (at(j) - b'0') as i64).min(1 << 40);
                j += 1;
            }
            exp += if negative { -e } else { e };
            i = j;
        }
    }
    Some((compose(mantissa, exp, sticky), i))
}

/// `mantissa * 2^exp`, with `sticky` telling whether nonzero bits were dropped below the
/// mantissa, rounded to nearest even.
fn compose(mantissa: u64, exp: i64, sticky: bool) -> f64 {
    if mantissa == 0 {
        return 0.0;
    }
    let lz = mantissa.leading_zeros();
    let m = mantissa << lz;
    // The value is m * 2^(e - 63) with the top bit of m set.
    let e = exp - lz as i64 + 63;
    if e > 1023 {
        return f64::INFINITY;
    }
    let round = |q: u128, rem: u128, half: u128| -> u128 {
        if rem > half || (rem == half && (sticky || q & 1 == 1)) {
            q + 1
        } else {
            q
        }
    };
    if e >= -1022 {
        let q = round((m >> 11) as u128, (m & 0x7FF) as u128, 0x400) as u64;
        let (q, e) = if q == 1 << 53 {
            (q >> 1, e + 1)
        } else {
            (q, e)
        };
        if e > 1023 {
            return f64::INFINITY;
        }
        return f64::from_bits((((e + 1023) as u64) << 52) | (q & ((1 << 52) - 1)));
    }
    // Subnormal: units of 2^-1074.
    let shift = (-1074 - (e - 63)) as u64;
    if shift >= 127 {
        return 0.0;
    }
    let m = m as u128;
    let q = m >> shift;
    let rem = m - (q << shift);
    let q = round(q, rem, 1u128 << (shift - 1));
    f64::from_bits(q as u64)
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
