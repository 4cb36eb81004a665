//! Building a Lua state the way Redis 7 sets up its scripting engine: the allowed libraries
//! and builtins only, the `redis` table, Redis's `pcall` and `math.random`, and protection of
//! every global table. Stock Lua 5.1 has no read-only tables, so each protected table is an
//! empty proxy whose metatable reads from the real one and refuses writes; `setmetatable` and
//! `rawset` refuse the proxies; a read of a missing global is an error.

use crate::run::{self, READONLY_KEY};
use mlua::ffi::{self, lua_State};
use std::ffi::{c_int, c_void, CStr};

/// Registry keys (their addresses) of the error handler and of the scripts' environment.
pub(crate) static HANDLER_KEY: u8 = 0;
pub(crate) static ENV_KEY: u8 = 0;

/// Globals a script may see (Redis's allow lists); everything else the libraries define is
/// removed. Unlike Redis, `newproxy` is not offered: a userdata's `__gc` could run a script's
/// code (and raise) from a garbage-collection step outside any protected call.
const ALLOWED: &[&str] = &[
    "string",
    "cjson",
    "bit",
    "cmsgpack",
    "math",
    "table",
    "struct",
    "redis",
    "xpcall",
    "tostring",
    "getfenv",
    "setmetatable",
    "next",
    "assert",
    "tonumber",
    "rawequal",
    "collectgarbage",
    "getmetatable",
    "rawset",
    "pcall",
    "coroutine",
    "type",
    "_G",
    "select",
    "unpack",
    "gcinfo",
    "pairs",
    "rawget",
    "loadstring",
    "ipairs",
    "_VERSION",
    "setfenv",
    "load",
    "error",
];

/// Lua helpers built before the globals are locked: Redis's error handler (which adds the
/// script's source and line to an error) and `loadstring`/`load` that refuse precompiled
/// chunks and give what they load the scripts' environment.
const BOOTSTRAP: &str = r#"
local env = ...
local dbg, setfenv, loadstring, type, tostring, concat = debug, setfenv, loadstring, type, tostring, table.concat
local function handler(err)
  local i = dbg.getinfo(2, 'nSl')
  if i and i.what == 'C' then
    i = dbg.getinfo(3, 'nSl')
  end
  if type(err) ~= 'table' then
    err = {err = 'ERR ' .. tostring(err)}
  end
  if i then
    err['source'] = i.source
    err['line'] = i.currentline
  end
  return err
end
local function safe_loadstring(s, name)
  if type(s) == 'string' and s:byte(1) == 27 then
    return nil, 'loading precompiled chunks is not allowed'
  end
  local f, e = loadstring(s, name)
  if f then setfenv(f, env) end
  return f, e
end
local function safe_load(reader, name)
  if type(reader) ~= 'function' then
    return safe_loadstring(reader, name)
  end
  local parts = {}
  while true do
    local p = reader()
    if p == nil or p == '' then break end
    parts[#parts + 1] = p
  end
  return safe_loadstring(concat(parts), name)
end
return handler, safe_loadstring, safe_load
"#;

unsafe fn push_key(l: *mut lua_State, key: &'static u8) {
    ffi::lua_pushlightuserdata(l, key as *const u8 as *mut c_void);
}

unsafe fn set_c(l: *mut lua_State, table: c_int, name: &CStr, f: ffi::lua_CFunction) {
    ffi::lua_pushcfunction(l, f);
    ffi::lua_setfield(l, table, name.as_ptr());
}

unsafe fn set_num(l: *mut lua_State, table: c_int, name: &CStr, v: f64) {
    ffi::lua_pushnumber(l, v);
    ffi::lua_setfield(l, table, name.as_ptr());
}

/// Sets up the sandbox in `l`, whose globals hold the base, table, string, math and debug
/// libraries and Redis's four Lua libraries. `version` is what `redis.REDIS_VERSION` says.
///
/// # Safety
/// `l` is a valid Lua state; called once, from a protected call.
pub(crate) unsafe fn install(l: *mut lua_State, version: &str, version_num: u32) {
    let g = ffi::LUA_GLOBALSINDEX;
    ffi::lua_checkstack(l, 20);
    remove_unlisted_globals(l);

    // The redis table.
    ffi::lua_createtable(l, 0, 32);
    let t = ffi::lua_gettop(l);
    run::push_new_ctx_box(l);
    for (name, f) in [
        (c"call", run::redis_call as ffi::lua_CFunction),
        (c"pcall", run::redis_pcall),
    ] {
        ffi::lua_pushvalue(l, -1);
        ffi::lua_pushcclosure(l, f, 1);
        ffi::lua_setfield(l, t, name.as_ptr());
    }
    ffi::lua_pop(l, 1);
    set_c(l, t, c"log", run::log);
    set_num(l, t, c"LOG_DEBUG", 0.0);
    set_num(l, t, c"LOG_VERBOSE", 1.0);
    set_num(l, t, c"LOG_NOTICE", 2.0);
    set_num(l, t, c"LOG_WARNING", 3.0);
    set_num(l, t, c"REDIS_VERSION_NUM", version_num as f64);
    crate::reply::push_bytes(l, version.as_bytes());
    ffi::lua_setfield(l, t, c"REDIS_VERSION".as_ptr());
    set_c(l, t, c"setresp", run::setresp);
    set_c(l, t, c"sha1hex", run::sha1hex);
    set_c(l, t, c"error_reply", run::error_reply);
    set_c(l, t, c"status_reply", run::status_reply);
    set_c(l, t, c"set_repl", run::set_repl);
    set_num(l, t, c"REPL_NONE", 0.0);
    set_num(l, t, c"REPL_AOF", 1.0);
    set_num(l, t, c"REPL_SLAVE", 2.0);
    set_num(l, t, c"REPL_REPLICA", 2.0);
    set_num(l, t, c"REPL_ALL", 3.0);
    set_c(l, t, c"acl_check_cmd", run::acl_check_cmd);
    set_c(l, t, c"replicate_commands", run::replicate_commands);
    set_c(l, t, c"breakpoint", run::breakpoint);
    set_c(l, t, c"debug", run::debug_noop);
    ffi::lua_setfield(l, g, c"redis".as_ptr());

    ffi::lua_getfield_(l, g, c"math".as_ptr());
    let m = ffi::lua_gettop(l);
    set_c(l, m, c"random", run::math_random);
    set_c(l, m, c"randomseed", run::math_randomseed);
    ffi::lua_pop(l, 1);
    set_c(l, g, c"pcall", run::pcall);
    set_c(l, g, c"xpcall", run::xpcall);
    for name in [c"setmetatable", c"rawset"] {
        ffi::lua_getfield_(l, g, name.as_ptr());
        ffi::lua_pushcclosure(l, run::guarded, 1);
        ffi::lua_setfield(l, g, name.as_ptr());
    }

    // The set of read-only proxies (weak keys: a proxy nobody references may go).
    push_key(l, &READONLY_KEY);
    ffi::lua_createtable(l, 0, 16);
    ffi::lua_createtable(l, 0, 1);
    crate::reply::push_bytes(l, b"k");
    ffi::lua_setfield(l, -2, c"__mode".as_ptr());
    ffi::lua_setmetatable(l, -2);
    ffi::lua_rawset(l, ffi::LUA_REGISTRYINDEX);

    // The scripts' environment: an empty proxy of the globals.
    ffi::lua_createtable(l, 0, 0);
    let env = ffi::lua_gettop(l);

    // Bootstrap helpers, with `debug` still reachable.
    if ffi::luaL_loadbuffer(
        l,
        BOOTSTRAP.as_ptr().cast(),
        BOOTSTRAP.len(),
        c"=sandbox".as_ptr(),
    ) != 0
    {
        ffi::lua_error(l);
    }
    ffi::lua_pushvalue(l, env);
    ffi::lua_call(l, 1, 3);
    ffi::lua_setfield(l, g, c"load".as_ptr());
    ffi::lua_setfield(l, g, c"loadstring".as_ptr());
    push_key(l, &HANDLER_KEY);
    ffi::lua_insert(l, -2);
    ffi::lua_rawset(l, ffi::LUA_REGISTRYINDEX);
    ffi::lua_pushnil(l);
    ffi::lua_setfield(l, g, c"debug".as_ptr());

    // Every global table becomes a read-only proxy.
    protect_global_tables(l);

    // Reading a missing global is an error.
    ffi::lua_createtable(l, 0, 1);
    ffi::lua_pushcfunction(l, run::missing_global);
    ffi::lua_setfield(l, -2, c"__index".as_ptr());
    ffi::lua_setmetatable(l, g);

    // The environment proxy: reads the globals, refuses writes; its metatable, as
    // getmetatable shows it, is itself read-only and leads back to the proxy.
    ffi::lua_createtable(l, 0, 1);
    ffi::lua_pushvalue(l, env);
    ffi::lua_setfield(l, -2, c"__index".as_ptr());
    let view = ffi::lua_gettop(l);
    push_readonly(l, view, false);
    ffi::lua_remove(l, view);
    let view_proxy = ffi::lua_gettop(l);
    ffi::lua_createtable(l, 0, 3);
    ffi::lua_pushvalue(l, g);
    ffi::lua_setfield(l, -2, c"__index".as_ptr());
    ffi::lua_pushcfunction(l, run::readonly_write);
    ffi::lua_setfield(l, -2, c"__newindex".as_ptr());
    ffi::lua_pushvalue(l, view_proxy);
    ffi::lua_setfield(l, -2, c"__metatable".as_ptr());
    ffi::lua_setmetatable(l, env);
    ffi::lua_pop(l, 1); // view_proxy
    mark_readonly(l, env);
    ffi::lua_pushvalue(l, env);
    ffi::lua_setfield(l, g, c"_G".as_ptr());
    push_key(l, &ENV_KEY);
    ffi::lua_pushvalue(l, env);
    ffi::lua_rawset(l, ffi::LUA_REGISTRYINDEX);
    ffi::lua_settop(l, 0);
}

unsafe fn remove_unlisted_globals(l: *mut lua_State) {
    let g = ffi::LUA_GLOBALSINDEX;
    let mut remove: Vec<Vec<u8>> = Vec::new();
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, g) != 0 {
        ffi::lua_pop(l, 1);
        if ffi::lua_type(l, -1) == ffi::LUA_TSTRING {
            let mut len = 0usize;
            let p = ffi::lua_tolstring(l, -1, &mut len);
            let name = std::slice::from_raw_parts(p.cast::<u8>(), len);
            if name != b"debug" && !ALLOWED.iter().any(|a| a.as_bytes() == name) {
                remove.push(name.to_vec());
            }
        }
    }
    for name in remove {
        crate::reply::push_bytes(l, &name);
        ffi::lua_pushnil(l);
        ffi::lua_rawset(l, g);
    }
}

unsafe fn mark_readonly(l: *mut lua_State, idx: c_int) {
    push_key(l, &READONLY_KEY);
    ffi::lua_rawget_(l, ffi::LUA_REGISTRYINDEX);
    ffi::lua_pushvalue(l, idx);
    ffi::lua_pushboolean(l, 1);
    ffi::lua_rawset(l, -3);
    ffi::lua_pop(l, 1);
}

/// Pushes a read-only proxy of the table at `real`; with `recurse`, tables inside it are
/// replaced by proxies first.
pub(crate) unsafe fn push_readonly(l: *mut lua_State, real: c_int, recurse: bool) {
    if recurse {
        let mut names: Vec<Vec<u8>> = Vec::new();
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, real) != 0 {
            if ffi::lua_type(l, -1) == ffi::LUA_TTABLE && ffi::lua_type(l, -2) == ffi::LUA_TSTRING {
                let mut len = 0usize;
                let p = ffi::lua_tolstring(l, -2, &mut len);
                names.push(std::slice::from_raw_parts(p.cast::<u8>(), len).to_vec());
            }
            ffi::lua_pop(l, 1);
        }
        for name in names {
            crate::reply::push_bytes(l, &name);
            crate::reply::push_bytes(l, &name);
            ffi::lua_rawget_(l, real);
            let inner = ffi::lua_gettop(l);
            push_readonly(l, inner, false);
            ffi::lua_remove(l, inner);
            ffi::lua_rawset(l, real);
        }
    }
    ffi::lua_createtable(l, 0, 0);
    let proxy = ffi::lua_gettop(l);
    ffi::lua_createtable(l, 0, 3);
    ffi::lua_pushvalue(l, real);
    ffi::lua_setfield(l, -2, c"__index".as_ptr());
    ffi::lua_pushcfunction(l, run::readonly_write);
    ffi::lua_setfield(l, -2, c"__newindex".as_ptr());
    ffi::lua_pushboolean(l, 0);
    ffi::lua_setfield(l, -2, c"__metatable".as_ptr());
    ffi::lua_setmetatable(l, proxy);
    mark_readonly(l, proxy);
}

unsafe fn protect_global_tables(l: *mut lua_State) {
    let g = ffi::LUA_GLOBALSINDEX;
    let mut names: Vec<Vec<u8>> = Vec::new();
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, g) != 0 {
        if ffi::lua_type(l, -1) == ffi::LUA_TTABLE && ffi::lua_type(l, -2) == ffi::LUA_TSTRING {
            let mut len = 0usize;
            let p = ffi::lua_tolstring(l, -2, &mut len);
            let name = std::slice::from_raw_parts(p.cast::<u8>(), len);
            if name != b"_G" {
                names.push(name.to_vec());
            }
        }
        ffi::lua_pop(l, 1);
    }
    for name in names {
        crate::reply::push_bytes(l, &name);
        crate::reply::push_bytes(l, &name);
        ffi::lua_rawget_(l, g);
        let real = ffi::lua_gettop(l);
        push_readonly(l, real, true);
        ffi::lua_remove(l, real);
        ffi::lua_rawset(l, g);
    }
}
