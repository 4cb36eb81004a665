//! The Lua libraries Redis gives every script: `bit`, `struct`, `cjson` and `cmsgpack`, written
//! in Rust against mlua with the behaviour of the C modules Redis 7.0 embeds.
//!
//! Scripts written for Redis compare results and error texts, so each library reproduces the C
//! module it replaces: the same conversions of arguments, the same number formatting and the same
//! messages, positions included. Two pieces of plumbing make that possible:
//!
//! - Every library function is a small C closure (`trampoline`) around the Rust code. The Rust
//!   code reports a failure as a message, and the closure raises it with `lua_error` as a plain
//!   Lua string, as `luaL_error` does in C: `pcall(cjson.decode, "x")` returns the text itself,
//!   not an mlua error object. Because the closure is a C function, the stack a message refers to
//!   is the one the C library saw: `luaL_where(L, 1)` is the script line calling the library, and
//!   `bad argument #1 to 'pack'` is named from the calling instruction. Errors of mlua itself
//!   (out of memory) still pass through as mlua errors.
//! - The C modules keep their work on the Lua stack and fail where `lua_checkstack` fails (8000
//!   slots). The Rust code keeps no mlua reference per nesting level, per argument or per result
//!   (mlua's reference slots are themselves bounded by that limit): deep structures are walked
//!   with an explicit stack whose Lua values wait in a Lua table (`Spill`), many arguments arrive
//!   in one table, results come back in one table that the closure spreads (`Ret::Spread`), and a
//!   count of the slots the C code would have used yields its "stack overflow" and nesting errors
//!   at the same depths. Nothing recurses on the Rust stack except `cmsgpack.pack`, at most 16
//!   levels deep.

mod bit;
mod cjson;
mod cmsgpack;
mod lua_struct;

use std::ffi::c_int;

use mlua::{ffi, Function, Lua, MultiValue, Table, Value};

/// Installs `bit`, `struct`, `cjson` and `cmsgpack` as globals of `lua`.
pub fn register_all(lua: &Lua) -> mlua::Result<()> {
    let globals = lua.globals();
    // The order is Redis's (`luaLoadLibraries`).
    globals.raw_set("cjson", cjson::open(lua)?)?;
    globals.raw_set("struct", lua_struct::open(lua)?)?;
    globals.raw_set("cmsgpack", cmsgpack::open(lua)?)?;
    globals.raw_set("bit", bit::open(lua)?)?;
    Ok(())
}

/// `LUAI_MAXCSTACK` of Lua 5.1: the most slots one C function may use on the Lua stack.
pub(crate) const MAX_C_STACK: i64 = 8000;

/// Why a library function did not return normally.
pub(crate) enum Fail {
    /// Raise this complete message as a Lua string error, as `lua_error` does in the C code.
    Raise(Vec<u8>),
    /// An error of mlua itself (memory, a broken state), passed on unchanged.
    Lua(mlua::Error),
}

impl From<mlua::Error> for Fail {
    fn from(e: mlua::Error) -> Self {
        Fail::Lua(e)
    }
}

/// What a library function returns.
pub(crate) enum Ret {
    Values(Vec<Value>),
    /// Entries `1..=n` of the table, returned as `n` separate results. For functions that can
    /// return thousands of values (`cmsgpack.unpack`, `struct.unpack`).
    Spread(Table, usize),
}

pub(crate) type LibResult = Result<Ret, Fail>;

/// One result.
pub(crate) fn ret1(v: impl Into<Value>) -> LibResult {
    Ok(Ret::Values(vec![v.into()]))
}

/// The status values the Rust side of a function hands to [`trampoline`] first.
const STATUS_VALUES: f64 = 1.0;
const STATUS_SPREAD: f64 = 2.0;
const STATUS_RAISE: f64 = 3.0;

/// Calls with more arguments than this hand them to the Rust side in one table (each argument
/// converted to an mlua value would take one of mlua's reference slots, bounded by 8000 in all).
const INLINE_ARGS: c_int = 32;

/// The first argument of a call whose arguments come in a table; its address marks it (Lua code
/// cannot make a light userdata other than NULL).
static ARGS_IN_TABLE: u8 = 0;

fn args_in_table_mark() -> *mut std::ffi::c_void {
    &ARGS_IN_TABLE as *const u8 as *mut std::ffi::c_void
}

/// The C side of every library function. Upvalue 1 is the mlua function doing the work, which
/// returns a status then either its results, a table and a count to spread, or an error message
/// to raise. Errors of mlua itself pass through `lua_call` unchanged.
unsafe extern "C-unwind" fn trampoline(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by Lua as a C closure with one upvalue (see `function`); this frame holds
    // nothing to drop, so the `lua_error`s below (and any error thrown through `lua_call`) may
    // unwind it. A C function starts with LUA_MINSTACK free slots, enough for the pushes made
    // without an explicit check.
    unsafe {
        let nargs = ffi::lua_gettop(state);
        if nargs > INLINE_ARGS {
            ffi::lua_createtable(state, nargs, 0);
            for i in 1..=nargs {
                ffi::lua_pushvalue(state, i);
                ffi::lua_rawseti(state, -2, i.into());
            }
            ffi::lua_replace(state, 1);
            ffi::lua_settop(state, 1);
            ffi::lua_pushlightuserdata(state, args_in_table_mark());
            ffi::lua_insert(state, 1);
            ffi::lua_pushnumber(state, nargs.into());
        }
        let ncall = ffi::lua_gettop(state);
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
        ffi::lua_insert(state, 1);
        ffi::lua_call(state, ncall, ffi::LUA_MULTRET);
        let status = ffi::lua_tonumber(state, 1);
        if status == STATUS_VALUES {
            ffi::lua_remove(state, 1);
            ffi::lua_gettop(state)
        } else if status == STATUS_SPREAD {
            let n = ffi::lua_tonumber(state, 3) as c_int;
            ffi::lua_settop(state, 2);
            ffi::lua_remove(state, 1);
            // The table takes the slot of the C function's first argument: the results fit
            // wherever they fit in C.
            if ffi::lua_checkstack(state, n) == 0 {
                ffi::lua_pushstring(state, c"stack overflow (too many results)".as_ptr());
                ffi::lua_error(state);
            }
            for i in 1..=n {
                ffi::lua_rawgeti(state, 1, i.into());
            }
            ffi::lua_remove(state, 1);
            n
        } else {
            debug_assert_eq!(status, STATUS_RAISE);
            ffi::lua_settop(state, 2);
            ffi::lua_error(state)
        }
    }
}

/// Makes a library function from `f`, which gets the arguments exactly as passed.
pub(crate) fn function<F>(lua: &Lua, f: F) -> mlua::Result<Function>
where
    F: Fn(&Lua, Args) -> LibResult + 'static,
{
    let inner = lua.create_function(move |lua, args: MultiValue| {
        let mut out = Vec::new();
        match f(lua, Args::from_call(args)) {
            Ok(Ret::Values(values)) => {
                out.reserve(values.len() + 1);
                out.push(Value::Number(STATUS_VALUES));
                out.extend(values);
            }
            Ok(Ret::Spread(table, n)) => {
                out.push(Value::Number(STATUS_SPREAD));
                out.push(Value::Table(table));
                out.push(Value::Number(n as f64));
            }
            Err(Fail::Raise(msg)) => {
                out.push(Value::Number(STATUS_RAISE));
                out.push(Value::String(lua.create_string(msg)?));
            }
            Err(Fail::Lua(e)) => return Err(e),
        }
        Ok(MultiValue::from(out))
    })?;
    // SAFETY: the closure pops the one argument (`inner`) and pushes one function, all inside
    // the protected call `exec_raw` makes.
    unsafe {
        lua.exec_raw::<Function>(inner, |state| {
            ffi::lua_pushcclosure(state, trampoline, 1);
        })
    }
}

/// Creates a module table like `luaL_register` does (sized for `funcs`, filled in order, so that
/// `pairs` visits the fields in the order Redis's tables give).
pub(crate) fn module_table(lua: &Lua, funcs: Vec<(&str, Function)>) -> mlua::Result<Table> {
    let table = lua.create_table_with_capacity(0, funcs.len())?;
    for (name, f) in funcs {
        table.raw_set(name, f)?;
    }
    Ok(table)
}

/// `luaL_where(L, 1)` as the C library function would compute it: `chunk:line: ` of the code
/// calling the library, or nothing if that is not Lua code. Level 0 is the mlua function, level 1
/// the trampoline (the library function as scripts see it), level 2 its caller.
fn where_prefix(lua: &Lua) -> Vec<u8> {
    lua.inspect_stack(2, |d| {
        let line = d.current_line().filter(|&l| l > 0)?;
        let src = d.source().short_src?;
        Some(format!("{src}:{line}: ").into_bytes())
    })
    .flatten()
    .unwrap_or_default()
}

/// `luaL_error`: the message prefixed with the caller's position.
pub(crate) fn error(lua: &Lua, msg: impl AsRef<[u8]>) -> Fail {
    let mut out = where_prefix(lua);
    out.extend_from_slice(msg.as_ref());
    Fail::Raise(out)
}

/// `luaL_argerror`: "bad argument #n to 'name' (extramsg)", with Lua 5.1's rules for methods.
pub(crate) fn arg_error(lua: &Lua, narg: i64, extramsg: impl AsRef<[u8]>) -> Fail {
    let extramsg = extramsg.as_ref();
    let names = lua.inspect_stack(1, |d| {
        let n = d.names();
        (n.name.map(|s| s.into_owned()), n.name_what)
    });
    let Some((name, name_what)) = names else {
        let mut msg = format!("bad argument #{narg} (").into_bytes();
        msg.extend_from_slice(extramsg);
        msg.push(b')');
        return error(lua, msg);
    };
    let mut narg = narg;
    if name_what == Some("method") {
        narg -= 1;
        if narg == 0 {
            let mut msg = format!("calling '{}' on bad self (", name.unwrap_or_default());
            msg.push_str(&String::from_utf8_lossy(extramsg));
            msg.push(')');
            return error(lua, msg);
        }
    }
    let name = name.unwrap_or_else(|| "?".to_string());
    let mut msg = format!("bad argument #{narg} to '{name}' (").into_bytes();
    msg.extend_from_slice(extramsg);
    msg.push(b')');
    error(lua, msg)
}

/// `luaL_argcheck`.
pub(crate) fn arg_check(lua: &Lua, cond: bool, narg: i64, extramsg: &str) -> Result<(), Fail> {
    if cond {
        Ok(())
    } else {
        Err(arg_error(lua, narg, extramsg))
    }
}

/// `luaL_checkstack`: fails as the C code would with `top` slots in use.
pub(crate) fn check_stack(lua: &Lua, top: i64, space: i64, what: &str) -> Result<(), Fail> {
    if top + space > MAX_C_STACK {
        Err(error(lua, format!("stack overflow ({what})")))
    } else {
        Ok(())
    }
}

/// The name `lua_typename` gives the type of `v`.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Boolean(_) => "boolean",
        Value::Integer(_) | Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Table(_) => "table",
        Value::Function(_) => "function",
        Value::Thread(_) => "thread",
        _ => "userdata",
    }
}

/// The number a Lua number is, if `v` is one.
pub(crate) fn as_number(v: &Value) -> Option<f64> {
    match *v {
        Value::Integer(i) => Some(i as f64),
        Value::Number(n) => Some(n),
        _ => None,
    }
}

/// `lua_tonumber`'s conversion: numbers, and strings Lua reads as numbers.
pub(crate) fn to_number(lua: &Lua, v: &Value) -> Result<Option<f64>, Fail> {
    Ok(match v {
        Value::String(_) => lua.coerce_number(v.clone())?,
        v => as_number(v),
    })
}

/// C's conversion of a double to a 64-bit integer as x86-64 performs it: truncation, and the
/// "integer indefinite" value `i64::MIN` for NaN and out-of-range values.
pub(crate) fn c_double_to_i64(n: f64) -> i64 {
    if n.is_nan() || !(-9223372036854775808.0..9223372036854775808.0).contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

/// C's conversion of a double to `int` as x86-64 performs it (see [`c_double_to_i64`]).
pub(crate) fn c_double_to_i32(n: f64) -> i32 {
    if n > -2147483649.0 && n < 2147483648.0 {
        n as i32
    } else {
        i32::MIN
    }
}

/// C's conversion of a double to an unsigned 64-bit integer as GCC compiles it on x86-64:
/// values below 2^63 (and NaN) go through the signed conversion, larger ones are offset by 2^63
/// first, so 2^64 and above come out as 0.
pub(crate) fn c_double_to_u64(n: f64) -> u64 {
    const TWO63: f64 = 9223372036854775808.0;
    if n >= TWO63 {
        (c_double_to_i64(n - TWO63) as u64) ^ (1 << 63)
    } else {
        c_double_to_i64(n) as u64
    }
}

/// The arguments of a call, indexed from 1 as in the C API.
pub(crate) struct Args {
    inline: Vec<Value>,
    /// Many arguments come in a table (see [`INLINE_ARGS`]), with their count.
    table: Option<(Table, usize)>,
}

impl Args {
    fn from_call(args: MultiValue) -> Args {
        let mut inline = args.into_vec();
        if let [Value::LightUserData(mark), Value::Table(_), n] = inline.as_slice() {
            if mark.0 == args_in_table_mark() {
                let n = as_number(n).expect("argument count") as usize;
                let Some(Value::Table(t)) = inline.drain(..).nth(1) else {
                    unreachable!()
                };
                return Args {
                    inline,
                    table: Some((t, n)),
                };
            }
        }
        Args {
            inline,
            table: None,
        }
    }

    /// `lua_gettop`.
    pub(crate) fn top(&self) -> usize {
        match &self.table {
            Some((_, n)) => *n,
            None => self.inline.len(),
        }
    }

    /// Argument `n`, or `None` past the last one ("none" in the C API).
    pub(crate) fn get(&self, n: usize) -> Option<Value> {
        if n == 0 || n > self.top() {
            return None;
        }
        match &self.table {
            // A table read cannot fail for an index within the array part it was built with.
            Some((t, _)) => Some(t.raw_get(n).unwrap_or(Value::Nil)),
            None => Some(self.inline[n - 1].clone()),
        }
    }

    pub(crate) fn is_none_or_nil(&self, n: usize) -> bool {
        matches!(self.get(n), None | Some(Value::Nil))
    }

    /// The arguments followed by a nil (`struct.pack` pushes one above its arguments, so the
    /// first missing argument is reported as nil).
    pub(crate) fn with_nil_mark(&self) -> Args {
        match &self.table {
            Some((t, n)) => Args {
                inline: Vec::new(),
                table: Some((t.clone(), n + 1)),
            },
            None => {
                let mut inline = self.inline.clone();
                inline.push(Value::Nil);
                Args {
                    inline,
                    table: None,
                }
            }
        }
    }

    /// `luaL_typename`.
    pub(crate) fn type_name(&self, n: usize) -> &'static str {
        self.get(n).as_ref().map_or("no value", type_name)
    }

    /// `luaL_typerror`.
    pub(crate) fn type_error(&self, lua: &Lua, n: usize, expected: &str) -> Fail {
        let msg = format!("{expected} expected, got {}", self.type_name(n));
        arg_error(lua, n as i64, msg)
    }

    /// `luaL_checknumber`.
    pub(crate) fn check_number(&self, lua: &Lua, n: usize) -> Result<f64, Fail> {
        let v = self
            .get(n)
            .map(|v| to_number(lua, &v))
            .transpose()?
            .flatten();
        v.ok_or_else(|| self.type_error(lua, n, "number"))
    }

    /// `luaL_checkinteger`: the number truncated to a `lua_Integer` (64 bits).
    pub(crate) fn check_integer(&self, lua: &Lua, n: usize) -> Result<i64, Fail> {
        self.check_number(lua, n).map(c_double_to_i64)
    }

    /// `luaL_optinteger`.
    pub(crate) fn opt_integer(&self, lua: &Lua, n: usize, default: i64) -> Result<i64, Fail> {
        if self.is_none_or_nil(n) {
            Ok(default)
        } else {
            self.check_integer(lua, n)
        }
    }

    /// `luaL_checklstring`: strings, and numbers converted as Lua converts them.
    pub(crate) fn check_string(&self, lua: &Lua, n: usize) -> Result<mlua::LuaString, Fail> {
        match self.get(n) {
            Some(Value::String(s)) => Ok(s),
            Some(v @ (Value::Integer(_) | Value::Number(_))) => match lua.coerce_string(v)? {
                Some(s) => Ok(s),
                None => Err(self.type_error(lua, n, "string")),
            },
            _ => Err(self.type_error(lua, n, "string")),
        }
    }
}

/// Lua values waiting while an explicit stack walks or builds a deep structure: kept in a Lua
/// table instead of one mlua reference each.
pub(crate) struct Spill {
    table: Option<Table>,
    len: i64,
}

impl Spill {
    pub(crate) fn new() -> Self {
        Spill {
            table: None,
            len: 0,
        }
    }

    pub(crate) fn push(&mut self, lua: &Lua, v: Value) -> mlua::Result<()> {
        let table = match &self.table {
            Some(t) => t,
            None => self.table.insert(lua.create_table()?),
        };
        self.len += 1;
        table.raw_set(self.len, v)
    }

    pub(crate) fn pop(&mut self) -> mlua::Result<Value> {
        let table = self.table.as_ref().expect("pop from an empty spill");
        let v = table.raw_get(self.len)?;
        table.raw_set(self.len, Value::Nil)?;
        self.len -= 1;
        Ok(v)
    }

    pub(crate) fn pop_table(&mut self) -> mlua::Result<Table> {
        match self.pop()? {
            Value::Table(t) => Ok(t),
            _ => unreachable!("spilled container is not a table"),
        }
    }
}

/// `lua_next` on `table` after `key`: the next pair, or `None` at the end.
pub(crate) fn table_next(
    lua: &Lua,
    table: &Table,
    key: Value,
) -> mlua::Result<Option<(Value, Value)>> {
    // SAFETY: the arguments are the table (1) and the key (2); `lua_next` pops the key and
    // pushes a pair or nothing, then the closure leaves exactly two values on the stack. It runs
    // inside the protected call `exec_raw` makes, so a key that became invalid (a finalizer
    // changed the table during the walk) is an error, as in C, not undefined behaviour.
    let (k, v): (Value, Value) = unsafe {
        lua.exec_raw((table, key), |state| {
            if ffi::lua_next(state, 1) != 0 {
                ffi::lua_remove(state, 1);
            } else {
                ffi::lua_settop(state, 0);
                ffi::lua_pushnil(state);
                ffi::lua_pushnil(state);
            }
        })?
    };
    Ok(if k.is_nil() { None } else { Some((k, v)) })
}

#[cfg(test)]
pub(crate) mod testing {
    use mlua::{Lua, Value};

    /// The bytes of the string `expr` evaluates to, as hex.
    pub(crate) fn hex(lua: &Lua, expr: &str) -> String {
        eval_str(
            lua,
            &format!(
                "local s = {expr} local h = '' for i = 1, #s do \
                 h = h .. string.format('%02x', s:byte(i)) end return h"
            ),
        )
    }

    /// A state with the four libraries, like the scripting engine makes.
    pub(crate) fn lua() -> Lua {
        let lua = Lua::new();
        super::register_all(&lua).unwrap();
        lua
    }

    /// Runs `code` as Redis runs a script (chunk `@user_script`) and returns its results.
    pub(crate) fn run(lua: &Lua, code: &str) -> mlua::Result<mlua::MultiValue> {
        lua.load(code).set_name("@user_script").eval()
    }

    /// Runs `code` and returns its one result converted with `tostring`.
    pub(crate) fn eval_str(lua: &Lua, code: &str) -> String {
        let v: Value = run(lua, code)
            .unwrap_or_else(|e| panic!("{code}: {e}"))
            .into_iter()
            .next()
            .unwrap_or(Value::Nil);
        match v {
            Value::String(s) => s.to_string_lossy(),
            other => {
                let tostring: mlua::Function = lua.globals().get("tostring").unwrap();
                tostring.call::<String>(other).unwrap()
            }
        }
    }

    /// Runs each case's code as `pcall(function() <code> end)` and compares `OK <tostring of
    /// the result>` or `ERR <message>` with the expected text (bytes outside printable ASCII,
    /// and backslashes, written `\xNN`). The expected texts are what Redis 7.0.15 answers for
    /// the same code.
    pub(crate) fn check_cases(lua: &Lua, cases: &[(&str, &str)]) {
        for (code, want) in cases {
            let wrapped = format!(
                "local ok, r = pcall(function() {code} end) \
                 return (ok and 'OK ' or 'ERR ') .. tostring(r)"
            );
            let got: mlua::LuaString = lua
                .load(&wrapped)
                .set_name("@user_script")
                .eval()
                .unwrap_or_else(|e| panic!("{code}: {e}"));
            let mut text = String::new();
            for &b in got.as_bytes().iter() {
                if (0x20..0x7f).contains(&b) && b != b'\\' {
                    text.push(b as char);
                } else {
                    text.push_str(&format!("\\x{b:02x}"));
                }
            }
            assert_eq!(&text, want, "{code}");
        }
    }

    /// The error message `code` raises, as a Lua string caught by `pcall` (so the test also
    /// proves the error is a plain string, as from the C libraries).
    pub(crate) fn error_of(lua: &Lua, code: &str) -> String {
        let wrapped = format!(
            "local ok, e = pcall(function() {code} end) \
             assert(not ok, 'no error') assert(type(e) == 'string', type(e)) return e"
        );
        eval_str(lua, &wrapped)
    }
}
