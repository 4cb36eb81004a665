//! Function libraries (FUNCTION LOAD): a library's top level runs against a load-only
//! `redis` table (`register_function`, `log`, the version) and registers its functions, which
//! wait in a pending table until the server accepts the library.

use crate::interpreter::{
    error_message, load_chunk, new_registry_table, push_key, push_registry, top_string, valid_name,
};
use crate::reply;
use crate::run;
use crate::sandbox::{self, ENV_KEY};
use crate::shebang;
use mlua::ffi::{self, lua_State};
use std::ffi::c_int;

/// Registry keys (their addresses): functions registered by the library being loaded, the
/// load-only globals, and the load in progress.
pub(crate) static PENDING_KEY: u8 = 0;
static LOAD_API_KEY: u8 = 0;
static LOAD_CTX_KEY: u8 = 0;

/// How long FUNCTION LOAD may run a library's top level: Redis allows 500 ms; this counts
/// hook calls (each after `HOOK_EVERY` instructions), about that long, so that the limit does
/// not depend on the clock (the simulation harness runs the same code).
const LOAD_HOOKS_MAX: u32 = 500;

/// A function a library registered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionDef {
    pub name: String,
    pub description: Option<Vec<u8>>,
    pub flags: u32,
}

/// What FUNCTION LOAD learned from a library.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LibraryDef {
    pub name: String,
    pub functions: Vec<FunctionDef>,
}

struct LoadCtx {
    hooks: u32,
    functions: Vec<FunctionDef>,
}

/// Runs the top level of library `code` (`#!lua name=...` first) so it registers its
/// functions into the pending table.
///
/// # Safety
/// `l` is a valid interpreter state and no script runs on it now.
pub(crate) unsafe fn load(l: *mut lua_State, code: &[u8]) -> Result<LibraryDef, String> {
    let meta = shebang::parse_library(code)?;
    let name = meta.name.unwrap_or_default();
    if !valid_name(name.as_bytes()) {
        return Err("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
    }
    let body = &code[meta.len..];
    new_registry_table(l, &PENDING_KEY);
    load_chunk(l, body, c"@user_function", "Error compiling function")?;
    // The load context lives on this frame while the top level runs and is cleared before
    // returning.
    let mut load = LoadCtx {
        hooks: 0,
        functions: Vec::new(),
    };
    set_env_index(l, &LOAD_API_KEY);
    push_key(l, &LOAD_CTX_KEY);
    ffi::lua_pushlightuserdata(l, (&mut load as *mut LoadCtx).cast());
    ffi::lua_rawset(l, ffi::LUA_REGISTRYINDEX);
    ffi::lua_sethook(l, Some(load_hook), ffi::LUA_MASKCOUNT, run::HOOK_EVERY);
    let status = ffi::lua_pcall(l, 0, 0, 0);
    ffi::lua_sethook(l, None, 0, 0);
    push_key(l, &LOAD_CTX_KEY);
    ffi::lua_pushnil(l);
    ffi::lua_rawset(l, ffi::LUA_REGISTRYINDEX);
    set_env_index_globals(l);
    if status != 0 {
        let msg = error_message(l);
        ffi::lua_pop(l, 1);
        new_registry_table(l, &PENDING_KEY);
        return Err(format!(
            "Error registering functions: {}",
            String::from_utf8_lossy(&msg)
        ));
    }
    if load.functions.is_empty() {
        return Err("No functions registered".into());
    }
    Ok(LibraryDef {
        name,
        functions: load.functions,
    })
}

/// Points the scripts' environment at the table under `key` (the load API) instead of the
/// globals.
unsafe fn set_env_index(l: *mut lua_State, key: &'static u8) {
    push_registry(l, &ENV_KEY);
    ffi::lua_getmetatable(l, -1);
    push_registry(l, key);
    ffi::lua_setfield(l, -2, c"__index".as_ptr());
    ffi::lua_pop(l, 2);
}

unsafe fn set_env_index_globals(l: *mut lua_State) {
    push_registry(l, &ENV_KEY);
    ffi::lua_getmetatable(l, -1);
    ffi::lua_pushvalue(l, ffi::LUA_GLOBALSINDEX);
    ffi::lua_setfield(l, -2, c"__index".as_ptr());
    ffi::lua_pop(l, 2);
}

/// The globals a library's top level sees: `redis` with register_function, log and the
/// version only; anything else is a missing global.
pub(crate) unsafe fn install_load_api(l: *mut lua_State, version: &str, version_num: u32) {
    ffi::lua_createtable(l, 0, 8);
    let api = ffi::lua_gettop(l);
    ffi::lua_pushcfunction(l, register_function);
    ffi::lua_setfield(l, api, c"register_function".as_ptr());
    ffi::lua_pushcfunction(l, run::log);
    ffi::lua_setfield(l, api, c"log".as_ptr());
    for (name, v) in [
        (c"LOG_DEBUG", 0.0),
        (c"LOG_VERBOSE", 1.0),
        (c"LOG_NOTICE", 2.0),
        (c"LOG_WARNING", 3.0),
        (c"REDIS_VERSION_NUM", version_num as f64),
    ] {
        ffi::lua_pushnumber(l, v);
        ffi::lua_setfield(l, api, name.as_ptr());
    }
    reply::push_bytes(l, version.as_bytes());
    ffi::lua_setfield(l, api, c"REDIS_VERSION".as_ptr());
    with_missing_error(l, api);
    sandbox::push_readonly(l, api, false);
    let api_proxy = ffi::lua_gettop(l);
    ffi::lua_createtable(l, 0, 1);
    let globals = ffi::lua_gettop(l);
    ffi::lua_pushvalue(l, api_proxy);
    ffi::lua_setfield(l, globals, c"redis".as_ptr());
    with_missing_error(l, globals);
    push_key(l, &LOAD_API_KEY);
    ffi::lua_pushvalue(l, globals);
    ffi::lua_rawset(l, ffi::LUA_REGISTRYINDEX);
    ffi::lua_settop(l, api - 1);
}

unsafe fn with_missing_error(l: *mut lua_State, t: c_int) {
    ffi::lua_createtable(l, 0, 1);
    ffi::lua_pushcfunction(l, run::missing_global);
    ffi::lua_setfield(l, -2, c"__index".as_ptr());
    ffi::lua_setmetatable(l, t);
}

unsafe fn load_ctx<'a>(l: *mut lua_State) -> Option<&'a mut LoadCtx> {
    push_key(l, &LOAD_CTX_KEY);
    ffi::lua_rawget_(l, ffi::LUA_REGISTRYINDEX);
    let p = ffi::lua_touserdata(l, -1) as *mut LoadCtx;
    ffi::lua_pop(l, 1);
    p.as_mut()
}

unsafe extern "C-unwind" fn load_hook(l: *mut lua_State, _ar: *mut ffi::lua_Debug) {
    let over = load_ctx(l).is_some_and(|c| {
        c.hooks += 1;
        c.hooks > LOAD_HOOKS_MAX
    });
    if over {
        reply::push_error_table(l, b"FUNCTION LOAD timeout");
        ffi::lua_error(l);
    }
}

/// `redis.register_function(name, callback)` or `redis.register_function{function_name=...,
/// callback=..., flags={...}, description=...}` during FUNCTION LOAD.
unsafe extern "C-unwind" fn register_function(l: *mut lua_State) -> c_int {
    let raise = match register_inner(l) {
        Ok(()) => false,
        Err(msg) => {
            ffi::lua_settop(l, 0);
            reply::push_error_table(l, msg.as_bytes());
            true
        }
    };
    if raise {
        ffi::lua_error(l);
    }
    0
}

unsafe fn register_inner(l: *mut lua_State) -> Result<(), String> {
    let Some(load) = load_ctx(l) else {
        return Err("redis.register_function can only be called on FUNCTION LOAD command".into());
    };
    let argc = ffi::lua_gettop(l);
    let (name, description, flags);
    match argc {
        1 => {
            if ffi::lua_type(l, 1) != ffi::LUA_TTABLE {
                return Err("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).".into());
            }
            let mut n = None;
            let mut d = None;
            let mut fl = 0u32;
            let mut have_cb = false;
            ffi::lua_pushnil(l);
            while ffi::lua_next(l, 1) != 0 {
                if ffi::lua_type(l, -2) != ffi::LUA_TSTRING {
                    return Err(
                        "named argument key given to redis.register_function is not a string"
                            .into(),
                    );
                }
                let key = top_string(l, -2).unwrap_or_default();
                match &key[..] {
                    b"function_name" => {
                        if ffi::lua_type(l, -1) != ffi::LUA_TSTRING {
                            return Err("function_name argument given to redis.register_function must be a string".into());
                        }
                        n = top_string(l, -1);
                    }
                    b"description" => {
                        if ffi::lua_type(l, -1) != ffi::LUA_TSTRING {
                            return Err("description argument given to redis.register_function must be a string".into());
                        }
                        d = top_string(l, -1);
                    }
                    b"callback" => {
                        if ffi::lua_type(l, -1) != ffi::LUA_TFUNCTION {
                            return Err("callback argument given to redis.register_function must be a function".into());
                        }
                        have_cb = true;
                    }
                    b"flags" => {
                        if ffi::lua_type(l, -1) != ffi::LUA_TTABLE {
                            return Err("flags argument to redis.register_function must be a table representing function flags".into());
                        }
                        fl = read_flags(l)?;
                    }
                    _ => return Err("unknown argument given to redis.register_function".into()),
                }
                ffi::lua_pop(l, 1);
            }
            let Some(found) = n else {
                return Err("redis.register_function must get a function name argument".into());
            };
            if !have_cb {
                return Err("redis.register_function must get a callback argument".into());
            }
            ffi::lua_getfield_(l, 1, c"callback".as_ptr());
            ffi::lua_replace(l, 1);
            name = found;
            description = d;
            flags = fl;
        }
        2 => {
            if ffi::lua_type(l, 1) != ffi::LUA_TSTRING {
                return Err("first argument to redis.register_function must be a string".into());
            }
            if ffi::lua_type(l, 2) != ffi::LUA_TFUNCTION {
                return Err("second argument to redis.register_function must be a function".into());
            }
            name = top_string(l, 1).unwrap_or_default();
            ffi::lua_replace(l, 1);
            description = None;
            flags = 0;
        }
        _ => return Err("wrong number of arguments to redis.register_function".into()),
    }
    // Stack: callback at 1.
    if !valid_name(&name) {
        // Redis 7.0 words this error as for library names.
        return Err("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
    }
    let name = String::from_utf8_lossy(&name).into_owned();
    if load.functions.iter().any(|f| f.name == name) {
        return Err("Function already exists in the library".into());
    }
    push_registry(l, &PENDING_KEY);
    reply::push_bytes(l, name.as_bytes());
    ffi::lua_pushvalue(l, 1);
    ffi::lua_rawset(l, -3);
    ffi::lua_pop(l, 1);
    load.functions.push(FunctionDef {
        name,
        description,
        flags,
    });
    Ok(())
}

/// Flags table on top of the stack.
unsafe fn read_flags(l: *mut lua_State) -> Result<u32, String> {
    let t = ffi::lua_gettop(l);
    let mut flags = 0;
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, t) != 0 {
        let f = if ffi::lua_type(l, -1) == ffi::LUA_TSTRING {
            top_string(l, -1)
        } else {
            None
        };
        let Some(bit) = f.and_then(|f| {
            shebang::FLAG_NAMES
                .iter()
                .find(|(n, _)| n.as_bytes() == &f[..])
                .map(|(_, b)| *b)
        }) else {
            return Err("unknown flag given".into());
        };
        flags |= bit;
        ffi::lua_pop(l, 1);
    }
    Ok(flags)
}
