//! Tests of the module that includes this file.

use crate::libs::testing::{check_cases, error_of, eval_str, hex, lua};

/// The results of `expr`, converted with `tostring` and joined with spaces.
fn all(lua: &mlua::Lua, expr: &str) -> String {
    eval_str(
        lua,
        &format!(
            "local r = {{{expr}}} local out = {{}} for i = 1, table.maxn(r) do \
             out[i] = tostring(r[i]) end return table.concat(out, ' ')"
        ),
    )
}

#[test]
fn redis_pack_double_and_negative_int64() {
    let lua = lua();
    // scripting.tcl "cmsgpack can pack double?" and "can pack negative int64?".
    assert_eq!(hex(&lua, "cmsgpack.pack(0.1)"), "cb3fb999999999999a");
    assert_eq!(
        hex(&lua, "cmsgpack.pack(-1099511627776)"),
        "d3ffffff0000000000"
    );
}

#[test]
fn pack_numbers() {
    let lua = lua();
    let cases = [
        (
            "cmsgpack.pack(0, 127, 128, 255, 256, 65535, 65536, 2^32-1, 2^32, 2^53)",
            "007fcc80ccffcd0100cdffffce00010000ceffffffffcf0000000100000000cf0020000000000000",
        ),
        (
            "cmsgpack.pack(-1, -32, -33, -128, -129, -32768, -32769, -2^31, -2^31-1, -2^63)",
            "ffe0d0dfd080d1ff7fd18000d2ffff7fffd280000000d3ffffffff7fffffffd38000000000000000",
        ),
        (
            "cmsgpack.pack(2^63, 2^64, -2^64, 1/0, -1/0, 0/0, -0.0, 1.5, 0.1, 1e300, \
             3.4028234663852886e38)",
            "ca5f000000ca5f800000cadf800000ca7f800000caff800000cbfff800000000000000ca3fc00000\
             cb3fb999999999999acb7e37e43c8800759cca7f7fffff",
        ),
    ];
    for (expr, want) in cases {
        assert_eq!(hex(&lua, expr), want, "{expr}");
    }
}

#[test]
fn pack_strings_tables_and_other_types() {
    let lua = lua();
    let cases = [
        (
            "cmsgpack.pack('', 'abc', string.rep('x', 31), string.rep('x', 32)):sub(1, 40)",
            "a0a3616263bf78787878787878787878787878787878787878787878787878787878787878d92078",
        ),
        ("cmsgpack.pack(string.rep('x', 256)):sub(1, 4)", "da010078"),
        ("cmsgpack.pack(string.rep('x', 65536)):sub(1, 6)", "db0001000078"),
        (
            "cmsgpack.pack({}, {1,2,3}, {a=1}, {[1]=1, [3]=3}, {[0]=1}, {[1.5]=1}, {1, nil, 3})",
            "909301020381a16101820101030381000181ca3fc00000018201010303",
        ),
        ("cmsgpack.pack({[true]=1})", "81c301"),
        ("cmsgpack.pack(true, false, nil, cjson.null, tostring, coroutine.create(function() end))", "c3c2c0c0c0c0"),
    ];
    for (expr, want) in cases {
        assert_eq!(hex(&lua, expr), want, "{expr}");
    }
    let headers = [
        ("local t = {} for i=1,16 do t[i]=i end", "dc0010"),
        ("local t = {} for i=1,70000 do t[i]=i end", "dd00011170"),
        ("local t = {} for i=1,16 do t['k'..i]=i end", "de0010"),
        (
            "local t = {} for i=1,70000 do t['k'..i]=i end",
            "df00011170",
        ),
    ];
    for (setup, want) in headers {
        let code = format!(
            "{setup} local s = cmsgpack.pack(t):sub(1, {}) local h = '' for i = 1, #s do \
             h = h .. string.format('%02x', s:byte(i)) end return h",
            want.len() / 2
        );
        assert_eq!(eval_str(&lua, &code), want, "{setup}");
    }
}

#[test]
fn redis_circular_references_stop_at_depth_16() {
    let lua = lua();
    // scripting.tcl "cmsgpack can pack and unpack circular references?".
    let code = r#"
        local a = {x=nil,y=5}
        local b = {x=a}
        a['x'] = b
        local encoded = cmsgpack.pack(a)
        local h = ""
        for i = 1, #encoded do
            h = h .. string.format("%02x",string.byte(encoded,i))
        end
        local re = cmsgpack.unpack(encoded)
        assert(re)
        assert(re.x)
        assert(re.x.x.y == re.y)
        assert(re.x.x.x.x.y == re.y)
        assert(re.x.x.x.x.x.x.y == re.y)
        assert(re.x.x.x.x.x.x.x.x.x.x.y == re.y)
        assert(re.x.x.x.x.x.x.x.x.x.x.x.x.x.x.y == re.y)
        assert(re.x.x.x.x.x.x.x.x.x.x.x.x.x.x.x)
        assert(re.x.x.x.x.x.x.x.x.x.x.x.x.x.x.x.x == nil)
        return h .. ' ' .. tostring(re.x.x.x.x.x.x.x.x.y == re.y) .. ' ' .. tostring(re.y == 5)
    "#;
    assert_eq!(
        eval_str(&lua, code),
        "82a17905a17881a17882a17905a17881a17882a17905a17881a17882a17905a17881a17882a17905a17881\
         a17882a17905a17881a17882a17905a17881a17882a17905a17881a178c0 true true"
    );
}

#[test]
fn redis_pack_unpack_smoke_test() {
    let lua = lua();
    // scripting.tcl "cmsgpack pack/unpack smoke test".
    let code = r#"
        local str_lt_32 = string.rep("x", 30)
        local str_lt_255 = string.rep("x", 250)
        local str_lt_65535 = string.rep("x", 65530)
        local str_long = string.rep("x", 100000)
        local array_lt_15 = {1, 2, 3, 4, 5}
        local array_lt_65535 = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}
        local array_big = {}
        for i=1, 100000 do
            array_big[i] = i
        end
        local map_lt_15 = {a=1, b=2}
        local map_big = {}
        for i=1, 100000 do
            map_big[tostring(i)] = i
        end
        local some_map = {
            s1=str_lt_32, s2=str_lt_255, s3=str_lt_65535, s4=str_long,
            d1=0.1, i1=1, i2=250, i3=65530, i4=100000, i5=2^40, i6=-1, i7=-120,
            i8=-32000, i9=-100000, i10=-3147483648,
            a1=array_lt_15, a2=array_lt_65535, a3=array_big, m1=map_lt_15, m2=map_big,
            b1=false, b2=true, n=nil
        }
        local encoded = cmsgpack.pack(some_map)
        local decoded = cmsgpack.unpack(encoded)
        assert(table.concat(some_map) == table.concat(decoded))
        local offset, decoded_one = cmsgpack.unpack_one(encoded, 0)
        assert(table.concat(some_map) == table.concat(decoded_one))
        assert(offset == -1)

        local encoded_multiple = cmsgpack.pack(str_lt_32, str_lt_255, str_lt_65535, str_long)
        local offset, obj = cmsgpack.unpack_limit(encoded_multiple, 1, 0)
        assert(obj == str_lt_32)
        offset, obj = cmsgpack.unpack_limit(encoded_multiple, 1, offset)
        assert(obj == str_lt_255)
        offset, obj = cmsgpack.unpack_limit(encoded_multiple, 1, offset)
        assert(obj == str_lt_65535)
        offset, obj = cmsgpack.unpack_limit(encoded_multiple, 1, offset)
        assert(obj == str_long)
        assert(offset == -1)

        -- And the values themselves survive the trip.
        assert(decoded.d1 == 0.1 and decoded.i5 == 2^40 and decoded.i10 == -3147483648)
        assert(decoded.a3[100000] == 100000 and decoded.m2["77777"] == 77777)
        assert(decoded.b1 == false and decoded.b2 == true and decoded.s4 == str_long)
        return "ok"
    "#;
    assert_eq!(eval_str(&lua, code), "ok");
}

#[test]
fn unpack_variants_and_offsets() {
    let lua = lua();
    let cases = [
        ("cmsgpack.unpack('')", ""),
        ("cmsgpack.unpack('\\1\\2\\3')", "1 2 3"),
        ("cmsgpack.unpack('\\1', 2)", "1"),
        ("cmsgpack.unpack_one('\\1\\2\\3')", "1 1"),
        ("cmsgpack.unpack_one('\\1\\2\\3', 1)", "2 2"),
        ("cmsgpack.unpack_one('\\1\\2\\3', 2)", "-1 3"),
        ("cmsgpack.unpack_one('\\1\\2\\3', 3)", "-1"),
        ("cmsgpack.unpack_one('')", "-1"),
        ("cmsgpack.unpack_limit('\\1\\2\\3', 2)", "2 1 2"),
        ("cmsgpack.unpack_limit('\\1\\2\\3', 0)", "1 2 3"),
        ("cmsgpack.unpack_limit('\\1\\2\\3', 0, 1)", "1"),
        ("cmsgpack.unpack_limit('\\1\\2\\3', 5, 1)", "-1 2 3"),
        (
            "cmsgpack.unpack('\\204\\255\\208\\255\\205\\1\\0\\209\\255\\254\\206\\255\\255\\255\\255\
             \\210\\255\\255\\255\\254')",
            "255 -1 256 -2 4294967295 -2",
        ),
        (
            "cmsgpack.unpack('\\207\\255\\255\\255\\255\\255\\255\\255\\255\
             \\211\\255\\255\\255\\255\\255\\255\\255\\254\\207\\0\\32\\0\\0\\0\\0\\0\\1')",
            "-1 -2 9.007199254741e+15",
        ),
        ("cmsgpack.unpack('\\202\\63\\192\\0\\0\\203\\63\\185\\153\\153\\153\\153\\153\\154\\224\\127')", "1.5 0.1 -32 127"),
        ("cmsgpack.unpack('\\192\\195\\194')", "nil true false"),
        ("cmsgpack.unpack('\\147\\1\\2\\3')[3]", "3"),
        ("cmsgpack.unpack('\\130\\161a\\1\\161b\\2').b", "2"),
        ("cmsgpack.unpack('\\146\\192\\1')[2]", "1"),
        ("#cmsgpack.unpack('\\146\\192\\1')", "0"),
        ("tostring(cmsgpack.unpack('\\129\\1\\192')[1])", "nil"),
        ("cmsgpack.unpack('\\217\\3abc\\218\\0\\2de\\219\\0\\0\\0\\1f')", "abc de f"),
        ("type(cmsgpack.unpack('\\144')), type(cmsgpack.unpack('\\128'))", "table table"),
        ("cmsgpack.unpack('\\220\\0\\1\\7')[1]", "7"),
        ("cmsgpack.unpack('\\222\\0\\1\\1\\2')[1]", "2"),
        // Containers as keys and values, nested both ways.
        ("next(cmsgpack.unpack('\\129\\145\\1\\2'))[1]", "1"),
        ("cmsgpack.unpack('\\130\\1\\129\\2\\145\\3\\4\\5')[1][2][1]", "3"),
        ("cmsgpack.unpack('\\130\\1\\129\\2\\145\\3\\4\\5')[4]", "5"),
        ("cmsgpack._NAME, cmsgpack._VERSION", "cmsgpack lua-cmsgpack 0.4.0"),
    ];
    for (expr, want) in cases {
        assert_eq!(all(&lua, expr), want, "{expr}");
    }
}

#[test]
fn unpack_errors() {
    let lua = lua();
    let cases = [
        (
            "cmsgpack.unpack('\\204')",
            "user_script:1: Missing bytes in input.",
        ),
        (
            "cmsgpack.unpack('\\193')",
            "user_script:1: Bad data format in input.",
        ),
        (
            "cmsgpack.unpack('\\196\\1a')",
            "user_script:1: Bad data format in input.",
        ),
        (
            "cmsgpack.unpack('\\212\\1\\1')",
            "user_script:1: Bad data format in input.",
        ),
        (
            "cmsgpack.unpack('\\147\\1\\2')",
            "user_script:1: Missing bytes in input.",
        ),
        (
            "cmsgpack.unpack('\\217\\5abc')",
            "user_script:1: Missing bytes in input.",
        ),
        (
            "cmsgpack.unpack('\\219\\0\\0\\0\\5abc')",
            "user_script:1: Missing bytes in input.",
        ),
        (
            "cmsgpack.unpack('\\203\\0\\0')",
            "user_script:1: Missing bytes in input.",
        ),
        ("cmsgpack.unpack('\\129\\192\\1')", "table index is nil"),
        (
            "cmsgpack.unpack('\\129\\202\\127\\192\\0\\0\\1')",
            "table index is NaN",
        ),
        (
            "cmsgpack.unpack('\\129\\192')",
            "user_script:1: Missing bytes in input.",
        ),
        (
            "cmsgpack.unpack('\\129\\192\\145\\1')",
            "table index is nil",
        ),
        (
            "cmsgpack.unpack()",
            "user_script:1: bad argument #1 to 'unpack' (string expected, got no value)",
        ),
        (
            "cmsgpack.unpack({})",
            "user_script:1: bad argument #1 to 'unpack' (string expected, got table)",
        ),
        (
            "cmsgpack.unpack_one('\\1', -1)",
            "user_script:1: Invalid request to unpack with offset of -1 and limit of 1.",
        ),
        (
            "cmsgpack.unpack_one('\\1', 5)",
            "user_script:1: Start offset 5 greater than input length 1.",
        ),
        (
            "cmsgpack.unpack_one('\\1', 'x')",
            "user_script:1: bad argument #2 to 'unpack_one' (number expected, got string)",
        ),
        (
            "cmsgpack.unpack_one(nil, 'x')",
            "user_script:1: bad argument #2 to 'unpack_one' (number expected, got string)",
        ),
        (
            "cmsgpack.unpack_limit('\\1')",
            "user_script:1: bad argument #2 to 'unpack_limit' (number expected, got no value)",
        ),
        (
            "cmsgpack.unpack_limit('\\1', -1)",
            "user_script:1: Invalid request to unpack with offset of 0 and limit of 1.",
        ),
        (
            "cmsgpack.unpack_limit('\\1\\2', 1, 3)",
            "user_script:1: Start offset 3 greater than input length 2.",
        ),
        (
            "cmsgpack.pack()",
            "user_script:1: bad argument #0 to 'pack' (MessagePack pack needs input.)",
        ),
        (
            "cmsgpack.pack(unpack({}, 1, 4001))",
            "user_script:1: bad argument #0 to 'pack' (Too many arguments for MessagePack pack.)",
        ),
    ];
    for (expr, want) in cases {
        assert_eq!(error_of(&lua, &format!("return {expr}")), want, "{expr}");
    }
}

#[test]
fn unpack_depth_and_result_count_are_bounded_like_the_lua_stack() {
    let lua = lua();
    let too_many = "user_script:1: stack overflow (too many return values at once; \
                    use unpack_one or unpack_limit instead.)";
    let ok = [
        (
            "select('#', cmsgpack.unpack(string.rep('\\1', 7999)))",
            "7999",
        ),
        (
            "type(cmsgpack.unpack(string.rep('\\145', 3999) .. '\\1'))",
            "table",
        ),
        (
            "type(cmsgpack.unpack(string.rep('\\129\\1', 3999) .. '\\1'))",
            "table",
        ),
        (
            "cmsgpack.unpack_one(string.rep('\\145', 3999) .. '\\1')",
            "-1",
        ),
        (
            "select('#', cmsgpack.unpack_limit(string.rep('\\1', 8000), 7998))",
            "7999",
        ),
    ];
    for (expr, want) in ok {
        assert_eq!(eval_str(&lua, &format!("return {expr}")), want, "{expr}");
    }
    let errors = [
        ("cmsgpack.unpack(string.rep('\\1', 8000))", too_many),
        (
            "cmsgpack.unpack(string.rep('\\145', 4000) .. '\\1')",
            "user_script:1: stack overflow (in function mp_decode_to_lua_array)",
        ),
        (
            "cmsgpack.unpack(string.rep('\\129', 7997) .. '\\1\\1')",
            "user_script:1: Missing bytes in input.",
        ),
        (
            "cmsgpack.unpack(string.rep('\\129', 7998) .. '\\1\\1')",
            too_many,
        ),
        (
            "cmsgpack.unpack(string.rep('\\129\\1', 4000) .. '\\1')",
            too_many,
        ),
        (
            "cmsgpack.unpack_limit(string.rep('\\1', 8000), 7999)",
            "user_script:1: stack overflow (in function mp_unpack_full)",
        ),
    ];
    for (expr, want) in errors {
        assert_eq!(error_of(&lua, &format!("return {expr}")), want, "{expr}");
    }
}

#[test]
fn truncated_input_at_every_length_is_missing_bytes() {
    let lua = lua();
    let code = r#"
        local s = cmsgpack.pack({1, 2.5, "abc", {k = "v", n = -70000}, true, 2^40})
        for i = 1, #s - 1 do
            local ok, e = pcall(cmsgpack.unpack, s:sub(1, i))
            assert(not ok and e == "Missing bytes in input.", i .. ": " .. tostring(e))
        end
        return "ok"
    "#;
    assert_eq!(eval_str(&lua, code), "ok");
}

#[test]
fn conversions_and_edge_cases_as_redis() {
    // Expected texts from Redis 7.0.15 running the same code.
    check_cases(
        &lua(),
        &[
            (r#"return cmsgpack.unpack_one('\1\2', 1.7)"#, r#"OK -1"#),
            (r#"return cmsgpack.unpack_one('\1\2', '1')"#, r#"OK -1"#),
            (
                r#"return cmsgpack.unpack_limit('\1\2\3', 1.9, 0.5)"#,
                r#"OK 1"#,
            ),
            (
                r#"return cmsgpack.unpack_limit('\1\2\3', 2^40)"#,
                r#"OK -1"#,
            ),
            (
                r#"return cmsgpack.unpack_one('\1\2', 2^33)"#,
                r#"ERR user_script:1: Start offset 0 greater than input length 2."#,
            ),
            (
                r#"return cmsgpack.unpack_one('\1\2', -2^33)"#,
                r#"ERR user_script:1: Invalid request to unpack with offset of 0 and limit of 2."#,
            ),
            (
                r#"return cmsgpack.unpack_limit('\1\2', -2^33)"#,
                r#"ERR user_script:1: Invalid request to unpack with offset of 0 and limit of 2."#,
            ),
            (
                r#"return select('#', cmsgpack.unpack_limit('\1\2\3', 2, 1))"#,
                r#"OK 3"#,
            ),
            (r#"return cmsgpack.unpack(123)"#, r#"OK 49"#),
            (r#"return cmsgpack.unpack(12.5)"#, r#"OK 49"#),
            (
                r#"return cmsgpack.pack('x', nil, 'y')"#,
                r#"OK \xa1x\xc0\xa1y"#,
            ),
            (
                r#"return #cmsgpack.pack(string.rep('a', 70000), {string.rep('b', 300)})"#,
                r#"OK 70309"#,
            ),
            (
                r#"return cmsgpack.unpack(cmsgpack.pack({[1]='a', [2]='b', [3]='c'}))[3]"#,
                r#"OK c"#,
            ),
            (
                r#"return cmsgpack.unpack(cmsgpack.pack({[2]='b', [1]='a'}))[2]"#,
                r#"OK b"#,
            ),
            (
                r#"return cmsgpack.pack({[1]='a', [2]='b', [4]='c'})"#,
                r#"OK \x83\x01\xa1a\x02\xa1b\x04\xa1c"#,
            ),
            (
                r#"return cmsgpack.pack({[2^31]='a'})"#,
                r#"OK \x81\xce\x80\x00\x00\x00\xa1a"#,
            ),
            (
                r#"return cmsgpack.pack({[2^31-1]='a'})"#,
                r#"OK \x81\xce\x7f\xff\xff\xff\xa1a"#,
            ),
            (r#"return cmsgpack.pack({[-1]='a'})"#, r#"OK \x81\xff\xa1a"#),
            (
                r#"return cmsgpack.pack(setmetatable({}, {__index = function() return 1 end}))"#,
                r#"OK \x90"#,
            ),
            (
                r#"return cmsgpack.pack(setmetatable({1, 2}, {__index = function() return 1 end}))"#,
                r#"OK \x92\x01\x02"#,
            ),
            (
                r#"return cmsgpack.pack({1, {2, {3, {4}}}})"#,
                r#"OK \x92\x01\x92\x02\x92\x03\x91\x04"#,
            ),
            (
                r#"local t = {} for i=1,3999 do t[i] = {i} end return #cmsgpack.pack(unpack(t))"#,
                r#"OK 15614"#,
            ),
            (
                r#"local t = {} for i=1,4001 do t[i] = {i} end return #cmsgpack.pack(unpack(t))"#,
                r#"ERR user_script:1: bad argument #0 to 'pack' (Too many arguments for MessagePack pack.)"#,
            ),
            (
                r#"local t = {} for i=1,7990 do t[i] = 'x'..i end local r = {cmsgpack.unpack(cmsgpack.pack(unpack(t, 1, 3990)))} return #r .. r[3990]"#,
                r#"OK 3990x3990"#,
            ),
            (
                r#"local o = {} for k in pairs(cmsgpack) do o[#o+1] = k end return table.concat(o, ' ')"#,
                r#"OK _DESCRIPTION pack _NAME unpack _COPYRIGHT _VERSION unpack_one unpack_limit"#,
            ),
            (
                r#"return cmsgpack._COPYRIGHT .. '|' .. cmsgpack._DESCRIPTION"#,
                r#"OK Copyright (C) 2012, Salvatore Sanfilippo|MessagePack C implementation for Lua"#,
            ),
        ],
    );
}
