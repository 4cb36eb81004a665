//! `struct`: Roberto Ierusalimschy's struct library (struct.c 1.7) as Redis ships it:
//! `struct.pack(fmt, ...)`, `struct.unpack(fmt, s [, pos])` and `struct.size(fmt)`.
//!
//! Format characters: `>` big endian, `<` little endian (the default, as on x86-64), `![n]`
//! alignment (default 8, the platform's maximum), `x` a zero byte, `b`/`B` signed/unsigned char,
//! `h`/`H` short (2 bytes), `l`/`L` long (8), `T` size_t (8), `i`/`I[n]` int of n bytes (default
//! 4, at most 32), `f` float, `d` double, `c[n]` n chars (pack: `c0` is the whole string; unpack:
//! `c0` takes its length from the previous result), `s` a zero-terminated string, spaces ignored.
//! Anything else is an "invalid format option" (for `pack` and `unpack`; `size` skips letters
//! and digits it does not know, as the C code does).
//!
//! Integers are handled as 64-bit `long`s, numbers converted the way the C compiler converts a
//! double (truncation; out-of-range values become `0x8000000000000000`, or 0 from 2^64 up when
//! positive).

use mlua::{Lua, Value};

use super::{
    arg_check, arg_error, check_stack, error, function, module_table, ret1, Args, Fail, LibResult,
    Ret,
};

/// Largest size of an integral type.
const MAX_INT_SIZE: usize = 32;
/// Default alignment for `!`: the alignment of `double` on x86-64.
const MAX_ALIGN: usize = 8;

#[derive(Clone, Copy, PartialEq)]
enum Endian {
    Big,
    Little,
}

struct Header {
    endian: Endian,
    align: usize,
}

impl Header {
    fn new() -> Self {
        Header {
            endian: Endian::Little,
            align: 1,
        }
    }
}

/// A format string being read: `opt` is the current option, the digits after it are read on
/// demand (as `getnum` does).
struct Format<'a> {
    fmt: &'a [u8],
    pos: usize,
}

impl Format<'_> {
    /// The next option; the C code reads up to the first NUL.
    fn next_opt(&mut self) -> Option<u8> {
        match self.fmt.get(self.pos) {
            Some(&c) if c != 0 => {
                self.pos += 1;
                Some(c)
            }
            _ => None,
        }
    }

    /// `getnum`: a decimal number following the option, or `default`.
    fn number(&mut self, lua: &Lua, default: usize) -> Result<usize, Fail> {
        let mut a: i32 = 0;
        let mut any = false;
        while let Some(&c) = self.fmt.get(self.pos).filter(|c| c.is_ascii_digit()) {
            let d = (c - b'0') as i32;
            if a > i32::MAX / 10 || a * 10 > i32::MAX - d {
                return Err(error(lua, "integral size overflow"));
            }
            a = a * 10 + d;
            self.pos += 1;
            any = true;
        }
        Ok(if any { a as usize } else { default })
    }
}

/// `optsize`: the size of option `opt` (0 for those without one).
fn opt_size(lua: &Lua, opt: u8, fmt: &mut Format) -> Result<usize, Fail> {
    Ok(match opt {
        b'B' | b'b' => 1,
        b'H' | b'h' => 2,
        b'L' | b'l' | b'T' | b'd' => 8,
        b'f' => 4,
        b'x' => 1,
        b'c' => fmt.number(lua, 1)?,
        b'i' | b'I' => {
            let sz = fmt.number(lua, 4)?;
            if sz > MAX_INT_SIZE {
                return Err(error(
                    lua,
                    format!("integral size {sz} is larger than limit of {MAX_INT_SIZE}"),
                ));
            }
            sz
        }
        _ => 0,
    })
}

/// `gettoalign`: padding needed before an item of `size` bytes at offset `len`.
fn to_align(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size.wrapping_sub(len & (size - 1))) & (size - 1)
}

/// `controloptions`: endianness, alignment and spaces; anything else is invalid.
fn control(lua: &Lua, opt: u8, fmt: &mut Format, h: &mut Header) -> Result<(), Fail> {
    match opt {
        b' ' => {}
        b'>' => h.endian = Endian::Big,
        b'<' => h.endian = Endian::Little,
        b'!' => {
            let a = fmt.number(lua, MAX_ALIGN)?;
            if !a.is_power_of_two() {
                return Err(error(lua, format!("alignment {a} is not a power of 2")));
            }
            h.align = a;
        }
        _ => {
            let mut msg = b"invalid format option '".to_vec();
            msg.push(opt);
            msg.push(b'\'');
            return Err(arg_error(lua, 1, msg));
        }
    }
    Ok(())
}

/// Bytes of a float or double in the requested byte order (they are little endian natively).
fn ordered<const N: usize>(mut bytes: [u8; N], endian: Endian) -> [u8; N] {
    if endian == Endian::Big {
        bytes.reverse();
    }
    bytes
}

fn pack(lua: &Lua, args: &Args) -> LibResult {
    let fmt = args.check_string(lua, 1)?;
    let args = &args.with_nil_mark();
    let fmt = fmt.as_bytes();
    let mut fmt = Format { fmt: &fmt, pos: 0 };
    let mut h = Header::new();
    let mut arg = 2;
    let mut out: Vec<u8> = Vec::new();
    while let Some(opt) = fmt.next_opt() {
        let mut size = opt_size(lua, opt, &mut fmt)?;
        let pad = to_align(out.len(), &h, opt, size);
        out.resize(out.len() + pad, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = args.check_number(lua, arg)?;
                arg += 1;
                let mut value = if n < 0.0 {
                    super::c_double_to_i64(n) as u64
                } else {
                    super::c_double_to_u64(n)
                };
                let start = out.len();
                out.resize(start + size, 0);
                let bytes = &mut out[start..];
                for i in 0..size {
                    let at = if h.endian == Endian::Little {
                        i
                    } else {
                        size - 1 - i
                    };
                    bytes[at] = value as u8;
                    value >>= 8;
                }
            }
            b'x' => out.push(0),
            b'f' => {
                let f = args.check_number(lua, arg)? as f32;
                arg += 1;
                out.extend_from_slice(&ordered(f.to_le_bytes(), h.endian));
            }
            b'd' => {
                let d = args.check_number(lua, arg)?;
                arg += 1;
                out.extend_from_slice(&ordered(d.to_le_bytes(), h.endian));
            }
            b'c' | b's' => {
                let s = args.check_string(lua, arg)?;
                arg += 1;
                let s = s.as_bytes();
                if size == 0 {
                    size = s.len();
                }
                // The C code checks after moving to the next argument, so it names that one.
                arg_check(lua, s.len() >= size, arg as i64, "string too short")?;
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => control(lua, opt, &mut fmt, &mut h)?,
        }
    }
    ret1(Value::String(lua.create_string(&out)?))
}

/// `getinteger`: an integer of `bytes.len()` bytes. As in the C code only the last 8 bytes (in
/// order of significance) count, and the sign extension of sizes above 8 follows x86-64 shifts.
fn get_integer(bytes: &[u8], endian: Endian, signed: bool) -> f64 {
    let mut l: u64 = 0;
    let mut take = |b: u8| l = (l << 8) | b as u64;
    if endian == Endian::Big {
        bytes.iter().for_each(|&b| take(b));
    } else {
        bytes.iter().rev().for_each(|&b| take(b));
    }
    if !signed {
        return l as f64;
    }
    let shift = (bytes.len() as u32).wrapping_mul(8).wrapping_sub(1);
    let mask = u64::MAX.wrapping_shl(shift);
    if l & mask != 0 {
        l |= mask;
    }
    l as i64 as f64
}

fn unpack(lua: &Lua, args: &Args) -> LibResult {
    let fmt = args.check_string(lua, 1)?;
    let fmt = fmt.as_bytes();
    let mut fmt = Format { fmt: &fmt, pos: 0 };
    let data = args.check_string(lua, 2)?;
    let data = data.as_bytes();
    let ld = data.len();
    // A negative start becomes a huge `size_t`, which the C code lets through to "data string
    // too short" (or returns, minus one, if the format is empty).
    let start = args.opt_integer(lua, 3, 1)? as u64 as usize;
    arg_check(lua, start > 0, 3, "offset must be 1 or greater")?;
    let mut pos = start - 1;
    let mut h = Header::new();
    let results = lua.create_table()?;
    let mut n = 0usize;
    let mut last: Value = Value::Nil;
    let base = args.top() as i64;
    while let Some(opt) = fmt.next_opt() {
        let mut size = opt_size(lua, opt, &mut fmt)?;
        pos = pos.wrapping_add(to_align(pos, &h, opt, size));
        arg_check(
            lua,
            size <= ld && pos <= ld - size,
            2,
            "data string too short",
        )?;
        check_stack(lua, base + n as i64, 2, "too many results")?;
        let item: Option<Value> = match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let bytes = &data[pos..pos + size];
                Some(Value::Number(get_integer(
                    bytes,
                    h.endian,
                    opt.is_ascii_lowercase(),
                )))
            }
            b'x' => None,
            b'f' => {
                let b: [u8; 4] = data[pos..pos + 4].try_into().unwrap();
                Some(Value::Number(
                    f32::from_le_bytes(ordered(b, h.endian)) as f64
                ))
            }
            b'd' => {
                let b: [u8; 8] = data[pos..pos + 8].try_into().unwrap();
                Some(Value::Number(f64::from_le_bytes(ordered(b, h.endian))))
            }
            b'c' => {
                if size == 0 {
                    // The previous result (if it reads as a number) is the length; it is
                    // replaced by the string.
                    let len = match n {
                        0 => None,
                        _ => super::to_number(lua, &last)?,
                    };
                    let Some(len) = len else {
                        return Err(error(lua, "format 'c0' needs a previous size"));
                    };
                    size = super::c_double_to_u64(len) as usize;
                    results.raw_set(n, Value::Nil)?;
                    n -= 1;
                    arg_check(
                        lua,
                        size <= ld && pos <= ld - size,
                        2,
                        "data string too short",
                    )?;
                }
                Some(Value::String(lua.create_string(&data[pos..pos + size])?))
            }
            b's' => {
                let Some(len) = data[pos..].iter().position(|&b| b == 0) else {
                    return Err(error(lua, "unfinished string in data"));
                };
                size = len + 1;
                Some(Value::String(lua.create_string(&data[pos..pos + len])?))
            }
            _ => {
                control(lua, opt, &mut fmt, &mut h)?;
                None
            }
        };
        if let Some(v) = item {
            n += 1;
            results.raw_set(n, v.clone())?;
            last = v;
        }
        pos = pos.wrapping_add(size);
    }
    n += 1;
    results.raw_set(n, Value::Number(pos.wrapping_add(1) as i64 as f64))?;
    Ok(Ret::Spread(results, n))
}

fn size(lua: &Lua, args: &Args) -> LibResult {
    let fmt = args.check_string(lua, 1)?;
    let fmt = fmt.as_bytes();
    let mut fmt = Format { fmt: &fmt, pos: 0 };
    let mut h = Header::new();
    let mut pos: usize = 0;
    while let Some(opt) = fmt.next_opt() {
        let size = opt_size(lua, opt, &mut fmt)?;
        pos = pos.wrapping_add(to_align(pos, &h, opt, size));
        if opt == b's' {
            return Err(arg_error(lua, 1, "option 's' has no fixed size"));
        } else if opt == b'c' && size == 0 {
            return Err(arg_error(lua, 1, "option 'c0' has no fixed size"));
        }
        if !opt.is_ascii_alphanumeric() {
            control(lua, opt, &mut fmt, &mut h)?;
        }
        pos = pos.wrapping_add(size);
    }
    ret1(Value::Number(pos as i64 as f64))
}

pub(super) fn open(lua: &Lua) -> mlua::Result<mlua::Table> {
    let f = |f: fn(&Lua, &Args) -> LibResult| function(lua, move |lua, args| f(lua, &args));
    module_table(
        lua,
        vec![
            ("pack", f(pack)?),
            ("unpack", f(unpack)?),
            ("size", f(size)?),
        ],
    )
}

#[cfg(test)]
mod tests {
    use crate::libs::testing::{check_cases, error_of, eval_str, hex, lua};

    /// The results of `expr`, joined with spaces.
    fn all(lua: &mlua::Lua, expr: &str) -> String {
        eval_str(
            lua,
            &format!(
                "local r = {{{expr}}} local out = {{}} for i = 1, #r do \
                 out[i] = tostring(r[i]) end return table.concat(out, ' ')"
            ),
        )
    }

    #[test]
    fn pack_integers_and_byte_order() {
        let lua = lua();
        let cases = [
            ("struct.pack('b', -1)", "ff"),
            ("struct.pack('B', 255)", "ff"),
            ("struct.pack('h', 1)", "0100"),
            ("struct.pack('>h', 1)", "0001"),
            ("struct.pack('<H', 0x1234)", "3412"),
            ("struct.pack('>l', -2)", "fffffffffffffffe"),
            ("struct.pack('L', 1)", "0100000000000000"),
            ("struct.pack('T', 1)", "0100000000000000"),
            ("struct.pack('>i', 1)", "00000001"),
            ("struct.pack('>i3', 0x010203)", "010203"),
            ("struct.pack('<I2', 0x10203)", "0302"),
            ("struct.pack('>i10', -1)", "0000ffffffffffffffff"),
            ("struct.pack('i0', 5)", ""),
            // Conversions as the C compiler does them.
            ("struct.pack('>L', 0/0)", "8000000000000000"),
            ("struct.pack('>L', 2^64)", "0000000000000000"),
            ("struct.pack('>l', -2^64)", "8000000000000000"),
            ("struct.pack('>L', 2^63 + 2^12)", "8000000000001000"),
            ("struct.pack('>i', 1.9)", "00000001"),
            ("struct.pack('>i', -1.9)", "ffffffff"),
            ("struct.pack('>i', '0x10')", "00000010"),
        ];
        for (expr, want) in cases {
            assert_eq!(hex(&lua, expr), want, "{expr}");
        }
    }

    #[test]
    fn pack_floats_strings_and_padding() {
        let lua = lua();
        let cases = [
            ("struct.pack('f', 1.5)", "0000c03f"),
            ("struct.pack('>f', 1.5)", "3fc00000"),
            ("struct.pack('>d', 0.1)", "3fb999999999999a"),
            ("struct.pack('d', -0.0)", "0000000000000080"),
            ("struct.pack('x')", "00"),
            ("struct.pack('c', 'abc')", "61"),
            ("struct.pack('c2', 'abc')", "6162"),
            ("struct.pack('c0', 'abc')", "616263"),
            ("struct.pack('s', 'ab')", "616200"),
            ("struct.pack('c0', 12)", "3132"),
            ("struct.pack('b >h', 1, 2)", "010002"),
            ("struct.pack('!b h', 1, 2)", "01000200"),
            (
                "struct.pack('!bd', 1, 0)",
                "01000000000000000000000000000000",
            ),
            ("struct.pack('!4bd', 1, 0)", "010000000000000000000000"),
            ("struct.pack('!2bi', 1, 2)", "010002000000"),
            ("struct.pack('!bc3', 1, 'abc')", "01616263"),
        ];
        for (expr, want) in cases {
            assert_eq!(hex(&lua, expr), want, "{expr}");
        }
    }

    #[test]
    fn unpack_values_and_next_position() {
        let lua = lua();
        let cases = [
            ("struct.unpack('b', '\\255')", "-1 2"),
            ("struct.unpack('B', '\\255')", "255 2"),
            ("struct.unpack('>h', '\\255\\254')", "-2 3"),
            ("struct.unpack('<H', '\\1\\2')", "513 3"),
            ("struct.unpack('>i3', '\\255\\255\\254')", "-2 4"),
            ("struct.unpack('>I3', '\\255\\255\\254')", "16777214 4"),
            (
                "struct.unpack('l', struct.pack('l', -2^53))",
                "-9.007199254741e+15 9",
            ),
            (
                "struct.unpack('>i9', '\\255\\255\\255\\255\\255\\255\\255\\255\\127')",
                "-1 10",
            ),
            (
                "struct.unpack('>i9', '\\0\\0\\0\\0\\0\\0\\0\\0\\128')",
                "-128 10",
            ),
            ("struct.unpack('<i16', string.rep('\\255', 16))", "-1 17"),
            (
                "struct.unpack('>L', struct.pack('>L', 2^63))",
                "9.2233720368548e+18 9",
            ),
            ("struct.unpack('i0', '')", "0 1"),
            ("struct.unpack('>f', struct.pack('>f', 1.5))", "1.5 5"),
            ("struct.unpack('d', struct.pack('d', 0.1))", "0.1 9"),
            ("struct.unpack('c2', 'abc')", "ab 3"),
            ("struct.unpack('s', 'ab\\0cd')", "ab 4"),
            ("struct.unpack('bc0', '\\3abcd')", "abc 5"),
            ("struct.unpack('c1c0', '3abcd')", "abc 5"),
            ("struct.unpack('xb', '\\1\\2')", "2 3"),
            ("struct.unpack('b', 'ab', 2)", "98 3"),
            ("struct.unpack('!bh', '\\1\\0\\2\\0')", "1 2 5"),
            ("struct.unpack('', 'abc', 3)", "3"),
            ("struct.unpack('', 'abc', -1)", "-1"),
            ("struct.unpack('>i10', struct.pack('>i10', -1))", "-1 11"),
        ];
        for (expr, want) in cases {
            assert_eq!(all(&lua, expr), want, "{expr}");
        }
    }

    #[test]
    fn round_trips() {
        let lua = lua();
        let got = all(
            &lua,
            "struct.unpack('<!4 b B h H l L i I3 f d s c3', struct.pack('<!4 b B h H l L i I3 f d s c3', \
             -5, 250, -300, 60000, -2^40, 2^40, -70000, 70000, 0.25, 1/3, 'hello', 'xyz'))",
        );
        assert_eq!(got, "-5 250 -300 60000 -1099511627776 1099511627776 -70000 70000 0.25 0.33333333333333 hello xyz 58");
    }

    #[test]
    fn size_of_formats() {
        let lua = lua();
        let cases = [
            ("struct.size('')", "0"),
            ("struct.size('bhilfdT')", "35"),
            ("struct.size('!bhilfdT')", "40"),
            ("struct.size('c10 x i7')", "18"),
            ("struct.size('!4 b d')", "12"),
            // Unknown letters count nothing in size (pack and unpack reject them).
            ("struct.size('jz')", "0"),
        ];
        for (expr, want) in cases {
            assert_eq!(eval_str(&lua, &format!("return {expr}")), want, "{expr}");
        }
    }

    #[test]
    fn errors_as_struct_c_raises_them() {
        let lua = lua();
        let cases = [
            (
                "struct.pack('j', 1)",
                "bad argument #1 to 'pack' (invalid format option 'j')",
            ),
            (
                "struct.unpack('q', 'abc')",
                "bad argument #1 to 'unpack' (invalid format option 'q')",
            ),
            (
                "struct.size('?')",
                "bad argument #1 to 'size' (invalid format option '?')",
            ),
            (
                "struct.unpack('i', 'ab')",
                "bad argument #2 to 'unpack' (data string too short)",
            ),
            (
                "struct.unpack('b', 'ab', 3)",
                "bad argument #2 to 'unpack' (data string too short)",
            ),
            (
                "struct.unpack('b', 'ab', 0)",
                "bad argument #3 to 'unpack' (offset must be 1 or greater)",
            ),
            (
                "struct.unpack('b', 'ab', -1)",
                "bad argument #2 to 'unpack' (data string too short)",
            ),
            (
                "struct.unpack('b', 'ab', 'x')",
                "bad argument #3 to 'unpack' (number expected, got string)",
            ),
            (
                "struct.pack('i33', 1)",
                "integral size 33 is larger than limit of 32",
            ),
            ("struct.size('c99999999999')", "integral size overflow"),
            ("struct.pack('!3')", "alignment 3 is not a power of 2"),
            ("struct.pack('!0')", "alignment 0 is not a power of 2"),
            (
                "struct.pack('c5', 'ab')",
                "bad argument #3 to 'pack' (string too short)",
            ),
            (
                "struct.pack('i')",
                "bad argument #2 to 'pack' (number expected, got nil)",
            ),
            (
                "struct.pack('ii', 1)",
                "bad argument #3 to 'pack' (number expected, got nil)",
            ),
            (
                "struct.pack('bs', 1, {})",
                "bad argument #3 to 'pack' (string expected, got table)",
            ),
            (
                "struct.pack(nil)",
                "bad argument #1 to 'pack' (string expected, got nil)",
            ),
            (
                "struct.unpack('b')",
                "bad argument #2 to 'unpack' (string expected, got no value)",
            ),
            (
                "struct.unpack('c0', 'abc')",
                "format 'c0' needs a previous size",
            ),
            (
                "struct.unpack('c1c0', 'xabc')",
                "format 'c0' needs a previous size",
            ),
            (
                "struct.unpack('bc0', '\\9ab')",
                "bad argument #2 to 'unpack' (data string too short)",
            ),
            ("struct.unpack('s', 'abc')", "unfinished string in data"),
            (
                "struct.size('s')",
                "bad argument #1 to 'size' (option 's' has no fixed size)",
            ),
            (
                "struct.size('c0')",
                "bad argument #1 to 'size' (option 'c0' has no fixed size)",
            ),
        ];
        for (expr, want) in cases {
            assert_eq!(
                error_of(&lua, &format!("return {expr}")),
                format!("user_script:1: {want}"),
                "{expr}"
            );
        }
        // The option is quoted as the byte it is.
        let raw = "local ok, e = pcall(struct.pack, '\\200') \
                   return e == \"bad argument #1 to '?' (invalid format option '\\200')\"";
        assert_eq!(eval_str(&lua, raw), "true");
        assert_eq!(
            error_of(&lua, "return struct:pack('i')"),
            "user_script:1: calling 'pack' on bad self (string expected, got table)"
        );
    }

    #[test]
    fn unpack_result_count_is_bounded_like_the_lua_stack() {
        let lua = lua();
        // 7997 results and the position fit in the C function's 8000 slots with the 2 arguments;
        // one more result does not.
        assert_eq!(
            eval_str(
                &lua,
                "return select('#', struct.unpack(string.rep('b', 7997), string.rep('a', 7997)))"
            ),
            "7998"
        );
        assert_eq!(
            error_of(
                &lua,
                "return struct.unpack(string.rep('b', 7998), string.rep('a', 7998))"
            ),
            "user_script:1: stack overflow (too many results)"
        );
    }

    #[test]
    fn conversions_and_edge_cases_as_redis() {
        // Expected texts from Redis 7.0.15 running the same code.
        check_cases(
            &lua(),
            &[
                (
                    r#"return struct.pack(12)"#,
                    r#"ERR user_script:1: bad argument #1 to 'pack' (invalid format option '1')"#,
                ),
                (
                    r#"return struct.pack('>I', 2^32 + 7)"#,
                    r#"OK \x00\x00\x00\x07"#,
                ),
                (r#"return struct.pack('>i2', 70000)"#, r#"OK \x11p"#),
                (r#"return struct.pack('>B', -1)"#, r#"OK \xff"#),
                (r#"return struct.pack('b', 200)"#, r#"OK \xc8"#),
                (
                    r#"return struct.unpack('>I4', '\255\255\255\255')"#,
                    r#"OK 4294967295"#,
                ),
                (
                    r#"return struct.unpack('>i4', '\255\255\255\255')"#,
                    r#"OK -1"#,
                ),
                (
                    r#"return struct.unpack('>L', '\255\255\255\255\255\255\255\255')"#,
                    r#"OK 1.844674407371e+19"#,
                ),
                (r#"return struct.unpack('b', 'abc', 2.9)"#, r#"OK 98"#),
                (r#"return struct.unpack('b', 'abc', '2')"#, r#"OK 98"#),
                (r#"return struct.unpack('b', 12)"#, r#"OK 49"#),
                (
                    r#"return struct.unpack('c0', 'ab')"#,
                    r#"ERR user_script:1: format 'c0' needs a previous size"#,
                ),
                (r#"return struct.unpack('bc0', '\0ab')"#, r#"OK "#),
                (r#"return struct.unpack('Bc0', '\2abc')"#, r#"OK ab"#),
                (r#"return struct.unpack('>hc0', '\0\3abc')"#, r#"OK abc"#),
                (
                    r#"return struct.unpack('dc0', struct.pack('d', 2.5) .. 'abc')"#,
                    r#"OK ab"#,
                ),
                (
                    r#"return struct.unpack('dc0', struct.pack('d', -1) .. 'abc')"#,
                    r#"ERR user_script:1: bad argument #2 to 'unpack' (data string too short)"#,
                ),
                (
                    r#"return struct.unpack('!d', 'a' .. string.rep('\0', 15), 2)"#,
                    r#"OK 0"#,
                ),
                (
                    r#"return struct.unpack('!4 b i', 'a\0\0\0\1\0\0\0')"#,
                    r#"OK 97"#,
                ),
                (r#"return struct.size('!16 b d')"#, r#"OK 16"#),
                (r#"return struct.size('! b d')"#, r#"OK 16"#),
                (r#"return struct.size('!1 b d')"#, r#"OK 9"#),
                (r#"return struct.size('i2 !8 i3')"#, r#"OK 5"#),
                (r#"return struct.size('<>!')"#, r#"OK 0"#),
                (r#"return struct.pack('s', 'a\0b')"#, r#"OK a\x00b\x00"#),
                (r#"return struct.pack('c0', 'a\0b')"#, r#"OK a\x00b"#),
                (r#"return #struct.pack('c3', 'abcdef')"#, r#"OK 3"#),
                (
                    r#"return struct.unpack('z', '')"#,
                    r#"ERR user_script:1: bad argument #1 to 'unpack' (invalid format option 'z')"#,
                ),
                (
                    r#"return struct.unpack('b', '', 1)"#,
                    r#"ERR user_script:1: bad argument #2 to 'unpack' (data string too short)"#,
                ),
                (
                    r#"return struct.unpack('x', 'a', 2)"#,
                    r#"ERR user_script:1: bad argument #2 to 'unpack' (data string too short)"#,
                ),
                (r#"return struct.unpack('', '')"#, r#"OK 1"#),
                (r#"return struct.pack('', 1, 2)"#, r#"OK "#),
                (
                    r#"return struct.pack('f', 1e300)"#,
                    r#"OK \x00\x00\x80\x7f"#,
                ),
                (
                    r#"return struct.pack('>f', 1e-50)"#,
                    r#"OK \x00\x00\x00\x00"#,
                ),
                (r#"return struct.unpack('>f', '\127\192\0\0')"#, r#"OK nan"#),
                (
                    r#"return struct.unpack('<d', '\0\0\0\0\0\0\240\127')"#,
                    r#"OK inf"#,
                ),
                (r#"return struct.pack('>i2', 0/0)"#, r#"OK \x00\x00"#),
                (r#"return struct.pack('>i2', 1/0)"#, r#"OK \x00\x00"#),
                (
                    r#"return struct.pack('>I', -1/0)"#,
                    r#"OK \x00\x00\x00\x00"#,
                ),
                (
                    r#"local t = {} for i=1,7990 do t[i] = 'x'..i end return #struct.pack(string.rep('c0', 7990), unpack(t))"#,
                    r#"OK 38843"#,
                ),
                (
                    r#"local t = {} for i=1,7990 do t[i] = 'x' end return struct.size('b', unpack(t))"#,
                    r#"OK 1"#,
                ),
                (
                    r#"local o = {} for k in pairs(struct) do o[#o+1] = k end return table.concat(o, ' ')"#,
                    r#"OK pack size unpack"#,
                ),
            ],
        );
    }
}
