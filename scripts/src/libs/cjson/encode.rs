//! `cjson.encode`: Lua values to JSON text, as lua-cjson writes it.
//!
//! Tables whose keys are all positive integers are arrays (holes encode as `null`) unless
//! excessively sparse: more than `ratio` times as many slots as items and a largest index above
//! `safe`, which is an error, or an object if `encode_sparse_array` asked to convert. Other
//! tables, the empty one included, are objects with number or string keys, in `next` order.
//! Numbers use `%.14g` (the configured precision); strings escape `"`, `\`, `/`, control
//! characters and DEL, leaving other bytes as they are.

use mlua::{Lua, Table, Value};

use super::Config;
use crate::libs::{error, table_next, type_name, Fail, Spill, MAX_C_STACK};

/// Appends `s` as a JSON string, escaped as lua-cjson escapes it.
fn append_string(json: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    json.reserve(s.len() + 2);
    json.push(b'"');
    for &b in s {
        match b {
            b'\x08' => json.extend_from_slice(b"\\b"),
            b'\t' => json.extend_from_slice(b"\\t"),
            b'\n' => json.extend_from_slice(b"\\n"),
            b'\x0c' => json.extend_from_slice(b"\\f"),
            b'\r' => json.extend_from_slice(b"\\r"),
            b'"' => json.extend_from_slice(b"\\\""),
            b'\\' => json.extend_from_slice(b"\\\\"),
            b'/' => json.extend_from_slice(b"\\/"),
            0..=0x1f | 0x7f => {
                json.extend_from_slice(b"\\u00");
                json.extend_from_slice(&[HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
            }
            _ => json.push(b),
        }
    }
    json.push(b'"');
}

/// C's `%.<precision>g` (precision 1 to 14), as glibc prints it.
pub(super) fn format_g(out: &mut Vec<u8>, x: f64, precision: usize) {
    use std::io::Write;
    if x.is_nan() {
        out.extend_from_slice(if x.is_sign_negative() {
            b"-nan"
        } else {
            b"nan"
        });
        return;
    }
    if x.is_infinite() {
        out.extend_from_slice(if x < 0.0 { b"-inf" } else { b"inf" });
        return;
    }
    if x == 0.0 {
        out.extend_from_slice(if x.is_sign_negative() { b"-0" } else { b"0" });
        return;
    }
    let p = precision.clamp(1, 17);
    // Integers of at most `p` digits print as themselves.
    if x.fract() == 0.0 && x.abs() < 10f64.powi(p as i32) {
        let _ = write!(out, "{}", x as i64);
        return;
    }
    // The significant digits of the value rounded to `p` digits, and its decimal exponent. When
    // the shortest representation that reads back as `x` has at most `p` digits, those are
    // the digits (for a normal double the exact value is within half an ulp of it, far less
    // than half a unit of the p-th digit); otherwise the value is rounded exactly.
    let mut text = format!("{:e}", x.abs());
    let digit_count = text.find('e').unwrap() - text.contains('.') as usize;
    if digit_count > p || x.abs() < f64::MIN_POSITIVE {
        text = format!("{:.*e}", p - 1, x.abs());
    }
    let (mantissa, exp) = text.split_once('e').unwrap();
    let exp: i32 = exp.parse().unwrap();
    let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    let digits = match digits.iter().rposition(|&d| d != b'0') {
        Some(last) => &digits[..=last],
        None => &digits[..1],
    };
    if x < 0.0 {
        out.push(b'-');
    }
    if exp < -4 || exp >= p as i32 {
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        let _ = write!(
            out,
            "e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.unsigned_abs()
        );
    } else if exp >= 0 {
        let int_len = exp as usize + 1;
        for i in 0..int_len {
            out.push(digits.get(i).copied().unwrap_or(b'0'));
        }
        if digits.len() > int_len {
            out.push(b'.');
            out.extend_from_slice(&digits[int_len..]);
        }
    } else {
        out.extend_from_slice(b"0.");
        out.resize(out.len() + (-exp - 1) as usize, b'0');
        out.extend_from_slice(digits);
    }
}

/// "Cannot serialise <type>: <reason>" (`json_encode_exception`).
fn exception(lua: &Lua, what: &Value, reason: &str) -> Fail {
    error(
        lua,
        format!("Cannot serialise {}: {reason}", type_name(what)),
    )
}

/// `json_append_number`; `what` is the value, for the error message.
fn append_number(
    lua: &Lua,
    cfg: &Config,
    json: &mut Vec<u8>,
    num: f64,
    what: &Value,
) -> Result<(), Fail> {
    let invalid = num.is_nan() || num.is_infinite();
    match cfg.encode_invalid_numbers {
        0 if invalid => return Err(exception(lua, what, "must not be NaN or Inf")),
        1 if num.is_nan() => {
            json.extend_from_slice(b"nan");
            return Ok(());
        }
        2 if invalid => {
            json.extend_from_slice(b"null");
            return Ok(());
        }
        _ => {}
    }
    format_g(json, num, cfg.encode_number_precision as usize);
    Ok(())
}

/// `lua_array_length`: the array size of `table`, or `None` for an object (including the empty
/// table). Excessively sparse arrays are an error unless conversion to objects is on.
fn array_length(lua: &Lua, cfg: &Config, table: &Table) -> Result<Option<i32>, Fail> {
    let (mut max, mut items) = (0i32, 0i32);
    let mut array = true;
    let walk = table.for_each(|k: Value, _: Value| {
        match crate::libs::as_number(&k) {
            Some(k) if k != 0.0 && k.floor() == k && k >= 1.0 => {
                if k > max as f64 {
                    max = crate::libs::c_double_to_i32(k);
                }
                items = items.wrapping_add(1);
                Ok(())
            }
            _ => {
                array = false;
                // Stop the walk; the error is only a signal.
                Err(mlua::Error::RuntimeError(String::new()))
            }
        }
    });
    if !array {
        return Ok(None);
    }
    walk?;
    if cfg.encode_sparse_ratio > 0
        && max > items.wrapping_mul(cfg.encode_sparse_ratio)
        && max > cfg.encode_sparse_safe
    {
        if cfg.encode_sparse_convert == 0 {
            return Err(exception(
                lua,
                &Value::Table(table.clone()),
                "excessively sparse array",
            ));
        }
        return Ok(None);
    }
    Ok(if max > 0 { Some(max) } else { None })
}

/// A table being written.
enum Frame {
    Array { len: i32, next: i32 },
    Object { first: bool },
}

impl Frame {
    /// Stack slots the C encoder uses per level: an array element, or a key and its value.
    fn slots(&self) -> i64 {
        match self {
            Frame::Array { .. } => 1,
            Frame::Object { .. } => 2,
        }
    }
}

/// Encodes `value`. Nested tables are walked with an explicit stack: the tables (and the key
/// reached in each object) other than the innermost wait in a spill table, so depth costs no
/// Rust stack and no mlua references. Depth fails where lua-cjson fails: past
/// `encode_max_depth`, or where its `lua_checkstack` would.
pub(super) fn encode(lua: &Lua, cfg: &Config, value: Value) -> Result<Vec<u8>, Fail> {
    let mut json = Vec::new();
    let mut frames: Vec<Frame> = Vec::new();
    let mut spill = Spill::new();
    // The innermost table and the last key visited in it (nil for arrays and before the first).
    let mut current: Option<(Table, Value)> = None;
    let mut depth: i32 = 0;
    // Stack slots in use in C: the argument, then per level what `Frame::slots` says.
    let mut top: i64 = 1;
    let mut v = value;
    'value: loop {
        match &v {
            Value::String(s) => append_string(&mut json, &s.as_bytes()),
            Value::Integer(_) | Value::Number(_) => {
                let n = crate::libs::as_number(&v).unwrap();
                append_number(lua, cfg, &mut json, n, &v)?;
            }
            Value::Boolean(b) => json.extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::Nil => json.extend_from_slice(b"null"),
            Value::LightUserData(p) if p.0.is_null() => json.extend_from_slice(b"null"),
            Value::Table(t) => {
                depth += 1;
                if depth > cfg.encode_max_depth || top + 3 > MAX_C_STACK {
                    return Err(error(
                        lua,
                        format!("Cannot serialise, excessive nesting ({depth})"),
                    ));
                }
                let frame = match array_length(lua, cfg, t)? {
                    Some(len) => {
                        json.push(b'[');
                        Frame::Array { len, next: 1 }
                    }
                    None => {
                        json.push(b'{');
                        Frame::Object { first: true }
                    }
                };
                top += frame.slots();
                if let Some((table, key)) = current.replace((t.clone(), Value::Nil)) {
                    spill.push(lua, Value::Table(table))?;
                    spill.push(lua, key)?;
                }
                frames.push(frame);
            }
            other => return Err(exception(lua, other, "type not supported")),
        }
        // Find the next value to write, closing the tables that are done.
        while let Some(frame) = frames.last_mut() {
            let (table, key) = current.as_mut().expect("open table");
            match frame {
                Frame::Array { len, next } => {
                    if *next <= *len {
                        if *next > 1 {
                            json.push(b',');
                        }
                        v = table.raw_get(*next)?;
                        *next += 1;
                        continue 'value;
                    }
                    json.push(b']');
                }
                Frame::Object { first } => {
                    if let Some((k, val)) = table_next(lua, table, key.clone())? {
                        if !*first {
                            json.push(b',');
                        }
                        *first = false;
                        match &k {
                            Value::Integer(_) | Value::Number(_) => {
                                json.push(b'"');
                                let n = crate::libs::as_number(&k).unwrap();
                                append_number(lua, cfg, &mut json, n, &k)?;
                                json.extend_from_slice(b"\":");
                            }
                            Value::String(s) => {
                                append_string(&mut json, &s.as_bytes());
                                json.push(b':');
                            }
                            other => {
                                return Err(exception(
                                    lua,
                                    other,
                                    "table key must be a number or string",
                                ))
                            }
                        }
                        *key = k;
                        v = val;
                        continue 'value;
                    }
                    json.push(b'}');
                }
            }
            top -= frame.slots();
            depth -= 1;
            frames.pop();
            current = None;
            if !frames.is_empty() {
                let key = spill.pop()?;
                current = Some((spill.pop_table()?, key));
            }
        }
        return Ok(json);
    }
}

#[cfg(test)]
mod tests {
    use super::format_g;
    use crate::libs::testing::{check_cases, lua};

    #[test]
    fn encodes_as_redis_does() {
        check_cases(
            &lua(),
            &[
                (r#"return cjson.encode({1,2,3})"#, r#"OK [1,2,3]"#),
                (r#"return cjson.encode({})"#, r#"OK {}"#),
                (r#"return cjson.encode({a=1})"#, r#"OK {"a":1}"#),
                (
                    r#"return cjson.encode({[1]=1, [2]=2, [4]=4})"#,
                    r#"OK [1,2,null,4]"#,
                ),
                (
                    r#"return cjson.encode({[1]=1, [20]=2})"#,
                    r#"ERR user_script:1: Cannot serialise table: excessively sparse array"#,
                ),
                (
                    r#"return cjson.encode({[1]=1, [11]=2})"#,
                    r#"ERR user_script:1: Cannot serialise table: excessively sparse array"#,
                ),
                (
                    r#"return cjson.encode({[1]=1, [10]=2})"#,
                    r#"OK [1,null,null,null,null,null,null,null,null,2]"#,
                ),
                (r#"return cjson.encode({[0]=1})"#, r#"OK {"0":1}"#),
                (r#"return cjson.encode({[1.5]=1})"#, r#"OK {"1.5":1}"#),
                (r#"return cjson.encode({[-1]=1})"#, r#"OK {"-1":1}"#),
                (
                    r#"return cjson.encode({1, 2, nil, 4})"#,
                    r#"OK [1,2,null,4]"#,
                ),
                (
                    r#"return cjson.encode({[1]=1, a=2})"#,
                    r#"OK {"1":1,"a":2}"#,
                ),
                (
                    r#"return cjson.encode("a/b\"c\\d\n\r\t\b\f\0\1\31\127\128\255 end")"#,
                    r#"OK "a\x5c/b\x5c"c\x5c\x5cd\x5cn\x5cr\x5ct\x5cb\x5cf\x5cu0000\x5cu0001\x5cu001f\x5cu007f\x80\xff end""#,
                ),
                (r#"return cjson.encode(0.1)"#, r#"OK 0.1"#),
                (r#"return cjson.encode(1/3)"#, r#"OK 0.33333333333333"#),
                (r#"return cjson.encode(100)"#, r#"OK 100"#),
                (r#"return cjson.encode(-0.0)"#, r#"OK -0"#),
                (r#"return cjson.encode(1e15)"#, r#"OK 1e+15"#),
                (r#"return cjson.encode(1e16)"#, r#"OK 1e+16"#),
                (
                    r#"return cjson.encode(123456789012345678)"#,
                    r#"OK 1.2345678901235e+17"#,
                ),
                (r#"return cjson.encode(1e-5)"#, r#"OK 1e-05"#),
                (r#"return cjson.encode(0.0001)"#, r#"OK 0.0001"#),
                (r#"return cjson.encode(2^53)"#, r#"OK 9.007199254741e+15"#),
                (r#"return cjson.encode(-1e300)"#, r#"OK -1e+300"#),
                (
                    r#"return cjson.encode(5e-324)"#,
                    r#"OK 4.9406564584125e-324"#,
                ),
                (
                    r#"return cjson.encode(0/0)"#,
                    r#"ERR user_script:1: Cannot serialise number: must not be NaN or Inf"#,
                ),
                (
                    r#"return cjson.encode(1/0)"#,
                    r#"ERR user_script:1: Cannot serialise number: must not be NaN or Inf"#,
                ),
                (
                    r#"return cjson.encode({[1/0] = 1})"#,
                    r#"ERR user_script:1: Cannot serialise number: must not be NaN or Inf"#,
                ),
                (
                    r#"return cjson.encode({[1.5] = 1, [2.25] = 2})"#,
                    r#"OK {"1.5":1,"2.25":2}"#,
                ),
                (r#"return cjson.encode(true)"#, r#"OK true"#),
                (r#"return cjson.encode(false)"#, r#"OK false"#),
                (r#"return cjson.encode(nil)"#, r#"OK null"#),
                (r#"return cjson.encode(cjson.null)"#, r#"OK null"#),
                (
                    r#"return cjson.encode({cjson.null, false})"#,
                    r#"OK [null,false]"#,
                ),
                (
                    r#"return cjson.encode(tostring)"#,
                    r#"ERR user_script:1: Cannot serialise function: type not supported"#,
                ),
                (
                    r#"return cjson.encode(coroutine.create(function() end))"#,
                    r#"ERR user_script:1: Cannot serialise thread: type not supported"#,
                ),
                (
                    r#"return cjson.encode({f = tostring})"#,
                    r#"ERR user_script:1: Cannot serialise function: type not supported"#,
                ),
                (
                    r#"return cjson.encode({[true] = 1})"#,
                    r#"ERR user_script:1: Cannot serialise boolean: table key must be a number or string"#,
                ),
                (
                    r#"return cjson.encode({[{}] = 1})"#,
                    r#"ERR user_script:1: Cannot serialise table: table key must be a number or string"#,
                ),
                (
                    r#"return cjson.encode()"#,
                    r#"ERR user_script:1: bad argument #1 to 'encode' (expected 1 argument)"#,
                ),
                (
                    r#"return cjson.encode(1, 2)"#,
                    r#"ERR user_script:1: bad argument #1 to 'encode' (expected 1 argument)"#,
                ),
                (r#"return cjson.encode({{{{}}}})"#, r#"OK [[[{}]]]"#),
                (
                    r#"return cjson.encode({a={b={c={}}}})"#,
                    r#"OK {"a":{"b":{"c":{}}}}"#,
                ),
                (
                    r#"local c = cjson.new() c.encode_max_depth(2) return c.encode({{1}})"#,
                    r#"OK [[1]]"#,
                ),
                (
                    r#"local c = cjson.new() c.encode_max_depth(2) return c.encode({{{1}}})"#,
                    r#"ERR user_script:1: Cannot serialise, excessive nesting (3)"#,
                ),
                (
                    r#"local c = cjson.new() c.encode_max_depth(1) return c.encode({a={}})"#,
                    r#"ERR user_script:1: Cannot serialise, excessive nesting (2)"#,
                ),
                (
                    r#"local c = cjson.new() c.encode_max_depth(1) return c.encode({s="x", n=1})"#,
                    r#"OK {"s":"x","n":1}"#,
                ),
                (
                    r#"local c = cjson.new() c.encode_sparse_array(true) return c.encode({[1]=1, [20]=2})"#,
                    r#"OK {"1":1,"20":2}"#,
                ),
                (
                    r#"local c = cjson.new() c.encode_sparse_array(false, 0) return c.encode({[1]=1, [2000]=2}):sub(1, 20)"#,
                    r#"OK [1,null,null,null,nu"#,
                ),
                (
                    r#"local c = cjson.new() c.encode_sparse_array(false, 1, 0) return c.encode({[1]=1, [3]=2})"#,
                    r#"ERR user_script:1: Cannot serialise table: excessively sparse array"#,
                ),
                (
                    r#"local c = cjson.new() c.encode_sparse_array(false, 2, 0) return c.encode({[1]=1, [3]=2})"#,
                    r#"OK [1,null,2]"#,
                ),
                (
                    r#"local c = cjson.new() c.encode_number_precision(3) return c.encode({1/3, 12345, 0.0001234, 100})"#,
                    r#"OK [0.333,1.23e+04,0.000123,100]"#,
                ),
                (
                    r#"local c = cjson.new() c.encode_number_precision(1) return c.encode({1/3, 15, 2.5, 0.05})"#,
                    r#"OK [0.3,2e+01,2,0.05]"#,
                ),
                (
                    r#"local c = cjson.new() c.encode_invalid_numbers(true) return c.encode({0/0, 1/0, -1/0, [1/0]=1})"#,
                    r#"OK {"1":nan,"2":inf,"3":-inf,"inf":1}"#,
                ),
                (
                    r#"local c = cjson.new() c.encode_invalid_numbers(true) return c.encode({0/0, 1/0, -1/0})"#,
                    r#"OK [nan,inf,-inf]"#,
                ),
                (
                    r#"local c = cjson.new() c.encode_invalid_numbers('null') return c.encode({0/0, 1/0, -1/0})"#,
                    r#"OK [null,null,null]"#,
                ),
                (
                    r#"local c = cjson.new() c.encode_invalid_numbers('null') return c.encode({[1/0]=1})"#,
                    r#"OK {"null":1}"#,
                ),
                (
                    r#"local c = cjson.new() c.encode_max_depth(100000) local t = {} local r = t for i = 1, 7996 do r[1] = {} r = r[1] end return #c.encode(t)"#,
                    r#"OK 15994"#,
                ),
                (
                    r#"local c = cjson.new() c.encode_max_depth(100000) local t = {} local r = t for i = 1, 7997 do r[1] = {} r = r[1] end return #c.encode(t)"#,
                    r#"ERR user_script:1: Cannot serialise, excessive nesting (7998)"#,
                ),
                (
                    r#"local c = cjson.new() c.encode_max_depth(100000) local t = {} local r = t for i = 1, 3998 do r.a = {} r = r.a end return #c.encode(t)"#,
                    r#"OK 23990"#,
                ),
                (
                    r#"local c = cjson.new() c.encode_max_depth(100000) local t = {} local r = t for i = 1, 3999 do r.a = {} r = r.a end return #c.encode(t)"#,
                    r#"ERR user_script:1: Cannot serialise, excessive nesting (4000)"#,
                ),
                (
                    r#"local t = {} local r = t for i = 1, 999 do r.a = {} r = r.a end return #cjson.encode(t)"#,
                    r#"OK 5996"#,
                ),
                (
                    r#"local t = {} local r = t for i = 1, 1000 do r.a = {} r = r.a end return #cjson.encode(t)"#,
                    r#"ERR user_script:1: Cannot serialise, excessive nesting (1001)"#,
                ),
                (
                    r#"local t = {} t.t = t return cjson.encode(t)"#,
                    r#"ERR user_script:1: Cannot serialise, excessive nesting (1001)"#,
                ),
                (
                    r#"local a = {} a[1] = a return cjson.encode(a)"#,
                    r#"ERR user_script:1: Cannot serialise, excessive nesting (1001)"#,
                ),
            ],
        );
    }

    extern "C" {
        fn snprintf(
            buf: *mut std::ffi::c_char,
            n: usize,
            fmt: *const std::ffi::c_char,
            ...
        ) -> std::ffi::c_int;
    }

    /// The C library's `%.<precision>g`.
    fn c_format_g(x: f64, precision: usize) -> String {
        let mut buf = [0u8; 64];
        let fmt = format!("%.{precision}g\0");
        // SAFETY: the buffer is large enough for any %g of a double and snprintf stops at its
        // size; the format takes exactly one double.
        let n = unsafe { snprintf(buf.as_mut_ptr().cast(), buf.len(), fmt.as_ptr().cast(), x) };
        String::from_utf8(buf[..n as usize].to_vec()).unwrap()
    }

    #[test]
    fn number_format_matches_the_c_library() {
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut values = vec![
            0.1,
            0.5,
            1.5,
            2.5,
            1.25,
            1e15,
            1e16,
            1e14,
            99999999999999.5,
            999999999999999.0,
            123456789012345678.0,
            1e-5,
            0.0001,
            0.00001234,
            100.0,
            1.0 / 3.0,
            5e-324,
            2.2e-308,
            1.7976931348623157e308,
            -0.0,
            0.0,
            1e21,
            9.5,
            0.95,
            0.095,
            f64::from_bits(1e23f64.to_bits() - 1),
        ];
        for _ in 0..20000 {
            let r = next();
            values.push(match r % 4 {
                0 => f64::from_bits(next()),
                1 => (next() % 2_000_000_000_000_000) as f64 - 1e18,
                2 => (next() % 1_000_000) as f64 / 10f64.powi((next() % 12) as i32),
                _ => (next() % 100_000) as f64 * 10f64.powi((next() % 40) as i32 - 20),
            });
        }
        for x in values {
            if !x.is_finite() {
                continue;
            }
            for p in 1..=14 {
                let mut ours = Vec::new();
                format_g(&mut ours, x, p);
                assert_eq!(
                    String::from_utf8(ours).unwrap(),
                    c_format_g(x, p),
                    "{x:e} %.{p}g"
                );
            }
        }
    }
}
