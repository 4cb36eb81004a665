//! `cjson`: lua-cjson 2.1.0 as Redis ships it.
//!
//! `cjson.encode(v)` and `cjson.decode(s)`, `cjson.null` (a NULL light userdata, what JSON null
//! decodes to), the configuration functions and `cjson.new()`, which returns another module
//! table with its own configuration. Each module table's functions share one configuration, so
//! each Lua state has its own settings.
//!
//! The configuration functions take an optional new value and return the current setting(s):
//! `encode_sparse_array([convert [, ratio [, safe]]])` (defaults false, 2, 10),
//! `encode_max_depth([n])` and `decode_max_depth([n])` (1000), `encode_number_precision([n])`
//! (14, from 1 to 14), `encode_keep_buffer([on])` (true; no effect on results here),
//! `encode_invalid_numbers([on|"null"])` (false) and `decode_invalid_numbers([on])` (true).
//! Booleans or the strings "on"/"off" (and "null") are accepted where the C library accepts them.

mod decode;
mod encode;

use std::cell::Cell;
use std::rc::Rc;

use mlua::{Lua, Table, Value};

use super::{arg_check, arg_error, function, ret1, Args, Fail, Ret};

/// The settings of one module table (lua-cjson's `json_config_t` without its buffers).
#[derive(Clone, Copy)]
struct Config {
    encode_sparse_convert: i32,
    encode_sparse_ratio: i32,
    encode_sparse_safe: i32,
    encode_max_depth: i32,
    /// 0: error, 1: encode as `nan`/`inf`, 2: encode as `null`.
    encode_invalid_numbers: i32,
    encode_number_precision: i32,
    encode_keep_buffer: i32,
    decode_invalid_numbers: i32,
    decode_max_depth: i32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            encode_sparse_convert: 0,
            encode_sparse_ratio: 2,
            encode_sparse_safe: 10,
            encode_max_depth: 1000,
            encode_invalid_numbers: 0,
            encode_number_precision: 14,
            encode_keep_buffer: 1,
            decode_invalid_numbers: 1,
            decode_max_depth: 1000,
        }
    }
}

type Shared = Rc<Cell<Config>>;

/// `json_arg_init`: at most `n` arguments.
fn arg_init(lua: &Lua, args: &Args, n: usize) -> Result<(), Fail> {
    arg_check(
        lua,
        args.top() <= n,
        n as i64 + 1,
        "found too many arguments",
    )
}

/// `json_integer_option`: sets `*setting` from argument `i` unless it is nil (the range error
/// always names argument 1, as the C code does), then returns the setting.
fn integer_option(
    lua: &Lua,
    args: &Args,
    i: usize,
    setting: &mut i32,
    min: i32,
    max: i32,
) -> Result<Value, Fail> {
    if !args.is_none_or_nil(i) {
        // luaL_checkinteger, then stored in an `int`.
        let value = args.check_integer(lua, i)? as i32;
        arg_check(
            lua,
            min <= value && value <= max,
            1,
            &format!("expected integer between {min} and {max}"),
        )?;
        *setting = value;
    }
    Ok(Value::Number(*setting as f64))
}

/// `json_enum_option` with `bool_true` 1: a boolean, or one of `options` by name (`luaL_checkoption`
/// compares up to the first NUL, as C strings do). Returns the setting as a boolean for 0 and
/// 1, else by name.
fn enum_option(
    lua: &Lua,
    args: &Args,
    i: usize,
    setting: &mut i32,
    options: &[&str],
) -> Result<Value, Fail> {
    match args.get(i) {
        None | Some(Value::Nil) => {}
        Some(Value::Boolean(b)) => *setting = b as i32,
        Some(_) => {
            let name = args.check_string(lua, i)?;
            let name = name.as_bytes();
            let name = name.split(|&b| b == 0).next().unwrap_or_default();
            match options.iter().position(|o| o.as_bytes() == name) {
                Some(pos) => *setting = pos as i32,
                None => {
                    let mut msg = b"invalid option '".to_vec();
                    msg.extend_from_slice(name);
                    msg.push(b'\'');
                    return Err(arg_error(lua, i as i64, msg));
                }
            }
        }
    }
    Ok(match *setting {
        0 | 1 => Value::Boolean(*setting == 1),
        s => Value::String(lua.create_string(options[s as usize])?),
    })
}

const BOOL_OPTIONS: &[&str] = &["off", "on"];

/// A configuration function: `f` updates a copy of the settings (kept even if a later argument
/// fails, as in C) and returns the results.
fn config_function(
    lua: &Lua,
    cfg: &Shared,
    nargs: usize,
    f: fn(&Lua, &Args, &mut Config) -> Result<Vec<Value>, Fail>,
) -> mlua::Result<mlua::Function> {
    let cfg = cfg.clone();
    function(lua, move |lua, args| {
        arg_init(lua, &args, nargs)?;
        let mut c = cfg.get();
        let result = f(lua, &args, &mut c);
        cfg.set(c);
        Ok(Ret::Values(result?))
    })
}

/// A module table with a fresh configuration (`lua_cjson_new`).
fn new_module(lua: &Lua) -> mlua::Result<Table> {
    let cfg: Shared = Rc::new(Cell::new(Config::default()));
    let table = lua.create_table()?;
    let c = cfg.clone();
    table.raw_set(
        "encode",
        function(lua, move |lua, args| {
            arg_check(lua, args.top() == 1, 1, "expected 1 argument")?;
            let json = encode::encode(lua, &c.get(), args.get(1).unwrap())?;
            ret1(Value::String(lua.create_string(json)?))
        })?,
    )?;
    let c = cfg.clone();
    table.raw_set(
        "decode",
        function(lua, move |lua, args| {
            arg_check(lua, args.top() == 1, 1, "expected 1 argument")?;
            let s = args.check_string(lua, 1)?;
            ret1(decode::decode(lua, &c.get(), &s)?)
        })?,
    )?;
    table.raw_set(
        "encode_sparse_array",
        config_function(lua, &cfg, 3, |lua, args, c| {
            Ok(vec![
                enum_option(lua, args, 1, &mut c.encode_sparse_convert, BOOL_OPTIONS)?,
                integer_option(lua, args, 2, &mut c.encode_sparse_ratio, 0, i32::MAX)?,
                integer_option(lua, args, 3, &mut c.encode_sparse_safe, 0, i32::MAX)?,
            ])
        })?,
    )?;
    table.raw_set(
        "encode_max_depth",
        config_function(lua, &cfg, 1, |lua, args, c| {
            Ok(vec![integer_option(
                lua,
                args,
                1,
                &mut c.encode_max_depth,
                1,
                i32::MAX,
            )?])
        })?,
    )?;
    table.raw_set(
        "decode_max_depth",
        config_function(lua, &cfg, 1, |lua, args, c| {
            Ok(vec![integer_option(
                lua,
                args,
                1,
                &mut c.decode_max_depth,
                1,
                i32::MAX,
            )?])
        })?,
    )?;
    table.raw_set(
        "encode_number_precision",
        config_function(lua, &cfg, 1, |lua, args, c| {
            Ok(vec![integer_option(
                lua,
                args,
                1,
                &mut c.encode_number_precision,
                1,
                14,
            )?])
        })?,
    )?;
    table.raw_set(
        "encode_keep_buffer",
        config_function(lua, &cfg, 1, |lua, args, c| {
            Ok(vec![enum_option(
                lua,
                args,
                1,
                &mut c.encode_keep_buffer,
                BOOL_OPTIONS,
            )?])
        })?,
    )?;
    table.raw_set(
        "encode_invalid_numbers",
        config_function(lua, &cfg, 1, |lua, args, c| {
            let options = &["off", "on", "null"];
            Ok(vec![enum_option(
                lua,
                args,
                1,
                &mut c.encode_invalid_numbers,
                options,
            )?])
        })?,
    )?;
    table.raw_set(
        "decode_invalid_numbers",
        config_function(lua, &cfg, 1, |lua, args, c| {
            Ok(vec![enum_option(
                lua,
                args,
                1,
                &mut c.decode_invalid_numbers,
                BOOL_OPTIONS,
            )?])
        })?,
    )?;
    table.raw_set(
        "new",
        function(lua, |lua, _| ret1(Value::Table(new_module(lua)?)))?,
    )?;
    table.raw_set("null", Value::NULL)?;
    table.raw_set("_NAME", "cjson")?;
    table.raw_set("_VERSION", "2.1.0")?;
    Ok(table)
}

pub(super) fn open(lua: &Lua) -> mlua::Result<Table> {
    new_module(lua)
}

#[cfg(test)]
mod tests {
    use crate::libs::testing::{check_cases, eval_str, lua};

    #[test]
    fn redis_json_smoke_test() {
        let lua = lua();
        // scripting.tcl "JSON smoke test", "JSON numeric decoding" and "JSON string decoding".
        let code = r#"
            local some_map = {
                s1="Some string",
                n1=100,
                a1={"Some","String","Array"},
                nil1=nil,
                b1=true,
                b2=false}
            local encoded = cjson.encode(some_map)
            local decoded = cjson.decode(encoded)
            assert(table.concat(some_map) == table.concat(decoded))

            cjson.encode_keep_buffer(false)
            encoded = cjson.encode(some_map)
            decoded = cjson.decode(encoded)
            assert(table.concat(some_map) == table.concat(decoded))

            local table1 = {one="one", [1]="one"}
            encoded = cjson.encode(table1)
            decoded = cjson.decode(encoded)
            assert(decoded["one"] == table1["one"])
            assert(decoded["1"] == table1[1])

            local array1 = {[1]="one", [2]="two"}
            encoded = cjson.encode(array1)
            decoded = cjson.decode(encoded)
            assert(table.concat(array1) == table.concat(decoded))

            local invalid_map = {}
            invalid_map[false] = "false"
            local ok, encoded = pcall(cjson.encode, invalid_map)
            assert(ok == false)

            cjson.encode_max_depth(1)
            ok, encoded = pcall(cjson.encode, some_map)
            assert(ok == false)

            cjson.decode_max_depth(1)
            ok, decoded = pcall(cjson.decode, '{"obj": {"array": [1,2,3,4]}}')
            assert(ok == false)

            ok, encoded = pcall(cjson.encode, {num1=0/0})
            assert(ok == false)
            cjson.encode_invalid_numbers(true)
            ok, encoded = pcall(cjson.encode, {num1=0/0})
            assert(ok == true)

            cjson.decode_max_depth(1000)
            cjson.encode_max_depth(1000)
            cjson.encode_invalid_numbers(false)
            return "ok"
        "#;
        assert_eq!(eval_str(&lua, code), "ok");
        assert_eq!(
            eval_str(
                &lua,
                r#"return table.concat(cjson.decode("[0.0, -5e3, -1, 0.3e-3, 1023.2, 0e10]"), " ")"#
            ),
            "0 -5000 -1 0.0003 1023.2 0"
        );
        assert_eq!(
            eval_str(
                &lua,
                r#"local d = cjson.decode('{"keya": "a", "keyb": "b"}') return d.keya .. d.keyb"#
            ),
            "ab"
        );
    }

    #[test]
    fn configuration_functions() {
        check_cases(
            &lua(),
            &[
                (
                    r#"local c = cjson.new() return c.encode_max_depth()"#,
                    r#"OK 1000"#,
                ),
                (
                    r#"local c = cjson.new() return c.encode_max_depth(0)"#,
                    r#"ERR user_script:1: bad argument #1 to 'encode_max_depth' (expected integer between 1 and 2147483647)"#,
                ),
                (
                    r#"local c = cjson.new() return c.encode_max_depth(2^31)"#,
                    r#"ERR user_script:1: bad argument #1 to 'encode_max_depth' (expected integer between 1 and 2147483647)"#,
                ),
                (
                    r#"local c = cjson.new() return c.encode_max_depth(2^32 + 5)"#,
                    r#"OK 5"#,
                ),
                (
                    r#"local c = cjson.new() return c.encode_max_depth('7')"#,
                    r#"OK 7"#,
                ),
                (
                    r#"local c = cjson.new() return c.encode_max_depth('x')"#,
                    r#"ERR user_script:1: bad argument #1 to 'encode_max_depth' (number expected, got string)"#,
                ),
                (
                    r#"local c = cjson.new() return c.encode_max_depth(1, 2)"#,
                    r#"ERR user_script:1: bad argument #2 to 'encode_max_depth' (found too many arguments)"#,
                ),
                (
                    r#"local c = cjson.new() return c.encode_max_depth(1.9)"#,
                    r#"OK 1"#,
                ),
                (
                    r#"local c = cjson.new() return c.decode_max_depth(5)"#,
                    r#"OK 5"#,
                ),
                (
                    r#"local c = cjson.new() return table.concat({tostring(c.encode_sparse_array())}, ' ')"#,
                    r#"OK false"#,
                ),
                (
                    r#"local c = cjson.new() local a, b, d = c.encode_sparse_array() return tostring(a) .. ' ' .. b .. ' ' .. d"#,
                    r#"OK false 2 10"#,
                ),
                (
                    r#"local c = cjson.new() local a, b, d = c.encode_sparse_array(true, 3, 4) return tostring(a) .. ' ' .. b .. ' ' .. d"#,
                    r#"OK true 3 4"#,
                ),
                (
                    r#"local c = cjson.new() local a, b, d = c.encode_sparse_array('on') return tostring(a) .. ' ' .. b .. ' ' .. d"#,
                    r#"OK true 2 10"#,
                ),
                (
                    r#"local c = cjson.new() local a, b, d = c.encode_sparse_array('off') return tostring(a) .. ' ' .. b .. ' ' .. d"#,
                    r#"OK false 2 10"#,
                ),
                (
                    r#"local c = cjson.new() return c.encode_sparse_array('yes')"#,
                    r#"ERR user_script:1: bad argument #1 to 'encode_sparse_array' (invalid option 'yes')"#,
                ),
                (
                    r#"local c = cjson.new() return c.encode_sparse_array(1)"#,
                    r#"ERR user_script:1: bad argument #1 to 'encode_sparse_array' (invalid option '1')"#,
                ),
                (
                    r#"local c = cjson.new() return c.encode_sparse_array({})"#,
                    r#"ERR user_script:1: bad argument #1 to 'encode_sparse_array' (string expected, got table)"#,
                ),
                (
                    r#"local c = cjson.new() return c.encode_sparse_array(nil, -1)"#,
                    r#"ERR user_script:1: bad argument #1 to 'encode_sparse_array' (expected integer between 0 and 2147483647)"#,
                ),
                (
                    r#"local c = cjson.new() return c.encode_sparse_array(nil, nil, -1)"#,
                    r#"ERR user_script:1: bad argument #1 to 'encode_sparse_array' (expected integer between 0 and 2147483647)"#,
                ),
                (
                    r#"local c = cjson.new() return c.encode_sparse_array(nil, nil, nil, nil)"#,
                    r#"ERR user_script:1: bad argument #4 to 'encode_sparse_array' (found too many arguments)"#,
                ),
                (
                    r#"local c = cjson.new() pcall(c.encode_sparse_array, true, -1) local a, b, d = c.encode_sparse_array() return tostring(a) .. ' ' .. b .. ' ' .. d"#,
                    r#"OK true 2 10"#,
                ),
                (
                    r#"local c = cjson.new() return c.encode_number_precision()"#,
                    r#"OK 14"#,
                ),
                (
                    r#"local c = cjson.new() return c.encode_number_precision(15)"#,
                    r#"ERR user_script:1: bad argument #1 to 'encode_number_precision' (expected integer between 1 and 14)"#,
                ),
                (
                    r#"local c = cjson.new() return c.encode_keep_buffer()"#,
                    r#"OK true"#,
                ),
                (
                    r#"local c = cjson.new() return c.encode_keep_buffer(false)"#,
                    r#"OK false"#,
                ),
                (
                    r#"local c = cjson.new() return c.encode_keep_buffer('off')"#,
                    r#"OK false"#,
                ),
                (
                    r#"local c = cjson.new() return c.encode_keep_buffer('on\0x')"#,
                    r#"OK true"#,
                ),
                (
                    r#"local c = cjson.new() return c.encode_keep_buffer('o\0n')"#,
                    r#"ERR user_script:1: bad argument #1 to 'encode_keep_buffer' (invalid option 'o')"#,
                ),
                (
                    r#"local c = cjson.new() return c.encode_invalid_numbers()"#,
                    r#"OK false"#,
                ),
                (
                    r#"local c = cjson.new() return c.encode_invalid_numbers('null')"#,
                    r#"OK null"#,
                ),
                (
                    r#"local c = cjson.new() return c.encode_invalid_numbers(true)"#,
                    r#"OK true"#,
                ),
                (
                    r#"local c = cjson.new() return c.decode_invalid_numbers()"#,
                    r#"OK true"#,
                ),
                (
                    r#"local c = cjson.new() return c.decode_invalid_numbers(false)"#,
                    r#"OK false"#,
                ),
                (
                    r#"local c = cjson.new() return c.decode_invalid_numbers('null')"#,
                    r#"ERR user_script:1: bad argument #1 to 'decode_invalid_numbers' (invalid option 'null')"#,
                ),
                (
                    r#"return cjson._NAME .. ' ' .. cjson._VERSION"#,
                    r#"OK cjson 2.1.0"#,
                ),
                (
                    r#"return tostring(cjson.null == nil) .. type(cjson.null)"#,
                    r#"OK falseuserdata"#,
                ),
                (
                    r#"local c = cjson.new() return tostring(c.null == cjson.null) .. tostring(c ~= cjson) .. c._VERSION"#,
                    r#"OK truetrue2.1.0"#,
                ),
                (
                    r#"local c = cjson.new() c.encode_max_depth(3) return cjson.encode_max_depth() .. ' ' .. c.encode_max_depth() .. ' ' .. cjson.new().encode_max_depth()"#,
                    r#"OK 1000 3 1000"#,
                ),
                (
                    r#"local c = cjson.new().new() return type(c.encode)"#,
                    r#"OK function"#,
                ),
            ],
        );
    }

    #[test]
    fn each_state_and_each_new_table_has_its_own_settings() {
        let (a, b) = (lua(), lua());
        eval_str(
            &a,
            "cjson.encode_max_depth(7) cjson.encode_invalid_numbers('null')",
        );
        assert_eq!(
            eval_str(
                &a,
                "return cjson.encode_max_depth() .. tostring(cjson.encode({0/0}))"
            ),
            "7[null]"
        );
        assert_eq!(
            eval_str(
                &b,
                "return cjson.encode_max_depth() .. tostring(cjson.encode_invalid_numbers())"
            ),
            "1000false"
        );
        assert_eq!(
            eval_str(&a, "return cjson.new().encode_max_depth()"),
            "1000"
        );
        // The functions share their table's settings however they are reached.
        assert_eq!(eval_str(&a, "local enc = cjson.encode local c = cjson.new() c.encode_max_depth(1) return enc({{}})"), "[{}]");
    }

    #[test]
    fn module_fields_and_many_arguments_as_redis() {
        // Expected texts from Redis 7.0.15 running the same code.
        check_cases(
            &lua(),
            &[
                (
                    r#"local t = {} for i=1,7990 do t[i] = 'x'..i end return cjson.encode(unpack(t))"#,
                    r#"ERR user_script:1: bad argument #1 to 'encode' (expected 1 argument)"#,
                ),
                (
                    r#"local o = {} for k in pairs(cjson) do o[#o+1] = k end return table.concat(o, ' ')"#,
                    r#"OK _NAME encode decode_max_depth _VERSION decode_invalid_numbers encode_keep_buffer null encode_number_precision new encode_max_depth encode_invalid_numbers decode encode_sparse_array"#,
                ),
                (
                    r#"local o = {} for k in pairs(cjson.new()) do o[#o+1] = k end return table.concat(o, ' ')"#,
                    r#"OK _NAME encode decode_max_depth _VERSION decode_invalid_numbers encode_keep_buffer null encode_number_precision new encode_max_depth encode_invalid_numbers decode encode_sparse_array"#,
                ),
            ],
        );
    }
}
