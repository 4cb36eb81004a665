//! Conversions between RESP and Lua values, with Redis's rules for scripts:
//!
//! - a command's reply becomes a Lua value for `redis.call` (integers → numbers, bulk strings →
//!   strings, null bulk/array → `false`, status → `{ok=...}`, error → `{err=...}`, RESP3 maps,
//!   sets, doubles, big numbers and verbatim strings → tables that name their type);
//! - the script's return value becomes the reply to its caller (numbers truncated to integers,
//!   `true` → 1, `false` → null, tables with `err`/`ok`/`double`/`map`/`set`/... → those
//!   replies, other tables → arrays up to the first nil).

use mlua::ffi::{self, lua_State};
use std::ffi::c_int;

/// Deepest nesting converted either way; Redis is bounded by the Lua stack the same way.
const MAX_DEPTH: usize = 1000;

/// Pushes the Lua form of the RESP reply `reply` (one complete reply). Returns whether it was
/// an error reply. A malformed reply (a bug in a command) becomes an error table.
///
/// # Safety
/// `l` is a valid Lua state with room for the pushes (checked as it goes).
pub(crate) unsafe fn push_reply(l: *mut lua_State, reply: &[u8]) -> bool {
    let is_error = reply.first() == Some(&b'-');
    let mut pos = 0;
    if parse(l, reply, &mut pos, 0, true).is_none() {
        push_error_table(
            l,
            b"ERR reply of the command could not be read by the script",
        );
        return true;
    }
    is_error
}

/// Pushes `{err = "<CODE> <msg>"}` as Redis's `luaPushError` builds it: a `text` starting
/// with '-' carries its code (its first word; "ERR" when it has a single word), any other
/// text gets "ERR ".
///
/// # Safety
/// As [`push_reply`].
pub(crate) unsafe fn push_error_table(l: *mut lua_State, text: &[u8]) {
    ffi::lua_checkstack(l, 3);
    ffi::lua_createtable(l, 0, 1);
    push_bytes(l, b"err");
    let full: Vec<u8> = match text.strip_prefix(b"-") {
        Some(coded) => match coded.iter().position(|&c| c == b' ') {
            Some(_) => trim_newlines(coded).to_vec(),
            None => [b"ERR ".as_slice(), trim_newlines(coded)].concat(),
        },
        None => [b"ERR ".as_slice(), trim_newlines(text)].concat(),
    };
    push_bytes(l, &full);
    ffi::lua_rawset(l, -3);
}

/// The field an error table carries when it came from a command's error reply: that error
/// was counted in the error stats when the command failed, not again for the script.
pub(crate) const COUNTED_FIELD: &[u8] = b"ignore_error_stats_update";

/// [`push_error_table`] for a command's error reply, marked as counted already.
///
/// # Safety
/// As [`push_reply`].
pub(crate) unsafe fn push_reply_error(l: *mut lua_State, line: &[u8]) {
    push_error_table(l, line);
    push_bytes(l, COUNTED_FIELD);
    ffi::lua_pushboolean(l, 1);
    ffi::lua_rawset(l, -3);
}

/// Whether the value at the top is an error table (`err` is a string), and if so whether it
/// is marked as counted already.
///
/// # Safety
/// `l` is valid with a value on top.
pub(crate) unsafe fn error_table_state(l: *mut lua_State) -> Option<bool> {
    if ffi::lua_type(l, -1) != ffi::LUA_TTABLE {
        return None;
    }
    if raw_field(l, b"err") != ffi::LUA_TSTRING {
        ffi::lua_pop(l, 1);
        return None;
    }
    ffi::lua_pop(l, 1);
    raw_field(l, COUNTED_FIELD);
    let counted = ffi::lua_toboolean(l, -1) != 0;
    ffi::lua_pop(l, 1);
    Some(counted)
}

fn trim_newlines(mut s: &[u8]) -> &[u8] {
    while let Some((&c, rest)) = s.split_last() {
        if c == b'\r' || c == b'\n' {
            s = rest;
        } else {
            break;
        }
    }
    while let Some((&c, rest)) = s.split_first() {
        if c == b'\r' || c == b'\n' {
            s = rest;
        } else {
            break;
        }
    }
    s
}

/// Pushes `{name = value}` (how Redis hands status replies and big numbers to Lua).
///
/// # Safety
/// `l` is a valid Lua state with room for three pushes.
unsafe fn push_string_field_table(l: *mut lua_State, name: &[u8], value: &[u8]) {
    ffi::lua_createtable(l, 0, 1);
    push_bytes(l, name);
    push_bytes(l, value);
    ffi::lua_rawset(l, -3);
}

/// # Safety
/// `l` is a valid Lua state.
pub(crate) unsafe fn push_bytes(l: *mut lua_State, s: &[u8]) {
    ffi::lua_pushlstring_(l, s.as_ptr().cast(), s.len());
}

fn line<'a>(r: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let start = *pos;
    let end = start + memchr_crlf(&r[start..])?;
    *pos = end + 2;
    Some(&r[start..end])
}

fn memchr_crlf(s: &[u8]) -> Option<usize> {
    s.windows(2).position(|w| w == b"\r\n")
}

fn int(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    // Up to 18 digits cannot overflow: the common case, without going through str.
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return std::str::from_utf8(s).ok()?.parse().ok();
    }
    let n = digits
        .iter()
        .fold(0i64, |n, &d| n * 10 + i64::from(d - b'0'));
    Some(if neg { -n } else { n })
}

/// Appends the decimal digits of `n` (no allocation, no formatter).
pub(crate) fn push_int(out: &mut Vec<u8>, n: i64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if n < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[i..]);
}

/// Parses one reply at `pos`; pushes its Lua value when `push` (attributes are skipped).
unsafe fn parse(
    l: *mut lua_State,
    r: &[u8],
    pos: &mut usize,
    depth: usize,
    push: bool,
) -> Option<()> {
    if depth > MAX_DEPTH || *pos >= r.len() {
        return None;
    }
    if push && ffi::lua_checkstack(l, 5) == 0 {
        return None;
    }
    let kind = r[*pos];
    *pos += 1;
    match kind {
        b'+' => {
            let s = line(r, pos)?;
            if push {
                push_string_field_table(l, b"ok", s);
            }
        }
        b'-' => {
            let start = *pos - 1;
            line(r, pos)?;
            if push {
                push_reply_error(l, &r[start..*pos - 2]);
            }
        }
        b':' => {
            let n = int(line(r, pos)?)?;
            if push {
                ffi::lua_pushnumber(l, n as f64);
            }
        }
        b'$' | b'=' => {
            let n = int(line(r, pos)?)?;
            if n < 0 {
                if push {
                    ffi::lua_pushboolean(l, 0);
                }
                return Some(());
            }
            let n = n as usize;
            let body = r.get(*pos..*pos + n)?;
            *pos += n + 2;
            if push {
                if kind == b'$' {
                    push_bytes(l, body);
                } else {
                    // Verbatim: "fmt:text".
                    let (fmt, text) = if body.len() >= 4 {
                        (&body[..3], &body[4..])
                    } else {
                        (&b"txt"[..], body)
                    };
                    ffi::lua_createtable(l, 0, 1);
                    push_bytes(l, b"verbatim_string");
                    ffi::lua_createtable(l, 0, 2);
                    push_bytes(l, b"string");
                    push_bytes(l, text);
                    ffi::lua_rawset(l, -3);
                    push_bytes(l, b"format");
                    push_bytes(l, fmt);
                    ffi::lua_rawset(l, -3);
                    ffi::lua_rawset(l, -3);
                }
            }
        }
        b'*' | b'>' => {
            let n = int(line(r, pos)?)?;
            if n < 0 {
                if push {
                    ffi::lua_pushboolean(l, 0);
                }
                return Some(());
            }
            if push {
                ffi::lua_createtable(l, n.min(1024) as c_int, 0);
            }
            for i in 0..n {
                parse(l, r, pos, depth + 1, push)?;
                if push {
                    ffi::lua_rawseti_(l, -2, (i + 1) as c_int);
                }
            }
        }
        b'%' | b'~' => {
            let n = int(line(r, pos)?)?.max(0);
            let name: &[u8] = if kind == b'%' { b"map" } else { b"set" };
            if push {
                ffi::lua_createtable(l, 0, 1);
                push_bytes(l, name);
                ffi::lua_createtable(l, 0, n.min(1024) as c_int);
            }
            for _ in 0..n {
                parse(l, r, pos, depth + 1, push)?;
                if kind == b'%' {
                    parse(l, r, pos, depth + 1, push)?;
                } else if push {
                    ffi::lua_pushboolean(l, 1);
                }
                if push {
                    ffi::lua_rawset(l, -3);
                }
            }
            if push {
                ffi::lua_rawset(l, -3);
            }
        }
        b'|' => {
            let n = int(line(r, pos)?)?.max(0);
            for _ in 0..n * 2 {
                parse(l, r, pos, depth + 1, false)?;
            }
            return parse(l, r, pos, depth, push);
        }
        b'_' => {
            line(r, pos)?;
            if push {
                ffi::lua_pushnil(l);
            }
        }
        b'#' => {
            let s = line(r, pos)?;
            if push {
                ffi::lua_pushboolean(l, (s == b"t") as c_int);
            }
        }
        b',' => {
            let s = line(r, pos)?;
            let d = parse_double(s)?;
            if push {
                ffi::lua_createtable(l, 0, 1);
                push_bytes(l, b"double");
                ffi::lua_pushnumber(l, d);
                ffi::lua_rawset(l, -3);
            }
        }
        b'(' => {
            let s = line(r, pos)?;
            if push {
                push_string_field_table(l, b"big_number", s);
            }
        }
        _ => return None,
    }
    Some(())
}

fn parse_double(s: &[u8]) -> Option<f64> {
    match s {
        b"inf" | b"+inf" => Some(f64::INFINITY),
        b"-inf" => Some(f64::NEG_INFINITY),
        b"nan" | b"-nan" => Some(f64::NAN),
        _ => std::str::from_utf8(s).ok()?.parse().ok(),
    }
}

/// `printf("%.17g", d)`: how Redis turns Lua numbers into command arguments and doubles into
/// replies.
pub fn format_g17(d: f64, out: &mut Vec<u8>) {
    // Integers below 1e17 print as plain digits under %.17g: skip printf for them.
    if d.fract() == 0.0 && d.abs() < 1e17 && !(d == 0.0 && d.is_sign_negative()) {
        push_int(out, d as i64);
        return;
    }
    let mut buf = [0u8; 64];
    // SAFETY: `buf` has room for any %.17g rendering (at most 24 bytes plus the NUL) and the
    // format takes exactly one double.
    let n = unsafe { libc::snprintf(buf.as_mut_ptr().cast(), buf.len(), c"%.17g".as_ptr(), d) };
    out.extend_from_slice(&buf[..(n.max(0) as usize).min(buf.len() - 1)]);
}

/// The protocol versions a script's return value is converted with.
#[derive(Copy, Clone)]
pub(crate) struct Protocols {
    /// What `redis.setresp` set (2 unless the script changed it).
    pub script: u8,
    /// The calling client's.
    pub caller: u8,
}

fn header(out: &mut Vec<u8>, kind: u8, n: usize) {
    out.push(kind);
    push_int(out, n as i64);
    out.extend_from_slice(b"\r\n");
}

fn bulk(out: &mut Vec<u8>, s: &[u8]) {
    header(out, b'$', s.len());
    out.extend_from_slice(s);
    out.extend_from_slice(b"\r\n");
}

fn null(out: &mut Vec<u8>, p: Protocols) {
    out.extend_from_slice(if p.caller == 3 { b"_\r\n" } else { b"$-1\r\n" });
}

/// A one-line reply with CR and LF turned into spaces, as Redis sanitizes them.
fn line_reply(out: &mut Vec<u8>, kind: u8, s: &[u8]) {
    out.push(kind);
    out.extend(
        s.iter()
            .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }),
    );
    out.extend_from_slice(b"\r\n");
}

/// An error reply for `msg` (which carries its code, e.g. "ERR ..."); "-ERR " is prefixed
/// when it is empty.
pub(crate) fn error_reply(out: &mut Vec<u8>, msg: &[u8]) {
    if msg.is_empty() {
        out.extend_from_slice(b"-ERR \r\n");
    } else if msg[0] == b'-' {
        line_reply(out, b'-', &msg[1..]);
    } else {
        line_reply(out, b'-', msg);
    }
}

/// The double reply of `d` in the caller's protocol.
fn double(out: &mut Vec<u8>, d: f64, p: Protocols) {
    let mut s = Vec::with_capacity(24);
    if d.is_infinite() {
        s.extend_from_slice(if d > 0.0 { b"inf" } else { b"-inf" });
    } else {
        format_g17(d, &mut s);
    }
    if p.caller == 3 {
        line_reply(out, b',', &s);
    } else {
        bulk(out, &s);
    }
}

/// Converts the value at the top of the stack into a reply appended to `out`, and pops it.
///
/// # Safety
/// `l` is a valid Lua state with a value on top.
pub(crate) unsafe fn write_top(l: *mut lua_State, out: &mut Vec<u8>, p: Protocols) {
    write_value(l, out, p, 0);
    ffi::lua_pop(l, 1);
}

unsafe fn raw_field(l: *mut lua_State, name: &[u8]) -> c_int {
    push_bytes(l, name);
    ffi::lua_rawget_(l, -2);
    ffi::lua_type(l, -1)
}

unsafe fn top_bytes<'a>(l: *mut lua_State, idx: c_int) -> &'a [u8] {
    let mut len = 0usize;
    let p = ffi::lua_tolstring(l, idx, &mut len);
    if p.is_null() {
        return &[];
    }
    std::slice::from_raw_parts(p.cast(), len)
}

/// Writes the value at the top without popping it.
unsafe fn write_value(l: *mut lua_State, out: &mut Vec<u8>, p: Protocols, depth: usize) {
    if depth > MAX_DEPTH || ffi::lua_checkstack(l, 4) == 0 {
        error_reply(out, b"ERR reached lua stack limit");
        return;
    }
    match ffi::lua_type(l, -1) {
        ffi::LUA_TSTRING => bulk(out, top_bytes(l, -1)),
        ffi::LUA_TBOOLEAN => {
            let b = ffi::lua_toboolean(l, -1) != 0;
            if p.script == 2 {
                if b {
                    out.extend_from_slice(b":1\r\n");
                } else {
                    null(out, p);
                }
            } else if p.caller == 3 {
                out.extend_from_slice(if b { b"#t\r\n" } else { b"#f\r\n" });
            } else {
                out.extend_from_slice(if b { b":1\r\n" } else { b":0\r\n" });
            }
        }
        ffi::LUA_TNUMBER => {
            let n = ffi::lua_tonumber(l, -1);
            // C's (long long) cast: truncation, saturating here where C is undefined.
            out.push(b':');
            push_int(out, n as i64);
            out.extend_from_slice(b"\r\n");
        }
        ffi::LUA_TTABLE => write_table(l, out, p, depth),
        _ => null(out, p),
    }
}

unsafe fn write_table(l: *mut lua_State, out: &mut Vec<u8>, p: Protocols, depth: usize) {
    if raw_field(l, b"err") == ffi::LUA_TSTRING {
        error_reply(out, top_bytes(l, -1));
        ffi::lua_pop(l, 1);
        return;
    }
    ffi::lua_pop(l, 1);
    if raw_field(l, b"ok") == ffi::LUA_TSTRING {
        line_reply(out, b'+', top_bytes(l, -1));
        ffi::lua_pop(l, 1);
        return;
    }
    ffi::lua_pop(l, 1);
    if raw_field(l, b"double") == ffi::LUA_TNUMBER {
        double(out, ffi::lua_tonumber(l, -1), p);
        ffi::lua_pop(l, 1);
        return;
    }
    ffi::lua_pop(l, 1);
    if raw_field(l, b"big_number") == ffi::LUA_TSTRING {
        let s: Vec<u8> = top_bytes(l, -1)
            .iter()
            .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c })
            .collect();
        if p.caller == 3 {
            line_reply(out, b'(', &s);
        } else {
            bulk(out, &s);
        }
        ffi::lua_pop(l, 1);
        return;
    }
    ffi::lua_pop(l, 1);
    if raw_field(l, b"verbatim_string") == ffi::LUA_TTABLE {
        if raw_field(l, b"format") == ffi::LUA_TSTRING {
            if raw_field(l, b"string") == ffi::LUA_TSTRING {
                let text = top_bytes(l, -1);
                if p.caller == 3 {
                    let fmt = top_bytes(l, -2);
                    let mut fmt3 = [b' '; 3];
                    for (d, s) in fmt3.iter_mut().zip(fmt) {
                        *d = *s;
                    }
                    header(out, b'=', text.len() + 4);
                    out.extend_from_slice(&fmt3);
                    out.push(b':');
                    out.extend_from_slice(text);
                    out.extend_from_slice(b"\r\n");
                } else {
                    bulk(out, text);
                }
                ffi::lua_pop(l, 3);
                return;
            }
            ffi::lua_pop(l, 1);
        }
        ffi::lua_pop(l, 1);
    }
    ffi::lua_pop(l, 1);
    if raw_field(l, b"map") == ffi::LUA_TTABLE {
        let mut body = Vec::new();
        let mut n = 0;
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, -2) != 0 {
            // Stack: map, key, value.
            ffi::lua_pushvalue(l, -2);
            write_value(l, &mut body, p, depth + 1);
            ffi::lua_pop(l, 1);
            write_value(l, &mut body, p, depth + 1);
            ffi::lua_pop(l, 1);
            n += 1;
        }
        if p.caller == 3 {
            header(out, b'%', n);
        } else {
            header(out, b'*', n * 2);
        }
        out.extend_from_slice(&body);
        ffi::lua_pop(l, 1);
        return;
    }
    ffi::lua_pop(l, 1);
    if raw_field(l, b"set") == ffi::LUA_TTABLE {
        let mut body = Vec::new();
        let mut n = 0;
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, -2) != 0 {
            ffi::lua_pop(l, 1);
            write_value(l, &mut body, p, depth + 1);
            n += 1;
        }
        header(out, if p.caller == 3 { b'~' } else { b'*' }, n);
        out.extend_from_slice(&body);
        ffi::lua_pop(l, 1);
        return;
    }
    ffi::lua_pop(l, 1);
    // An array: elements 1..n up to the first nil.
    let mut body = Vec::new();
    let mut n = 0usize;
    loop {
        ffi::lua_rawgeti_(l, -1, (n + 1) as c_int);
        if ffi::lua_type(l, -1) == ffi::LUA_TNIL {
            ffi::lua_pop(l, 1);
            break;
        }
        write_value(l, &mut body, p, depth + 1);
        ffi::lua_pop(l, 1);
        n += 1;
    }
    header(out, b'*', n);
    out.extend_from_slice(&body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g17_matches_printf() {
        let mut v = Vec::new();
        format_g17(0.1, &mut v);
        assert_eq!(v, b"0.10000000000000001");
        v.clear();
        format_g17(3.0, &mut v);
        assert_eq!(v, b"3");
        v.clear();
        format_g17(-0.0, &mut v);
        assert_eq!(v, b"-0");
        for n in [0.0, -5.0, 99999999999999999.0, 12345678901234567.0, -1e16] {
            v.clear();
            format_g17(n, &mut v);
            let mut buf = [0u8; 64];
            // SAFETY: as in format_g17.
            let len =
                unsafe { libc::snprintf(buf.as_mut_ptr().cast(), buf.len(), c"%.17g".as_ptr(), n) };
            assert_eq!(v, &buf[..len as usize], "{n}");
        }
        v.clear();
        format_g17(1e300, &mut v);
        assert_eq!(v, b"1.0000000000000001e+300");
    }

    #[test]
    fn integers_both_ways() {
        for n in [0i64, 7, -7, 1234567890123, i64::MAX, i64::MIN, -1] {
            let mut v = Vec::new();
            push_int(&mut v, n);
            assert_eq!(v, n.to_string().as_bytes());
            assert_eq!(int(&v), Some(n));
        }
        assert_eq!(int(b"-"), None);
        assert_eq!(int(b""), None);
        assert_eq!(int(b"12a"), None);
        assert_eq!(int(b"99999999999999999999"), None);
    }

    #[test]
    fn error_text_gets_a_code() {
        let mut out = Vec::new();
        error_reply(&mut out, b"boom\r\nline");
        assert_eq!(out, b"-boom  line\r\n");
    }
}
