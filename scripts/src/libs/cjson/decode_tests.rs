//! Tests of the module that includes this file.

use super::strtod;
use crate::libs::testing::{check_cases, lua};

#[test]
fn decodes_as_redis_does() {
    check_cases(
        &lua(),
        &[
            (
                r#"return table.concat(cjson.decode("[0.0, -5e3, -1, 0.3e-3, 1023.2, 0e10]"), " ")"#,
                r#"OK 0 -5000 -1 0.0003 1023.2 0"#,
            ),
            (
                r#"local d = cjson.decode('{"keya": "a", "keyb": "b"}') return d.keya .. d.keyb"#,
                r#"OK ab"#,
            ),
            (
                r#"return cjson.encode(cjson.decode('{"a":[1,2,{"b":null}],"c":true,"d":false,"e":"x"}'))"#,
                r#"OK {"a":[1,2,{"b":null}],"d":false,"c":true,"e":"x"}"#,
            ),
            (
                r#"return cjson.decode('"\\u0041\\u00e9\\u20ac\\ud83d\\ude00"')"#,
                r#"OK A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"#,
            ),
            (r#"return cjson.decode('"\\u0000"')"#, r#"OK \x00"#),
            (r#"return #cjson.decode('"a\\u0000b"')"#, r#"OK 3"#),
            (
                r#"return cjson.decode('"\\ud83d"')"#,
                r#"ERR user_script:1: Expected value but found invalid unicode escape code at character 2"#,
            ),
            (
                r#"return cjson.decode('"\\ud83d\\u0041"')"#,
                r#"ERR user_script:1: Expected value but found invalid unicode escape code at character 2"#,
            ),
            (
                r#"return cjson.decode('"\\ude00"')"#,
                r#"ERR user_script:1: Expected value but found invalid unicode escape code at character 2"#,
            ),
            (
                r#"return cjson.decode('"\\ud83dx"')"#,
                r#"ERR user_script:1: Expected value but found invalid unicode escape code at character 2"#,
            ),
            (
                r#"return cjson.decode('"\\u12"')"#,
                r#"ERR user_script:1: Expected value but found invalid unicode escape code at character 2"#,
            ),
            (
                r#"return cjson.decode('"\\u12G4"')"#,
                r#"ERR user_script:1: Expected value but found invalid unicode escape code at character 2"#,
            ),
            (
                r#"return cjson.decode('"\\x"')"#,
                r#"ERR user_script:1: Expected value but found invalid escape code at character 2"#,
            ),
            (
                r#"return cjson.decode('"\\')"#,
                r#"ERR user_script:1: Expected value but found invalid escape code at character 2"#,
            ),
            (
                r#"return cjson.decode('"abc')"#,
                r#"ERR user_script:1: Expected value but found unexpected end of string at character 5"#,
            ),
            (
                r#"return cjson.decode('"a\\"b\\\\c\\/d\\b\\f\\n\\r\\t"')"#,
                r#"OK a"b\x5cc/d\x08\x0c\x0a\x0d\x09"#,
            ),
            (
                r#"return cjson.decode('"raw\1\31ctl"')"#,
                r#"OK raw\x01\x1fctl"#,
            ),
            (
                r#"return cjson.decode('')"#,
                r#"ERR user_script:1: Expected value but found T_END at character 1"#,
            ),
            (
                r#"return cjson.decode(' ')"#,
                r#"ERR user_script:1: Expected value but found T_END at character 2"#,
            ),
            (
                r#"return cjson.decode('[')"#,
                r#"ERR user_script:1: Expected value but found T_END at character 2"#,
            ),
            (
                r#"return cjson.decode('[1,')"#,
                r#"ERR user_script:1: Expected value but found T_END at character 4"#,
            ),
            (
                r#"return cjson.decode('[1 2]')"#,
                r#"ERR user_script:1: Expected comma or array end but found T_NUMBER at character 4"#,
            ),
            (
                r#"return cjson.decode('{"a" 1}')"#,
                r#"ERR user_script:1: Expected colon but found T_NUMBER at character 6"#,
            ),
            (
                r#"return cjson.decode('{"a":1 "b"}')"#,
                r#"ERR user_script:1: Expected comma or object end but found T_STRING at character 8"#,
            ),
            (
                r#"return cjson.decode('{1:2}')"#,
                r#"ERR user_script:1: Expected object key string but found T_NUMBER at character 2"#,
            ),
            (
                r#"return cjson.decode('{"a":}')"#,
                r#"ERR user_script:1: Expected value but found T_OBJ_END at character 6"#,
            ),
            (
                r#"return cjson.decode('[1]x')"#,
                r#"ERR user_script:1: Expected the end but found invalid token at character 4"#,
            ),
            (
                r#"return cjson.decode('1 2')"#,
                r#"ERR user_script:1: Expected the end but found T_NUMBER at character 3"#,
            ),
            (
                r#"return cjson.decode('nul')"#,
                r#"ERR user_script:1: Expected value but found invalid token at character 1"#,
            ),
            (
                r#"return cjson.decode('tru')"#,
                r#"ERR user_script:1: Expected value but found invalid token at character 1"#,
            ),
            (
                r#"return cjson.decode('falsey')"#,
                r#"ERR user_script:1: Expected the end but found invalid token at character 6"#,
            ),
            (
                r#"return cjson.decode('@')"#,
                r#"ERR user_script:1: Expected value but found invalid token at character 1"#,
            ),
            (
                r#"return cjson.decode(']')"#,
                r#"ERR user_script:1: Expected value but found T_ARR_END at character 1"#,
            ),
            (
                r#"return cjson.decode('{')"#,
                r#"ERR user_script:1: Expected object key string but found T_END at character 2"#,
            ),
            (r#"return cjson.decode('{}')[1]"#, r#"OK nil"#),
            (r#"return type(cjson.decode('{}'))"#, r#"OK table"#),
            (r#"return type(cjson.decode('[]'))"#, r#"OK table"#),
            (r#"return cjson.decode('[1]\0garbage')[1]"#, r#"OK 1"#),
            (
                r#"return cjson.decode('"ab\0cd"')"#,
                r#"ERR user_script:1: Expected value but found unexpected end of string at character 4"#,
            ),
            (
                r#"return cjson.decode('\0a')"#,
                r#"ERR user_script:1: JSON parser does not support UTF-16 or UTF-32"#,
            ),
            (
                r#"return cjson.decode('a\0')"#,
                r#"ERR user_script:1: JSON parser does not support UTF-16 or UTF-32"#,
            ),
            (r#"return cjson.decode('1')"#, r#"OK 1"#),
            (r#"return cjson.decode(123)"#, r#"OK 123"#),
            (r#"return cjson.decode(1.5)"#, r#"OK 1.5"#),
            (
                r#"return cjson.decode({})"#,
                r#"ERR user_script:1: bad argument #1 to 'decode' (string expected, got table)"#,
            ),
            (
                r#"return cjson.decode()"#,
                r#"ERR user_script:1: bad argument #1 to 'decode' (expected 1 argument)"#,
            ),
            (
                r#"return cjson.decode('1', 2)"#,
                r#"ERR user_script:1: bad argument #1 to 'decode' (expected 1 argument)"#,
            ),
            (r#"return cjson.decode('0x10')"#, r#"OK 16"#),
            (r#"return cjson.decode('-0x1p4')"#, r#"OK -16"#),
            (r#"return cjson.decode('0x1.8p1')"#, r#"OK 3"#),
            (r#"return cjson.decode('0x.8')"#, r#"OK 0.5"#),
            (
                r#"return cjson.decode('0x')"#,
                r#"ERR user_script:1: Expected the end but found invalid token at character 2"#,
            ),
            (
                r#"return cjson.decode('0xg')"#,
                r#"ERR user_script:1: Expected the end but found invalid token at character 2"#,
            ),
            (
                r#"return cjson.decode('0x1fffffffffffff')"#,
                r#"OK 9.007199254741e+15"#,
            ),
            (
                r#"return cjson.decode('0x20000000000001')"#,
                r#"OK 9.007199254741e+15"#,
            ),
            (
                r#"return cjson.decode('0x20000000000003')"#,
                r#"OK 9.007199254741e+15"#,
            ),
            (
                r#"return string.format('%.17g', cjson.decode('0x1.fffffffffffff8p0'))"#,
                r#"OK 2"#,
            ),
            (
                r#"return string.format('%.17g', cjson.decode('0x1p-1074'))"#,
                r#"OK 4.9406564584124654e-324"#,
            ),
            (
                r#"return string.format('%.17g', cjson.decode('0x1p-1075'))"#,
                r#"OK 0"#,
            ),
            (
                r#"return string.format('%.17g', cjson.decode('0x3p-1075'))"#,
                r#"OK 9.8813129168249309e-324"#,
            ),
            (
                r#"return string.format('%.17g', cjson.decode('0x1p1024'))"#,
                r#"OK inf"#,
            ),
            (r#"return cjson.decode('+1')"#, r#"OK 1"#),
            (
                r#"return cjson.decode('+')"#,
                r#"ERR user_script:1: Expected value but found invalid number at character 1"#,
            ),
            (
                r#"return cjson.decode('-')"#,
                r#"ERR user_script:1: Expected value but found invalid number at character 1"#,
            ),
            (
                r#"return cjson.decode('-a')"#,
                r#"ERR user_script:1: Expected value but found invalid number at character 1"#,
            ),
            (r#"return cjson.decode('01')"#, r#"OK 1"#),
            (r#"return cjson.decode('-01')"#, r#"OK -1"#),
            (r#"return cjson.decode('1.')"#, r#"OK 1"#),
            (r#"return cjson.decode('1.e2')"#, r#"OK 100"#),
            (r#"return cjson.decode('-.5')"#, r#"OK -0.5"#),
            (
                r#"return cjson.decode('1e')"#,
                r#"ERR user_script:1: Expected the end but found invalid token at character 2"#,
            ),
            (
                r#"return cjson.decode('1e+')"#,
                r#"ERR user_script:1: Expected the end but found invalid token at character 2"#,
            ),
            (
                r#"return cjson.decode('1e5x')"#,
                r#"ERR user_script:1: Expected the end but found invalid token at character 4"#,
            ),
            (
                r#"return cjson.decode('1.5.3')"#,
                r#"ERR user_script:1: Expected the end but found invalid token at character 4"#,
            ),
            (r#"return cjson.decode('1e400')"#, r#"OK inf"#),
            (r#"return cjson.decode('-1e400')"#, r#"OK -inf"#),
            (r#"return cjson.decode('1e-400')"#, r#"OK 0"#),
            (r#"return cjson.decode('inf')"#, r#"OK inf"#),
            (r#"return cjson.decode('-inf')"#, r#"OK -inf"#),
            (r#"return cjson.decode('Infinity')"#, r#"OK inf"#),
            (r#"return cjson.decode('-Infinity')"#, r#"OK -inf"#),
            (
                r#"return cjson.decode('infinit')"#,
                r#"ERR user_script:1: Expected the end but found invalid token at character 4"#,
            ),
            (
                r#"return cjson.decode('infx')"#,
                r#"ERR user_script:1: Expected the end but found invalid token at character 4"#,
            ),
            (r#"return cjson.decode('nan')"#, r#"OK nan"#),
            (r#"return cjson.decode('NaN')"#, r#"OK nan"#),
            (r#"return cjson.decode('-nan')"#, r#"OK -nan"#),
            (r#"return cjson.decode('nan(123)')"#, r#"OK nan"#),
            (
                r#"return cjson.decode('nan(12')"#,
                r#"ERR user_script:1: Expected the end but found invalid token at character 4"#,
            ),
            (
                r#"return cjson.decode('i')"#,
                r#"ERR user_script:1: Expected value but found invalid token at character 1"#,
            ),
            (
                r#"return cjson.decode('N')"#,
                r#"ERR user_script:1: Expected value but found invalid token at character 1"#,
            ),
            (r#"return cjson.decode('[1,nan,2]')[3]"#, r#"OK 2"#),
            (
                r#"return cmsgpack.pack(cjson.decode('nan(123)'))"#,
                r#"OK \xcb\x7f\xf8\x00\x00\x00\x00\x00{"#,
            ),
            (
                r#"return cmsgpack.pack(cjson.decode('nan(0x7)'))"#,
                r#"OK \xcb\x7f\xf8\x00\x00\x00\x00\x00\x07"#,
            ),
            (
                r#"return cmsgpack.pack(cjson.decode('-nan(010)'))"#,
                r#"OK \xcb\xff\xf8\x00\x00\x00\x00\x00\x08"#,
            ),
            (
                r#"return cmsgpack.pack(cjson.decode('nan(abc)'))"#,
                r#"OK \xcb\x7f\xf8\x00\x00\x00\x00\x00\x00"#,
            ),
            (
                r#"return cmsgpack.pack(cjson.decode('nan()'))"#,
                r#"OK \xcb\x7f\xf8\x00\x00\x00\x00\x00\x00"#,
            ),
            (r#"return cjson.decode('0.1') == 0.1"#, r#"OK true"#),
            (
                r#"return cjson.decode('123456789012345678901234567890')"#,
                r#"OK 1.2345678901235e+29"#,
            ),
            (
                r#"return cjson.decode('0.000000000000000000000000000001')"#,
                r#"OK 1e-30"#,
            ),
            (
                r#"return cjson.decode('2.2250738585072011e-308') == 2.2250738585072011e-308"#,
                r#"OK true"#,
            ),
            (
                r#"local c = cjson.new() c.decode_invalid_numbers(false) return c.decode('0x10')"#,
                r#"ERR user_script:1: Expected value but found invalid number at character 1"#,
            ),
            (
                r#"local c = cjson.new() c.decode_invalid_numbers(false) return c.decode('01')"#,
                r#"ERR user_script:1: Expected value but found invalid number at character 1"#,
            ),
            (
                r#"local c = cjson.new() c.decode_invalid_numbers(false) return c.decode('-01')"#,
                r#"ERR user_script:1: Expected value but found invalid number at character 1"#,
            ),
            (
                r#"local c = cjson.new() c.decode_invalid_numbers(false) return c.decode('0')"#,
                r#"OK 0"#,
            ),
            (
                r#"local c = cjson.new() c.decode_invalid_numbers(false) return c.decode('-0')"#,
                r#"OK -0"#,
            ),
            (
                r#"local c = cjson.new() c.decode_invalid_numbers(false) return c.decode('+1')"#,
                r#"ERR user_script:1: Expected value but found invalid token at character 1"#,
            ),
            (
                r#"local c = cjson.new() c.decode_invalid_numbers(false) return c.decode('inf')"#,
                r#"ERR user_script:1: Expected value but found invalid token at character 1"#,
            ),
            (
                r#"local c = cjson.new() c.decode_invalid_numbers(false) return c.decode('-inf')"#,
                r#"ERR user_script:1: Expected value but found invalid number at character 1"#,
            ),
            (
                r#"local c = cjson.new() c.decode_invalid_numbers(false) return c.decode('nan')"#,
                r#"ERR user_script:1: Expected value but found invalid token at character 1"#,
            ),
            (
                r#"local c = cjson.new() c.decode_invalid_numbers(false) return c.decode('-.5')"#,
                r#"OK -0.5"#,
            ),
            (
                r#"local c = cjson.new() c.decode_invalid_numbers(false) return c.decode('-\200')"#,
                r#"ERR user_script:1: Expected value but found invalid number at character 1"#,
            ),
            (
                r#"local c = cjson.new() c.decode_invalid_numbers(false) return c.decode('-x')"#,
                r#"ERR user_script:1: Expected value but found invalid number at character 1"#,
            ),
            (
                r#"local c = cjson.new() c.decode_invalid_numbers(false) return c.decode('[1.5e3, -2]')[1]"#,
                r#"OK 1500"#,
            ),
            (
                r#"local c = cjson.new() c.decode_max_depth(1) return c.decode('{"obj": {"array": [1,2,3,4]}}')"#,
                r#"ERR user_script:1: Found too many nested data structures (2) at character 9"#,
            ),
            (
                r#"local c = cjson.new() c.decode_max_depth(1) return c.decode('[[1]]')"#,
                r#"ERR user_script:1: Found too many nested data structures (2) at character 2"#,
            ),
            (
                r#"local c = cjson.new() c.decode_max_depth(1) return c.decode('[[]]')"#,
                r#"ERR user_script:1: Found too many nested data structures (2) at character 2"#,
            ),
            (
                r#"local c = cjson.new() c.decode_max_depth(1) return #c.decode('[1,2]')"#,
                r#"OK 2"#,
            ),
            (
                r#"local c = cjson.new() c.decode_max_depth(2) return c.decode('  [ [ [ ] ] ]')"#,
                r#"ERR user_script:1: Found too many nested data structures (3) at character 7"#,
            ),
            (
                r#"return cjson.decode(string.rep('[', 1000) .. string.rep(']', 1000)) ~= nil"#,
                r#"OK true"#,
            ),
            (
                r#"return cjson.decode(string.rep('[', 1001) .. string.rep(']', 1001))"#,
                r#"ERR user_script:1: Found too many nested data structures (1001) at character 1001"#,
            ),
            (
                r#"return cjson.decode(string.rep('{"a":', 1001))"#,
                r#"ERR user_script:1: Found too many nested data structures (1001) at character 5001"#,
            ),
            (
                r#"local c = cjson.new() c.decode_max_depth(100000) return c.decode(string.rep('[', 7998) .. string.rep(']', 7998)) ~= nil"#,
                r#"OK true"#,
            ),
            (
                r#"local c = cjson.new() c.decode_max_depth(100000) return c.decode(string.rep('[', 7999) .. string.rep(']', 7999))"#,
                r#"ERR user_script:1: Found too many nested data structures (7999) at character 7999"#,
            ),
            (
                r#"local c = cjson.new() c.decode_max_depth(100000) return c.decode(string.rep('{"a":', 3998) .. '1' .. string.rep('}', 3998)) ~= nil"#,
                r#"OK true"#,
            ),
            (
                r#"local c = cjson.new() c.decode_max_depth(100000) return c.decode(string.rep('{"a":[', 2666) .. '1' .. string.rep(']}', 2666)) ~= nil"#,
                r#"OK true"#,
            ),
            (
                r#"local c = cjson.new() c.decode_max_depth(100000) return c.decode(string.rep('{"a":[', 2667) .. '1' .. string.rep(']}', 2667))"#,
                r#"ERR user_script:1: Found too many nested data structures (5333) at character 15997"#,
            ),
            (
                r#"local c = cjson.new() c.decode_max_depth(100000) return c.decode(string.rep('[', 200000))"#,
                r#"ERR user_script:1: Found too many nested data structures (7999) at character 7999"#,
            ),
            (
                r#"local d = cjson.decode('{"a":1,"a":2}') return d.a"#,
                r#"OK 2"#,
            ),
            (
                r#"local d = cjson.decode('{"":1}') return d[""]"#,
                r#"OK 1"#,
            ),
            (
                r#"local d = cjson.decode('[1,[2,[3,{"k":[4]}]],5]') return d[2][2][2].k[1] + d[3]"#,
                r#"OK 9"#,
            ),
            (
                r#"return cjson.encode(cjson.decode('{"k":{"k2":{"k3":[1,{"x":"y"},[],{}]}},"z":[[[]]]}'))"#,
                r#"OK {"k":{"k2":{"k3":[1,{"x":"y"},{},{}]}},"z":[[{}]]}"#,
            ),
            (
                r#"return cjson.decode('\239\187\191[1]')"#,
                r#"ERR user_script:1: Expected value but found invalid token at character 1"#,
            ),
            (
                r#"return cjson.decode('"\200\201"') == '\200\201'"#,
                r#"OK true"#,
            ),
            (
                r#"return cjson.decode('["\\u00e9", "\\u00E9"]')[2]"#,
                r#"OK \xc3\xa9"#,
            ),
            (
                r#"return cjson.decode(' \t\r\n[ \t\r\n1 \t\r\n, \t\r\n2 \t\r\n] \t\r\n')[2]"#,
                r#"OK 2"#,
            ),
            (
                r#"return cjson.decode('[1,]')"#,
                r#"ERR user_script:1: Expected value but found T_ARR_END at character 4"#,
            ),
            (
                r#"return cjson.decode('[,1]')"#,
                r#"ERR user_script:1: Expected value but found T_COMMA at character 2"#,
            ),
            (
                r#"return cjson.decode('{"a":1,}')"#,
                r#"ERR user_script:1: Expected object key string but found T_OBJ_END at character 8"#,
            ),
            (
                r#"return cjson.decode('{,}')"#,
                r#"ERR user_script:1: Expected object key string but found T_COMMA at character 2"#,
            ),
        ],
    );
}

extern "C" {
    #[link_name = "strtod"]
    fn c_strtod(s: *const std::ffi::c_char, end: *mut *mut std::ffi::c_char) -> f64;
    fn snprintf(
        buf: *mut std::ffi::c_char,
        n: usize,
        fmt: *const std::ffi::c_char,
        ...
    ) -> std::ffi::c_int;
}

/// The C library's strtod: the bits of the value and the length read.
fn c_read(s: &str) -> (u64, usize) {
    let c = std::ffi::CString::new(s).unwrap();
    let mut end = std::ptr::null_mut();
    // SAFETY: `c` is a NUL-terminated string that outlives the call.
    let v = unsafe { c_strtod(c.as_ptr(), &mut end) };
    (v.to_bits(), end as usize - c.as_ptr() as usize)
}

fn ours(s: &str) -> (u64, usize) {
    let mut bytes = s.as_bytes().to_vec();
    bytes.push(0);
    let (v, n) = strtod(&bytes);
    (v.to_bits(), n)
}

fn c_hex(x: f64) -> String {
    let mut buf = [0u8; 64];
    // SAFETY: %a of a double fits the buffer; snprintf stops at its size.
    let n = unsafe { snprintf(buf.as_mut_ptr().cast(), buf.len(), c"%a".as_ptr(), x) };
    String::from_utf8(buf[..n as usize].to_vec()).unwrap()
}

#[test]
fn strtod_matches_the_c_library() {
    let mut texts: Vec<String> = [
        "0",
        "-0",
        "+1",
        "1.",
        ".5",
        "-.5",
        "1e",
        "1e+",
        "1e-2x",
        "1.5.3",
        "00012",
        "1e400",
        "-1e400",
        "1e-400",
        "2.4703282292062328e-324",
        "2.4703282292062327e-324",
        "inf",
        "-Infinity",
        "infinit",
        "nan",
        "-NaN",
        "nan(123)",
        "nan(0x7f)",
        "nan(010)",
        "nan(abc)",
        "nan()",
        "nan(12",
        "nan(1 2)",
        "0x",
        "0x.",
        "0xg",
        "0x1p",
        "0x1p+",
        "0x1P-2",
        "0x.8",
        "0x1.8p1",
        "-0x1p4",
        "0x1fffffffffffff",
        "0x20000000000001",
        "0x20000000000003",
        "0x1.fffffffffffff8p0",
        "0x1.fffffffffffff7ffffffp0",
        "0x1p-1074",
        "0x1p-1075",
        "0x1.0000000001p-1075",
        "0x3p-1075",
        "0x1p1023",
        "0x1p1024",
        "0x1.fffffffffffffp1023",
        "0x1.fffffffffffff8p1023",
        "0x0.0000000000001p-1022",
        "0x123456789abcdef0123p-20",
        "-",
        "+",
        "x",
        "",
        "1e99999999999999999999",
        "0x1p99999999999999999999",
        "0x1p-99999999999999999999",
        "179769313486231580793728971405303415079934132710037826936",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..20000 {
        let x = f64::from_bits(next());
        if !x.is_finite() {
            continue;
        }
        texts.push(format!("{x:e}"));
        texts.push(format!("{:.*e}", (next() % 25) as usize, x));
        let hex = c_hex(x);
        // Drop some hex digits, or add more, to exercise rounding.
        let cut = (next() % 8) as usize;
        if let Some(p) = hex.find('p') {
            let (m, e) = hex.split_at(p);
            let m = if cut < m.len() - 3 {
                &m[..m.len() - cut]
            } else {
                m
            };
            texts.push(format!("{m}{e}"));
            texts.push(format!("{m}{:x}{e}", next()));
        }
        texts.push(hex);
    }
    for t in &texts {
        assert_eq!(ours(t), c_read(t), "{t}");
    }
}
